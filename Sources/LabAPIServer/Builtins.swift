import Foundation
import JSON
import KubeCore

/// Defaulting and validation of the built-in kinds the lab serves (what their Go types,
/// strategies and admission plugins do in kube-apiserver), kept to what Automagic and kubectl need.
enum BuiltinAdmission {
    static func admit(_ obj: inout JSONValue, def: ResourceDef, old: JSONValue?) -> [APICause] {
        var causes: [APICause] = []
        switch (def.group, def.plural) {
        case ("", "nodes"):
            if old == nil {
                var taints = obj[path: ["spec", "taints"]]?.arrayValue ?? []
                if !taints.contains(where: { $0["key"]?.stringValue == "node.kubernetes.io/not-ready" }) {
                    taints.append(["key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"])
                }
                obj[path: ["spec", "taints"]] = .array(taints)
                if obj["status"] == nil {
                    obj["status"] = ["daemonEndpoints": ["kubeletEndpoint": ["Port": 0]],
                                     "nodeInfo": ["machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "", "osImage": "",
                                                  "containerRuntimeVersion": "", "kubeletVersion": "", "kubeProxyVersion": "",
                                                  "operatingSystem": "", "architecture": ""]]
                }
            }
            if obj[path: ["status", "allocatable"]] == nil, let cap = obj[path: ["status", "capacity"]] {
                obj[path: ["status", "allocatable"]] = cap
            }
            for field in ["capacity", "allocatable"] {
                guard case .object(let q)? = obj[path: ["status", field]] else { continue }
                for (k, v) in q.sorted(by: { $0.key < $1.key }) {
                    let text: String
                    switch v {
                    case .string(let s): text = s
                    case .int(let i): text = String(i)
                    default: text = ""
                    }
                    if !isQuantity(text) {
                        causes.append(APICause(reason: "FieldValueInvalid",
                                               message: "Invalid value: \"\(text)\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                                               field: "status.\(field)[\(k)]"))
                    } else if case .int = v {
                        obj[path: ["status", field, k]] = .string(text)
                    }
                }
            }
        case ("", "namespaces"):
            if obj[path: ["spec", "finalizers"]] == nil { obj[path: ["spec", "finalizers"]] = ["kubernetes"] }
            if obj[path: ["status", "phase"]] == nil { obj[path: ["status", "phase"]] = "Active" }
            if let name = obj[path: ["metadata", "name"]]?.stringValue {
                obj[path: ["metadata", "labels", "kubernetes.io/metadata.name"]] = .string(name)
            }
        case ("coordination.k8s.io", "leases"):
            for f in ["acquireTime", "renewTime"] {
                if let t = obj[path: ["spec", f]]?.stringValue, let e = microTimeError(t) {
                    causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\(t)\": \(e)", field: "spec.\(f)"))
                }
            }
            if let d = obj[path: ["spec", "leaseDurationSeconds"]]?.intValue, d <= 0 {
                causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \(d): must be greater than 0", field: "spec.leaseDurationSeconds"))
            }
        case ("events.k8s.io", "events"):
            let eventTime = obj["eventTime"]?.stringValue
            if let t = eventTime {
                if let e = microTimeError(t) { causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\(t)\": \(e)", field: "eventTime")) }
            } else {
                causes.append(APICause(reason: "FieldValueRequired", message: "Required value", field: "eventTime"))
            }
            let type = obj["type"]?.stringValue ?? ""
            if eventTime != nil {
                // Events with an eventTime get the full validation (reporting fields required).
                let controller = obj["reportingController"]?.stringValue ?? ""
                if controller.isEmpty {
                    causes.append(APICause(reason: "FieldValueRequired", message: "Required value", field: "reportingController"))
                    causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\": name part must be non-empty", field: "reportingController"))
                    causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')", field: "reportingController"))
                } else if let e = LabelSyntax.keyError(controller) {
                    causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\(controller)\": \(e)", field: "reportingController"))
                }
                for f in ["reportingInstance", "action", "reason"] where (obj[f]?.stringValue ?? "").isEmpty {
                    causes.append(APICause(reason: "FieldValueRequired", message: "Required value", field: f))
                }
            }
            if type != "Normal" && type != "Warning" {
                causes.insert(APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\": has invalid value: \(type)", field: "type"),
                              at: eventTime == nil ? causes.count : min(1, causes.count))
            }
        case ("", "events"):
            let ns = obj[path: ["metadata", "namespace"]]?.stringValue ?? ""
            if let ins = obj[path: ["involvedObject", "namespace"]]?.stringValue, !ins.isEmpty, ins != ns {
                causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\(ins)\": does not match event.namespace", field: "involvedObject.namespace"))
            }
            if let t = obj["eventTime"]?.stringValue, let e = microTimeError(t) {
                causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\(t)\": \(e)", field: "eventTime"))
            }
        case ("resource.k8s.io", _):
            causes += ResourceAPI.admit(&obj, def: def, old: old)
        default:
            break
        }
        return causes
    }

    /// Kubernetes resource.Quantity syntax.
    static func isQuantity(_ s: String) -> Bool {
        SchemaValidation.matches("^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$", s) && !s.isEmpty
    }

    /// MicroTime must have exactly six fractional digits; the error is Go's `time.Parse` text.
    static func microTimeError(_ t: String) -> String? { GoMicroTime.parseError(t) }
}

