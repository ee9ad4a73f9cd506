import Foundation
import JSON
import KubeCore

/// The `resource.k8s.io/v1` kinds of Dynamic Resource Allocation (Kubernetes 1.34+): what the lab
/// serves of them, with kube-apiserver's defaulting, validation (`pkg/apis/resource/validation`),
/// field selectors and `kubectl get` columns, kept to what DRA drivers, the scheduler's writes and
/// kubectl use.
///
/// Not done: CEL selectors are only checked for presence and length (kube-apiserver compiles
/// them and estimates their cost); there is no scheduler and no resourceclaim controller, so
/// claims are allocated and reserved by whoever writes their status.
enum ResourceAPI {
    static let group = "resource.k8s.io"

    static let resourceSlices = ResourceDef(
        group: group, version: "v1", plural: "resourceslices", singular: "resourceslice", kind: "ResourceSlice",
        listKind: "ResourceSliceList", namespaced: false, hasStatus: false, storageKey: "resource.k8s.io/resourceslices")
    static let deviceClasses = ResourceDef(
        group: group, version: "v1", plural: "deviceclasses", singular: "deviceclass", kind: "DeviceClass",
        listKind: "DeviceClassList", namespaced: false, hasStatus: false, storageKey: "resource.k8s.io/deviceclasses")
    static let resourceClaims = ResourceDef(
        group: group, version: "v1", plural: "resourceclaims", singular: "resourceclaim", kind: "ResourceClaim",
        listKind: "ResourceClaimList", namespaced: true, hasStatus: true, storageKey: "resource.k8s.io/resourceclaims")
    static let resourceClaimTemplates = ResourceDef(
        group: group, version: "v1", plural: "resourceclaimtemplates", singular: "resourceclaimtemplate",
        kind: "ResourceClaimTemplate", listKind: "ResourceClaimTemplateList", namespaced: true, hasStatus: false,
        storageKey: "resource.k8s.io/resourceclaimtemplates")

    /// In the order discovery lists them (kube-apiserver sorts a group's resources by name).
    static let all: [ResourceDef] = [deviceClasses, resourceClaims, resourceClaimTemplates, resourceSlices]

    // Limits of resource.k8s.io/v1 (k8s.io/api/resource/v1 constants).
    static let maxDevicesPerSlice = 128
    static let maxAttributesAndCapacities = 32
    static let maxAttributeValueLength = 64
    static let maxIDLength = 32
    static let maxDomainLength = 63
    static let maxPoolNameLength = 253
    static let maxRequests = 32
    static let maxSelectors = 32
    static let maxConfigs = 32
    static let maxConstraints = 32
    static let maxFirstAvailable = 8
    static let maxResults = 32
    static let maxReservedFor = 256
    static let maxCELLength = 10 * 1024
    static let maxOpaqueParametersLength = 10 * 1024

    /// Whether metadata.generation is kept for the kind (the strategies of slices and classes set it).
    static func usesGeneration(_ def: ResourceDef) -> Bool {
        def.group == group && (def.plural == "resourceslices" || def.plural == "deviceclasses")
    }

    /// The fields a ResourceSlice field selector may name (its conversion function's list: no
    /// metadata.namespace), or nil for the other kinds.
    static func selectableFields(_ def: ResourceDef) -> Set<String>? {
        def.group == group && def.plural == "resourceslices" ? ["metadata.name", "spec.nodeName", "spec.driver"] : nil
    }

    /// kube-apiserver's 400 message for a field label a ResourceSlice selector does not support.
    static func unsupportedFieldLabel(_ label: String, def: ResourceDef) -> String? {
        guard selectableFields(def) != nil else { return nil }
        return "field label not supported for \(def.apiVersion), Kind=\(def.kind): \(label)"
    }

    // MARK: - Admission

