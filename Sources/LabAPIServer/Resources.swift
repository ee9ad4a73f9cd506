import Foundation
import JSON

/// One additional printer column of a resource (`kubectl get` Table output).
struct PrinterColumn: Sendable {
    var name: String
    var type: String
    var format: String
    var description: String
    var jsonPath: String
    var priority: Int
}

/// Everything the server knows about one served resource (built-in or from a CRD).
struct ResourceDef: Sendable {
    var group: String
    var version: String
    var plural: String
    var singular: String
    var kind: String
    var listKind: String
    var namespaced: Bool
    var shortNames: [String] = []
    var categories: [String] = []
    var hasStatus: Bool = true
    /// Custom resources: sorted keys on output, strict schema validation, no strategic merge patch.
    var isCustom: Bool = false
    /// The structural schema of a custom resource version.
    var schema: JSONValue? = nil
    /// The same schema, decoded for validation.
    var compiledSchema: CompiledSchema? = nil
    var printerColumns: [PrinterColumn] = []
    /// Where objects are stored; CRD versions of one resource share it.
    var storageKey: String
    /// The CRD that defines this resource.
    var crdName: String? = nil
    /// A `Warning: 299` text for deprecated versions.
    var deprecationWarning: String? = nil
    /// Custom resources: whether this is the CRD's storage version.
    var isStorageVersion: Bool = false

    var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    var qualifiedPlural: String { APIError.qualified(plural, group) }
    var keyOrder: KeyOrder { isCustom ? .sorted : .goStruct }
    /// Whether metadata.generation is maintained (custom resources and CRDs; not Node, Namespace, Lease, Event).
    var usesGeneration: Bool { isCustom || plural == "customresourcedefinitions" || ResourceAPI.usesGeneration(self) }

    static let verbs: [JSONValue] = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    static let crVerbs: [JSONValue] = ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]
}

enum BuiltinResources {
    static let namespaces = ResourceDef(group: "", version: "v1", plural: "namespaces", singular: "namespace", kind: "Namespace",
                                        listKind: "NamespaceList", namespaced: false, shortNames: ["ns"], storageKey: "/namespaces")
    static let nodes = ResourceDef(group: "", version: "v1", plural: "nodes", singular: "node", kind: "Node",
                                   listKind: "NodeList", namespaced: false, shortNames: ["no"], storageKey: "/nodes")
    static let coreEvents = ResourceDef(group: "", version: "v1", plural: "events", singular: "event", kind: "Event",
                                        listKind: "EventList", namespaced: true, shortNames: ["ev"], hasStatus: false,
                                        storageKey: "/events")
    static let events = ResourceDef(group: "events.k8s.io", version: "v1", plural: "events", singular: "event", kind: "Event",
                                    listKind: "EventList", namespaced: true, shortNames: ["ev"], hasStatus: false,
                                    storageKey: "/events")
    static let leases = ResourceDef(group: "coordination.k8s.io", version: "v1", plural: "leases", singular: "lease", kind: "Lease",
                                    listKind: "LeaseList", namespaced: true, hasStatus: false, storageKey: "coordination.k8s.io/leases")
    static let crds = ResourceDef(group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions",
                                  singular: "customresourcedefinition", kind: "CustomResourceDefinition",
                                  listKind: "CustomResourceDefinitionList", namespaced: false, shortNames: ["crd", "crds"],
                                  categories: ["api-extensions"], storageKey: "apiextensions.k8s.io/customresourcedefinitions")

    static let eventsV1beta1: ResourceDef = {
        var d = ResourceDef(group: "events.k8s.io", version: "v1beta1", plural: "events", singular: "event", kind: "Event",
                            listKind: "EventList", namespaced: true, shortNames: ["ev"], hasStatus: false, storageKey: "/events")
        d.deprecationWarning = "events.k8s.io/v1beta1 Event is deprecated in v1.22+, unavailable in v1.25+"
        return d
    }()

    static let all: [ResourceDef] = [namespaces, nodes, coreEvents, events, eventsV1beta1, leases, crds] + ResourceAPI.all

    /// Groups served by the real kube-apiserver itself: routing misses inside them answer a JSON
    /// NotFound Status instead of the mux's plain-text 404.
    static let builtinGroups: Set<String> = [
        "", "apps", "batch", "autoscaling", "policy", "rbac.authorization.k8s.io", "networking.k8s.io",
        "storage.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io", "scheduling.k8s.io",
        "coordination.k8s.io", "node.k8s.io", "discovery.k8s.io", "flowcontrol.apiserver.k8s.io",
        "events.k8s.io", "certificates.k8s.io", "authentication.k8s.io", "authorization.k8s.io",
        "apiregistration.k8s.io", "apiextensions.k8s.io", "resource.k8s.io",
    ]