/// core/v1 Events and events.k8s.io Events are one resource stored in the core form; the
/// events.k8s.io versions are conversions of it (as in kube-apiserver).
enum EventConversion {
    static let pairs: [(core: String, v1: String)] = [
        ("involvedObject", "regarding"), ("related", "related"), ("message", "note"), ("reason", "reason"), ("type", "type"),
        ("eventTime", "eventTime"), ("series", "series"), ("action", "action"), ("reportingComponent", "reportingController"),
        ("reportingInstance", "reportingInstance"), ("source", "deprecatedSource"), ("firstTimestamp", "deprecatedFirstTimestamp"),
        ("lastTimestamp", "deprecatedLastTimestamp"), ("count", "deprecatedCount"),
    ]

    static func isConverted(_ def: ResourceDef) -> Bool { def.group == "events.k8s.io" }

    /// The stored (core) form as seen through `def`.
    static func present(_ v: JSONValue, _ def: ResourceDef) -> JSONValue {
        guard isConverted(def), case .object(let o) = v else { return v }
        var r: [String: JSONValue] = ["apiVersion": .string(def.apiVersion), "kind": "Event"]
        r["metadata"] = o["metadata"]
        for (core, v1) in pairs {
            guard var value = o[core], !value.isNull else { continue }
            if core == "series", case .object(var series) = value {
                series["lastObservedTime"] = series["lastObservedTime"]
                value = .object(series)
            }
            if case .string(let s) = value, s.isEmpty, ["reportingComponent", "reportingInstance", "action", "reason", "type", "message"].contains(core) { continue }
            r[v1] = value
        }
        if case .object(let src)? = r["deprecatedSource"], src.isEmpty { r["deprecatedSource"] = nil }
        return .object(r)
    }

    /// An object written through `def` in the stored (core) form.
    static func storage(_ v: JSONValue, _ def: ResourceDef) -> JSONValue {
        guard isConverted(def), case .object(let o) = v else { return v }
        var r: [String: JSONValue] = ["apiVersion": "v1", "kind": "Event"]
        r["metadata"] = o["metadata"]
        for (core, v1) in pairs { if let value = o[v1] { r[core] = value } }
        return .object(r)
    }
}

/// Server-side Table rendering (`kubectl get`).
enum Tables {
    static let nameDescription = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: http://kubernetes.io/docs/user-guide/identifiers#names"

    struct Column { var name: String; var type: String; var format: String; var description: String; var priority: Int; var value: (JSONValue) -> JSONValue }