    /// Defaulting and validation of one new object state (`old`: the stored one on update).
    static func admit(_ obj: inout JSONValue, def: ResourceDef, old: JSONValue?) -> [APICause] {
        var v = Validator()
        switch def.plural {
        case "resourceslices":
            v.slice(obj, old: old)
        case "deviceclasses":
            v.deviceClass(obj)
        case "resourceclaims":
            defaultClaimSpec(&obj, at: ["spec"])
            if let old {
                v.immutable(obj["spec"], old["spec"], field: "spec")
                v.claimStatus(obj, old: old)
            } else {
                v.claimSpec(obj["spec"], at: "spec")
            }
        case "resourceclaimtemplates":
            defaultClaimSpec(&obj, at: ["spec", "spec"])
            if let old {
                v.immutable(obj["spec"], old["spec"], field: "spec")
            } else {
                v.claimSpec(obj[path: ["spec", "spec"]], at: "spec.spec")
            }
        default:
            break
        }
        return v.causes
    }

    /// The defaults the v1 conversion gives a claim spec: `allocationMode: ExactCount` and `count: 1`.
    static func defaultClaimSpec(_ obj: inout JSONValue, at path: [String]) {
        guard case .array(var requests)? = obj[path: path + ["devices", "requests"]] else { return }
        func defaults(_ r: inout JSONValue) {
            guard case .object = r else { return }
            if r["allocationMode"] == nil || r["allocationMode"]?.stringValue == "" { r["allocationMode"] = "ExactCount" }
            if r["allocationMode"]?.stringValue == "ExactCount", r["count"] == nil { r["count"] = .int(1) }
        }
        for i in requests.indices {
            if requests[i]["exactly"]?.objectValue != nil {
                var exactly = requests[i]["exactly"] ?? .null
                defaults(&exactly)
                requests[i]["exactly"] = exactly
            }
            if case .array(var subs)? = requests[i]["firstAvailable"] {
                for j in subs.indices { defaults(&subs[j]) }
                requests[i]["firstAvailable"] = .array(subs)
            }
        }
        obj[path: path + ["devices", "requests"]] = .array(requests)
    }

    // MARK: - Tables

    static func columns(_ def: ResourceDef, age: Tables.Column) -> [Tables.Column]? {
        guard def.group == group else { return nil }
        typealias Column = Tables.Column
        let name = Column(name: "Name", type: "string", format: "name", description: Tables.nameDescription, priority: 0) {
            $0[path: ["metadata", "name"]] ?? .null
        }
        switch def.plural {
        case "resourceslices":
            return [
                name,
                Column(name: "Node", type: "string", format: "", description: "NodeName identifies the node which provides the resources in this pool.", priority: 0) {
                    $0[path: ["spec", "nodeName"]] ?? ""
                },
                Column(name: "Driver", type: "string", format: "", description: "Driver identifies the DRA driver providing the capacity information.", priority: 0) {
                    $0[path: ["spec", "driver"]] ?? ""
                },
                Column(name: "Pool", type: "string", format: "", description: "Name is used to identify the pool.", priority: 0) {
                    $0[path: ["spec", "pool", "name"]] ?? ""
                },
                age,
            ]
        case "resourceclaims":
            return [
                name,
                Column(name: "State", type: "string", format: "", description: "A summary of the current state (allocated, pending, reserved, etc.).", priority: 0) {
                    .string(claimState($0))
                },
                age,
            ]
        default:
            return [name, age]
        }
    }

    /// `kubectl get resourceclaims` STATE: deleted, pending, allocated, reserved (comma-joined).
    static func claimState(_ claim: JSONValue) -> String {
        var states: [String] = []
        let deleting = claim[path: ["metadata", "deletionTimestamp"]] != nil
        if deleting { states.append("deleted") }
        if claim[path: ["status", "allocation"]].map({ $0.isNull }) ?? true {
            if !deleting { states.append("pending") }
        } else {
            states.append("allocated")
            if !(claim[path: ["status", "reservedFor"]]?.arrayValue ?? []).isEmpty { states.append("reserved") }
        }
        return states.joined(separator: ",")
    }
}