    /// The built-in groups in the order /apis lists them, with their versions.
    /// (kube-apiserver's relative order: events.k8s.io, authentication.k8s.io, …, apiextensions.k8s.io, …,
    /// coordination.k8s.io, …; trace 007). authentication.k8s.io holds only SelfSubjectReview here.
    static let groupOrder: [(String, [String])] = [
        ("events.k8s.io", ["v1", "v1beta1"]), ("authentication.k8s.io", ["v1"]), ("apiextensions.k8s.io", ["v1"]),
        ("coordination.k8s.io", ["v1"]), ("resource.k8s.io", ["v1"]),
    ]

    /// The group of SelfSubjectReview, which is served (create only) but not stored.
    static let authenticationGroup = "authentication.k8s.io"

    /// The discovery entry of `selfsubjectreviews` (`kubectl api-resources` lists it; create is its only verb).
    static let selfSubjectReviewEntry: JSONValue = [
        "name": "selfsubjectreviews", "singularName": "selfsubjectreview", "namespaced": false,
        "kind": "SelfSubjectReview", "verbs": ["create"],
    ]
}

extension ResourceDef {
    /// The resources a CRD object defines (one per served version), or `nil` when it is malformed.
    static func fromCRD(_ crd: JSONValue) -> [ResourceDef] {
        guard let spec = crd["spec"], let group = spec["group"]?.stringValue,
              let names = spec["names"], let plural = names["plural"]?.stringValue,
              let kind = names["kind"]?.stringValue,
              let name = crd[path: ["metadata", "name"]]?.stringValue else { return [] }
        let singular = names["singular"]?.stringValue ?? kind.lowercased()
        let listKind = names["listKind"]?.stringValue ?? kind + "List"
        let namespaced = spec["scope"]?.stringValue != "Cluster"
        var defs: [ResourceDef] = []
        for version in spec["versions"]?.arrayValue ?? [] {
            guard let vname = version["name"]?.stringValue, version["served"]?.boolValue != false else { continue }
            var def = ResourceDef(group: group, version: vname, plural: plural, singular: singular, kind: kind,
                                  listKind: listKind, namespaced: namespaced,
                                  shortNames: names["shortNames"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                                  categories: names["categories"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                                  hasStatus: version[path: ["subresources", "status"]] != nil,
                                  isCustom: true, storageKey: "\(group)/\(plural)")
            def.schema = version[path: ["schema", "openAPIV3Schema"]]
            def.compiledSchema = def.schema.map { CompiledSchema($0) }
            def.crdName = name
            def.isStorageVersion = version["storage"]?.boolValue == true
            if version["deprecated"]?.boolValue == true {
                def.deprecationWarning = version["deprecationWarning"]?.stringValue
                    ?? "\(group)/\(vname) \(kind) is deprecated"
            }
            for column in version["additionalPrinterColumns"]?.arrayValue ?? [] {
                guard let cname = column["name"]?.stringValue, let path = column["jsonPath"]?.stringValue else { continue }
                def.printerColumns.append(PrinterColumn(
                    name: cname, type: column["type"]?.stringValue ?? "string", format: column["format"]?.stringValue ?? "",
                    description: column["description"]?.stringValue ?? "Custom resource definition column (in JSONPath format): \(path)",
                    jsonPath: path, priority: Int(column["priority"]?.intValue ?? 0)))
            }
            if def.printerColumns.isEmpty {
                def.printerColumns = [PrinterColumn(name: "Age", type: "date", format: "", description: "Custom resource definition column (in JSONPath format): .metadata.creationTimestamp", jsonPath: ".metadata.creationTimestamp", priority: 0)]
            }
            defs.append(def)
        }
        return defs
    }

    /// The entry of an APIResourceList for this resource (plus its status subresource).
    func discoveryEntries() -> [JSONValue] {
        var main: [String: JSONValue] = [
            "name": .string(plural), "singularName": .string(singular), "namespaced": .bool(namespaced),
            "kind": .string(kind), "verbs": .array(isCustom ? ResourceDef.crVerbs : ResourceDef.verbs),
            "storageVersionHash": .string(storageVersionHash),
        ]
        if !shortNames.isEmpty { main["shortNames"] = .array(shortNames.map { .string($0) }) }
        if !categories.isEmpty { main["categories"] = .array(categories.map { .string($0) }) }
        var result: [JSONValue] = [.object(main)]
        if hasStatus {
            result.append(.object(["name": .string(plural + "/status"), "singularName": "", "namespaced": .bool(namespaced),
                                   "kind": .string(kind), "verbs": ["get", "patch", "update"]]))
        }
        return result
    }

    /// A stable 8-byte hash, base64, like the real storageVersionHash.
    var storageVersionHash: String {
        var h: UInt64 = 0xcbf29ce484222325
        for b in "\(group)/\(version)/\(kind)".utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        var bytes: [UInt8] = []
        for i in 0..<8 { bytes.append(UInt8((h >> (8 * UInt64(i))) & 0xFF)) }
        return Data(bytes).base64EncodedString()
    }
}