    static func columns(_ def: ResourceDef) -> [Column] {
        var cols = [Column(name: "Name", type: "string", format: "name", description: nameDescription, priority: 0) {
            $0[path: ["metadata", "name"]] ?? .null
        }]
        let age = Column(name: "Age", type: "string", format: "", description: "CreationTimestamp is a timestamp representing the server time when this object was created.", priority: 0) {
            .string(humanAge($0[path: ["metadata", "creationTimestamp"]]?.stringValue))
        }
        if def.isCustom {
            for pc in def.printerColumns {
                let path = PrinterCells.compile(pc.jsonPath)
                cols.append(Column(name: pc.name, type: pc.type, format: pc.format, description: pc.description, priority: pc.priority) { obj in
                    PrinterCells.cell(path, type: pc.type, object: obj)
                })
            }
            return cols
        }
        if let dra = ResourceAPI.columns(def, age: age) { return dra }
        switch (def.group, def.plural) {
        case ("", "namespaces"):
            cols.append(Column(name: "Status", type: "string", format: "", description: "The status of the namespace", priority: 0) { $0[path: ["status", "phase"]] ?? "" })
            cols.append(age)
        case ("", "nodes"):
            cols.append(Column(name: "Status", type: "string", format: "", description: "The status of the node", priority: 0) { obj in
                let ready = obj[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"]?.stringValue == "Ready" }
                var s = ready?["status"]?.stringValue == "True" ? "Ready" : (ready == nil ? "Unknown" : "NotReady")
                if obj[path: ["spec", "unschedulable"]]?.boolValue == true { s += ",SchedulingDisabled" }
                return .string(s)
            })
            cols.append(Column(name: "Roles", type: "string", format: "", description: "The roles of the node", priority: 0) { obj in
                let labels = obj[path: ["metadata", "labels"]]?.objectValue ?? [:]
                let roles = labels.keys.filter { $0.hasPrefix("node-role.kubernetes.io/") }.map { String($0.dropFirst("node-role.kubernetes.io/".count)) }.sorted()
                return .string(roles.isEmpty ? "<none>" : roles.joined(separator: ","))
            })
            cols.append(age)
            cols.append(Column(name: "Version", type: "string", format: "", description: "Kubelet Version reported by the node.", priority: 0) {
                $0[path: ["status", "nodeInfo", "kubeletVersion"]] ?? ""
            })
        case ("coordination.k8s.io", "leases"):
            cols.append(Column(name: "Holder", type: "string", format: "", description: "holderIdentity contains the identity of the holder of a current lease.", priority: 0) {
                $0[path: ["spec", "holderIdentity"]] ?? ""
            })
            cols.append(age)
        case ("apiextensions.k8s.io", "customresourcedefinitions"):
            cols.append(Column(name: "Created At", type: "date", format: "", description: "Custom resource definition column (in JSONPath format): .metadata.creationTimestamp", priority: 0) {
                $0[path: ["metadata", "creationTimestamp"]] ?? .null
            })
        case (_, "events"):
            cols = [
                Column(name: "Last Seen", type: "string", format: "", description: "Time when last seen", priority: 0) { obj in
                    .string(humanAge(obj["lastTimestamp"]?.stringValue ?? obj["deprecatedLastTimestamp"]?.stringValue ?? obj["eventTime"]?.stringValue))
                },
                Column(name: "Type", type: "string", format: "", description: "Type of this event", priority: 0) { $0["type"] ?? "" },
                Column(name: "Reason", type: "string", format: "", description: "Reason why this event was generated", priority: 0) { $0["reason"] ?? "" },
                Column(name: "Object", type: "string", format: "", description: "The object this Event is about", priority: 0) { obj in
                    let ref = obj["involvedObject"] ?? obj["regarding"] ?? .null
                    return .string("\((ref["kind"]?.stringValue ?? "").lowercased())/\(ref["name"]?.stringValue ?? "")")
                },
                Column(name: "Message", type: "string", format: "", description: "A human-readable description of the status of this operation.", priority: 0) {
                    $0["message"] ?? $0["note"] ?? ""
                },
            ]
        default:
            cols.append(age)
        }
        return cols
    }

    static func table(for objects: [JSONValue], def: ResourceDef, includeObject: String, listMeta: JSONValue?) -> JSONValue {
        let cols = columns(def)
        let definitions: [JSONValue] = cols.map {
            ["name": .string($0.name), "type": .string($0.type), "format": .string($0.format),
             "description": .string($0.description), "priority": .int(Int64($0.priority))]
        }
        let rows: [JSONValue] = objects.map { obj in
            var row: [String: JSONValue] = ["cells": .array(cols.map { $0.value(obj) })]
            switch includeObject {
            case "None": row["object"] = .null
            case "Object": row["object"] = obj
            default:
                row["object"] = ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"] ?? [:]]
            }
            return .object(row)
        }
        return ["kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": listMeta ?? .object([:]),
                "columnDefinitions": .array(definitions), "rows": .array(rows)]
    }

    /// Go's duration.HumanDuration of the time since `timestamp`.
    static func humanAge(_ timestamp: String?, now: Date = Date()) -> String {
        guard let timestamp, let date = SchemaValidation.parseRFC3339(timestamp) else { return "<unknown>" }
        let d = now.timeIntervalSince(date)
        if d < -1 { return "<invalid>" }
        let seconds = Int(max(0, d))
        if seconds < 120 { return "\(seconds)s" }
        let minutes = seconds / 60
        if minutes < 10 { let s = seconds % 60; return s == 0 ? "\(minutes)m" : "\(minutes)m\(s)s" }
        if minutes < 180 { return "\(minutes)m" }
        let hours = minutes / 60
        if hours < 8 { let m = minutes % 60; return m == 0 ? "\(hours)h" : "\(hours)h\(m)m" }
        if hours < 48 { return "\(hours)h" }
        if hours < 192 { let h = hours % 24; return h == 0 ? "\(hours / 24)d" : "\(hours / 24)d\(h)h" }
        if hours < 24 * 365 * 2 { return "\(hours / 24)d" }
        let years = hours / 24 / 365
        if years < 8 { let dd = (hours / 24) % 365; return dd == 0 ? "\(years)y" : "\(years)y\(dd)d" }
        return "\(years)y"
    }
}