/// Collects Go-style field errors (`field.Required`, `field.Invalid`, ...) as API causes.
private struct Validator {
    var causes: [APICause] = []

    static func quoted(_ value: JSONValue?) -> String {
        switch value {
        case .string(let s)?: return "\"\(s)\""
        case .int(let i)?: return String(i)
        case .bool(let b)?: return b ? "true" : "false"
        case .double(let d)?: return String(d)
        case nil, .null?: return "\"\""
        default: return SchemaValidation.describe(value ?? .null)
        }
    }

    mutating func required(_ field: String, _ detail: String = "") {
        causes.append(APICause(reason: "FieldValueRequired", message: detail.isEmpty ? "Required value" : "Required value: \(detail)", field: field))
    }
    mutating func invalid(_ field: String, _ value: JSONValue?, _ detail: String) {
        causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \(Self.quoted(value)): \(detail)", field: field))
    }
    mutating func invalidText(_ field: String, _ valueText: String, _ detail: String) {
        causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \(valueText): \(detail)", field: field))
    }
    mutating func tooLong(_ field: String, _ max: Int) {
        causes.append(APICause(reason: "FieldValueTooLong", message: "Too long: may not be more than \(max) bytes", field: field))
    }
    mutating func tooMany(_ field: String, _ count: Int, _ max: Int) {
        causes.append(APICause(reason: "FieldValueTooMany", message: "Too many: \(count): must have at most \(max) items", field: field))
    }
    mutating func duplicate(_ field: String, _ value: String) {
        causes.append(APICause(reason: "FieldValueDuplicate", message: "Duplicate value: \"\(value)\"", field: field))
    }
    mutating func forbidden(_ field: String, _ detail: String) {
        causes.append(APICause(reason: "FieldValueForbidden", message: "Forbidden: \(detail)", field: field))
    }
    mutating func notSupported(_ field: String, _ value: JSONValue?, _ supported: [String]) {
        causes.append(APICause(reason: "FieldValueNotSupported",
                               message: "Unsupported value: \(Self.quoted(value)): supported values: \(supported.map { "\"\($0)\"" }.joined(separator: ", "))",
                               field: field))
    }
    mutating func wrongType(_ field: String, _ value: JSONValue, _ expected: String) {
        causes.append(APICause(reason: "FieldValueTypeInvalid", message: "Invalid value: \(SchemaValidation.describe(value)): must be \(expected)", field: field))
    }

    mutating func immutable(_ new: JSONValue?, _ old: JSONValue?, field: String) {
        let n = new ?? .null, o = old ?? .null
        if n != o { invalidText(field, new.map { SchemaValidation.describe($0) } ?? "null", "field is immutable") }
    }

    /// A string field, or nil (with a type error when present but not a string).
    mutating func string(_ value: JSONValue?, _ field: String) -> String? {
        guard let value, !value.isNull else { return nil }
        guard case .string(let s) = value else { wrongType(field, value, "a string"); return nil }
        return s
    }

    /// An array field ([] when absent; a type error when not an array).
    mutating func array(_ value: JSONValue?, _ field: String) -> [JSONValue] {
        guard let value, !value.isNull else { return [] }
        guard case .array(let a) = value else { wrongType(field, value, "an array"); return [] }
        return a
    }

    // MARK: Names

    /// `ValidateCSIDriverName`: required, at most 63 characters, a lowercase DNS subdomain.
    mutating func driverName(_ value: String?, _ field: String) {
        guard let name = value, !name.isEmpty else { required(field); return }
        if name.utf8.count > 63 { tooLong(field, 63) }
        if let e = DNSNames.subdomainError(name.lowercased()) { invalid(field, .string(name), e) }
    }

    mutating func dnsLabel(_ value: String?, _ field: String) {
        guard let name = value, !name.isEmpty else { required(field); return }
        if let e = DNSNames.labelError(name) { invalid(field, .string(name), e) }
    }

    mutating func dnsSubdomain(_ value: String?, _ field: String) {
        guard let name = value, !name.isEmpty else { required(field); return }
        if let e = DNSNames.subdomainError(name) { invalid(field, .string(name), e) }
    }

    mutating func poolName(_ value: String?, _ field: String) {
        guard let name = value, !name.isEmpty else { required(field); return }
        if name.utf8.count > ResourceAPI.maxPoolNameLength { tooLong(field, ResourceAPI.maxPoolNameLength) }
        for part in name.split(separator: "/", omittingEmptySubsequences: false) {
            if let e = DNSNames.subdomainError(String(part)) { invalid(field, .string(String(part)), e) }
        }
    }

    static let cIdentifierMessage = "a valid C identifier must start with alphabetic character or '_', followed by a string of alphanumeric characters or '_' (e.g. 'my_name',  or 'MY_NAME',  or 'MyName', regex used for validation is '[A-Za-z_][A-Za-z0-9_]*')"

    static func isCIdentifier(_ s: String) -> Bool {
        let u = Array(s.utf8)
        func alpha(_ c: UInt8) -> Bool { (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F }
        guard let f = u.first, alpha(f) else { return false }
        return u.allSatisfy { alpha($0) || ($0 >= 0x30 && $0 <= 0x39) }
    }

    mutating func cIdentifier(_ id: String, _ field: String) {
        if id.utf8.count > ResourceAPI.maxIDLength { tooLong(field, ResourceAPI.maxIDLength) }
        if !Self.isCIdentifier(id) { invalid(field, .string(id), Self.cIdentifierMessage) }
    }

    /// An attribute or capacity name: a C identifier, optionally behind `<domain>/`.
    mutating func qualifiedName(_ name: String, _ field: String) {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 1 {
            cIdentifier(parts[0], field)
            return
        }
        if parts[0].isEmpty { invalid(field, "", "the domain must not be empty") } else { driverName(parts[0], field) }
        let id = parts.dropFirst().joined(separator: "/")
        if id.isEmpty { invalid(field, "", "the name must not be empty") } else { cIdentifier(id, field) }
    }

    // MARK: ResourceSlice

    mutating func slice(_ obj: JSONValue, old: JSONValue?) {
        let spec = obj["spec"] ?? .null
        guard case .object = spec else {
            if spec.isNull { required("spec.driver"); required("spec.pool.name") } else { wrongType("spec", spec, "an object") }
            return
        }
        driverName(string(spec["driver"], "spec.driver"), "spec.driver")
        let pool = spec["pool"] ?? .null
        poolName(string(pool["name"], "spec.pool.name"), "spec.pool.name")
        let count = pool["resourceSliceCount"]?.intValue ?? 0
        if count <= 0 { invalid("spec.pool.resourceSliceCount", .int(count), "must be greater than zero") }
        if let g = pool["generation"]?.intValue, g < 0 { invalid("spec.pool.generation", .int(g), "must be greater than or equal to zero") }
        if let old {
            immutable(pool["name"], old[path: ["spec", "pool", "name"]], field: "spec.pool.name")
            immutable(spec["driver"], old[path: ["spec", "driver"]], field: "spec.driver")
            immutable(spec["nodeName"], old[path: ["spec", "nodeName"]], field: "spec.nodeName")
        }
        var set: [String] = []
        if let node = string(spec["nodeName"], "spec.nodeName") {
            if node.isEmpty {
                invalid("spec.nodeName", "", "must be either unset or set to a non-empty string")
            } else {
                set.append("`nodeName`")
                if let e = DNSNames.subdomainError(node) { invalid("spec.nodeName", .string(node), e) }
            }
        }
        if let selector = spec["nodeSelector"], !selector.isNull {
            set.append("`nodeSelector`")
            let terms = selector["nodeSelectorTerms"]?.arrayValue ?? []
            if terms.count != 1 {
                invalidText("spec.nodeSelector.nodeSelectorTerms", SchemaValidation.describe(selector["nodeSelectorTerms"] ?? .null),
                            "must have exactly one node selector term")
            }
        }
        for flag in ["allNodes", "perDeviceNodeSelection"] {
            guard let b = spec[flag], !b.isNull else { continue }
            if b.boolValue == true { set.append("`\(flag)`") } else { invalid("spec.\(flag)", b, "must be either unset or set to true") }
        }
        let choices = "exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required"
        if set.isEmpty {
            required("spec", choices)
        } else if set.count > 1 {
            invalid("spec", .string("{\(set.joined(separator: ", "))}"), choices + ", but multiple fields are set")
        }
        if spec["sharedCounters"].map({ !$0.isNull }) ?? false, spec["devices"].map({ !$0.isNull }) ?? false {
            invalid("spec", "", "only one of `sharedCounters` or `devices` is allowed")
        }
        let devices = array(spec["devices"], "spec.devices")
        if devices.count > ResourceAPI.maxDevicesPerSlice {
            tooMany("spec.devices", devices.count, ResourceAPI.maxDevicesPerSlice)
            return
        }
        let perDevice = spec["perDeviceNodeSelection"]?.boolValue == true
        var seen: Set<String> = []
        for (i, device) in devices.enumerated() {
            let at = "spec.devices[\(i)]"
            self.device(device, at: at, perDevice: perDevice)
            if let n = device["name"]?.stringValue {
                if seen.contains(n) { duplicate(at, n) } else { seen.insert(n) }
            }
        }
    }

    mutating func device(_ device: JSONValue, at: String, perDevice: Bool) {
        guard case .object = device else { wrongType(at, device, "an object"); return }
        dnsLabel(string(device["name"], at + ".name"), at + ".name")
        let attributes = device["attributes"]?.objectValue ?? [:]
        let capacity = device["capacity"]?.objectValue ?? [:]
        if attributes.count + capacity.count > ResourceAPI.maxAttributesAndCapacities {
            invalid(at, .int(Int64(attributes.count + capacity.count)),
                    "the total number of attributes and capacities must not exceed \(ResourceAPI.maxAttributesAndCapacities)")
        }
        for key in attributes.keys.sorted() {
            let field = "\(at).attributes[\(key)]"
            qualifiedName(key, field)
            attribute(attributes[key] ?? .null, field)
        }
        for key in capacity.keys.sorted() {
            let field = "\(at).capacity[\(key)]"
            qualifiedName(key, field)
            let value = capacity[key]?["value"]
            let text = value?.stringValue ?? value?.intValue.map { String($0) } ?? ""
            if text.isEmpty {
                required(field + ".value")
            } else if !BuiltinAdmission.isQuantity(text) {
                invalid(field + ".value", .string(text), "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
            }
        }
        let placement = ["nodeName", "nodeSelector", "allNodes"].filter { device[$0].map { !$0.isNull } ?? false }
        if perDevice {
            if placement.count != 1 {
                let text = "exactly one of `nodeName`, `nodeSelector`, or `allNodes` is required when `perDeviceNodeSelection` is set to true in the ResourceSlice spec"
                if placement.isEmpty { required(at, text) } else { invalid(at, .string("{\(placement.map { "`\($0)`" }.joined(separator: ", "))}"), text) }
            }
        } else if !placement.isEmpty {
            invalidText(at, "null", "`nodeName`, `nodeSelector` and `allNodes` can only be set if `perDeviceNodeSelection` is set to true in the ResourceSlice spec")
        }
    }

    /// Exactly one of int, bool, string, version; strings and versions at most 64 bytes.
    mutating func attribute(_ value: JSONValue, _ field: String) {
        guard case .object(let o) = value else { wrongType(field, value, "an object"); return }
        let kinds = ["bool", "int", "string", "version"].filter { o[$0].map { !$0.isNull } ?? false }
        if kinds.count != 1 {
            invalid(field, kinds.isEmpty ? "" : .string(kinds.joined(separator: ",")), "exactly one value must be specified")
        }
        if let b = o["bool"], !b.isNull, b.boolValue == nil { wrongType(field + ".bool", b, "a boolean") }
        if let i = o["int"], !i.isNull, i.intValue == nil { wrongType(field + ".int", i, "an integer") }
        if let s = string(o["string"], field + ".string"), s.utf8.count > ResourceAPI.maxAttributeValueLength {
            tooLong(field + ".string", ResourceAPI.maxAttributeValueLength)
        }
        if let s = string(o["version"], field + ".version") {
            if !Self.isSemver(s) { invalid(field + ".version", .string(s), "must be a string compatible with semver.org spec 2.0.0") }
            if s.utf8.count > ResourceAPI.maxAttributeValueLength { tooLong(field + ".version", ResourceAPI.maxAttributeValueLength) }
        }
    }

    static func isSemver(_ s: String) -> Bool {
        let number = "(0|[1-9][0-9]*)"
        let pre = "(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)"
        let build = "[0-9a-zA-Z-]+"
        return SchemaValidation.matches("^\(number)\\.\(number)\\.\(number)(-\(pre)(\\.\(pre))*)?(\\+\(build)(\\.\(build))*)?$", s)
    }

    // MARK: DeviceClass

    mutating func deviceClass(_ obj: JSONValue) {
        let spec = obj["spec"] ?? .null
        selectors(spec["selectors"], "spec.selectors")
        configs(spec["config"], "spec.config")
        if let name = string(spec["extendedResourceName"], "spec.extendedResourceName"), !Self.isExtendedResourceName(name) {
            invalid("spec.extendedResourceName", .string(name), "must be a valid extended resource name")
        }
    }

    static func isExtendedResourceName(_ name: String) -> Bool {
        guard !name.hasPrefix("kubernetes.io/"), !name.hasPrefix("requests."), name.contains("/") else { return false }
        return LabelSyntax.keyError(name) == nil
    }

    mutating func selectors(_ value: JSONValue?, _ field: String) {
        let list = array(value, field)
        if list.count > ResourceAPI.maxSelectors { tooMany(field, list.count, ResourceAPI.maxSelectors); return }
        for (i, selector) in list.enumerated() {
            let at = "\(field)[\(i)].cel"
            guard let cel = selector["cel"], !cel.isNull else { required(at); continue }
            guard let expression = string(cel["expression"], at + ".expression"), !expression.isEmpty else {
                required(at + ".expression", "expression is required")
                continue
            }
            if expression.utf8.count > ResourceAPI.maxCELLength { tooLong(at + ".expression", ResourceAPI.maxCELLength) }
        }
    }

    mutating func configs(_ value: JSONValue?, _ field: String, requestNames: Set<String>? = nil) {
        let list = array(value, field)
        if list.count > ResourceAPI.maxConfigs { tooMany(field, list.count, ResourceAPI.maxConfigs); return }
        for (i, config) in list.enumerated() {
            let at = "\(field)[\(i)]"
            if let names = requestNames {
                for (j, r) in array(config["requests"], at + ".requests").enumerated() {
                    requestRef(r.stringValue ?? "", "\(at).requests[\(j)]", names)
                }
            }
            guard let opaque = config["opaque"], !opaque.isNull else { required(at + ".opaque"); continue }
            driverName(string(opaque["driver"], at + ".opaque.driver"), at + ".opaque.driver")
            let parameters = opaque["parameters"] ?? .null
            if parameters.isNull {
                required(at + ".opaque.parameters")
            } else if parameters.objectValue == nil {
                invalid(at + ".opaque.parameters", "<value omitted>", "must be a valid JSON object")
            } else if parameters.serialized().count > ResourceAPI.maxOpaqueParametersLength {
                tooLong(at + ".opaque.parameters", ResourceAPI.maxOpaqueParametersLength)
            }
        }
    }

    // MARK: ResourceClaim(Template)

    static func requestNames(_ spec: JSONValue?) -> Set<String> {
        var names: Set<String> = []
        for r in spec?[path: ["devices", "requests"]]?.arrayValue ?? [] {
            guard let n = r["name"]?.stringValue else { continue }
            names.insert(n)
            for s in r["firstAvailable"]?.arrayValue ?? [] {
                if let sn = s["name"]?.stringValue { names.insert("\(n)/\(sn)") }
            }
        }
        return names
    }

    mutating func requestRef(_ name: String, _ field: String, _ names: Set<String>) {
        let segments = name.split(separator: "/", omittingEmptySubsequences: false)
        let message = "must be the name of a request in the claim or the name of a request and a subrequest separated by '/'"
        if segments.count > 2 { invalid(field, .string(name), message); return }
        for s in segments { dnsLabel(String(s), field) }
        if !names.contains(name) { invalid(field, .string(name), message) }
    }

    mutating func claimSpec(_ spec: JSONValue?, at: String) {
        let devices = spec?["devices"] ?? .null
        let field = at + ".devices"
        let requests = array(devices["requests"], field + ".requests")
        if requests.count > ResourceAPI.maxRequests {
            tooMany(field + ".requests", requests.count, ResourceAPI.maxRequests)
        } else {
            var seen: Set<String> = []
            for (i, request) in requests.enumerated() {
                let rf = "\(field).requests[\(i)]"
                dnsLabel(string(request["name"], rf + ".name"), rf + ".name")
                if let n = request["name"]?.stringValue { if seen.contains(n) { duplicate(rf, n) } else { seen.insert(n) } }
                let exactly = request["exactly"].flatMap { $0.isNull ? nil : $0 }
                let first = array(request["firstAvailable"], rf + ".firstAvailable")
                switch (exactly, first.isEmpty) {
                case (nil, true): required(rf, "exactly one of `exactly` or `firstAvailable` is required")
                case (.some, false): invalidText(rf, "null", "exactly one of `exactly` or `firstAvailable` is required, but multiple fields are set")
                case (let e?, true): exactRequest(e, rf + ".exactly")
                case (nil, false):
                    if first.count > ResourceAPI.maxFirstAvailable {
                        tooMany(rf + ".firstAvailable", first.count, ResourceAPI.maxFirstAvailable)
                        continue
                    }
                    var subSeen: Set<String> = []
                    for (j, sub) in first.enumerated() {
                        let sf = "\(rf).firstAvailable[\(j)]"
                        dnsLabel(string(sub["name"], sf + ".name"), sf + ".name")
                        if let n = sub["name"]?.stringValue { if subSeen.contains(n) { duplicate(sf, n) } else { subSeen.insert(n) } }
                        exactRequest(sub, sf)
                    }
                }
            }
        }
        let names = Self.requestNames(spec)
        let constraints = array(devices["constraints"], field + ".constraints")
        if constraints.count > ResourceAPI.maxConstraints {
            tooMany(field + ".constraints", constraints.count, ResourceAPI.maxConstraints)
        } else {
            for (i, c) in constraints.enumerated() {
                let cf = "\(field).constraints[\(i)]"
                for (j, r) in array(c["requests"], cf + ".requests").enumerated() { requestRef(r.stringValue ?? "", "\(cf).requests[\(j)]", names) }
                let attribute = string(c["matchAttribute"], cf + ".matchAttribute") ?? string(c["distinctAttribute"], cf + ".distinctAttribute")
                guard let attribute else { required(cf + ".matchAttribute"); continue }
                let af = c["matchAttribute"] != nil ? cf + ".matchAttribute" : cf + ".distinctAttribute"
                qualifiedName(attribute, af)
                if !attribute.contains("/") { invalid(af, .string(attribute), "a fully qualified name must be a domain and a name separated by a slash") }
            }
        }
        configs(devices["config"], field + ".config", requestNames: names)
    }

    /// An `exactly` request or a `firstAvailable` subrequest (after defaulting).
    mutating func exactRequest(_ r: JSONValue, _ field: String) {
        guard case .object = r else { wrongType(field, r, "an object"); return }
        dnsSubdomain(string(r["deviceClassName"], field + ".deviceClassName"), field + ".deviceClassName")
        selectors(r["selectors"], field + ".selectors")
        let mode = r["allocationMode"]?.stringValue ?? ""
        let count = r["count"]?.intValue ?? 0
        switch mode {
        case "All":
            if count != 0 { invalid(field + ".count", .int(count), "must not be specified when allocationMode is 'All'") }
        case "ExactCount":
            if count <= 0 { invalid(field + ".count", .int(count), "must be greater than zero") }
        default:
            notSupported(field + ".allocationMode", r["allocationMode"], ["All", "ExactCount"])
        }
    }

    /// Status writes: reservedFor needs an allocation, an allocation once set does not change,
    /// and every result names a request of the claim and a valid driver, pool and device.
    mutating func claimStatus(_ obj: JSONValue, old: JSONValue) {
        let status = obj["status"] ?? .null
        let oldStatus = old["status"] ?? .null
        if status == oldStatus { return }
        let reserved = array(status["reservedFor"], "status.reservedFor")
        if reserved.count > ResourceAPI.maxReservedFor {
            tooMany("status.reservedFor", reserved.count, ResourceAPI.maxReservedFor)
        } else {
            var uids: Set<String> = []
            for (i, ref) in reserved.enumerated() {
                let rf = "status.reservedFor[\(i)]"
                for f in ["resource", "name", "uid"] where (ref[f]?.stringValue ?? "").isEmpty { required("\(rf).\(f)") }
                if let uid = ref["uid"]?.stringValue, !uid.isEmpty { if uids.contains(uid) { duplicate(rf, uid) } else { uids.insert(uid) } }
            }
        }
        let allocation = status["allocation"].flatMap { $0.isNull ? nil : $0 }
        let oldAllocation = oldStatus["allocation"].flatMap { $0.isNull ? nil : $0 }
        if !reserved.isEmpty {
            if allocation == nil {
                forbidden("status.reservedFor", "may not be specified when `allocated` is not set")
            } else if old[path: ["metadata", "deletionTimestamp"]] != nil {
                let before = Set((oldStatus["reservedFor"]?.arrayValue ?? []).compactMap { $0["uid"]?.stringValue })
                if reserved.contains(where: { !before.contains($0["uid"]?.stringValue ?? "") }) {
                    forbidden("status.reservedFor", "new entries may not be added while `deallocationRequested` or `deletionTimestamp` are set")
                }
            }
        }
        if let allocation, let oldAllocation {
            immutable(allocation, oldAllocation, field: "status.allocation")
        } else if let allocation {
            let names = Self.requestNames(obj["spec"])
            let results = array(allocation[path: ["devices", "results"]], "status.allocation.devices.results")
            if results.count > ResourceAPI.maxResults {
                tooMany("status.allocation.devices.results", results.count, ResourceAPI.maxResults)
            } else {
                for (i, result) in results.enumerated() {
                    let rf = "status.allocation.devices.results[\(i)]"
                    requestRef(result["request"]?.stringValue ?? "", rf + ".request", names)
                    driverName(string(result["driver"], rf + ".driver"), rf + ".driver")
                    poolName(string(result["pool"], rf + ".pool"), rf + ".pool")
                    dnsLabel(string(result["device"], rf + ".device"), rf + ".device")
                }
            }
        }
    }
}

extension LabAPI {
    /// The built-in resources this server serves (`resource.k8s.io` only when configured to).
    var builtinResources: [ResourceDef] {
        configuration.servesResourceAPI ? BuiltinResources.all : BuiltinResources.all.filter { $0.group != ResourceAPI.group }
    }
}
