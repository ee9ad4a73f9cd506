import Foundation
import JSON
import KubeCore

/// Admission of a new object state (create, update, patch, apply): metadata validation, pruning, defaulting, validation.
extension LabAPI {
    func metadataCauses(_ obj: JSONValue, def: ResourceDef) -> [APICause] {
        var causes: [APICause] = []
        let meta = obj["metadata"] ?? .object([:])
        if let name = meta["name"]?.stringValue, !name.isEmpty {
            let error = def.plural == "namespaces" ? DNSNames.labelError(name) : DNSNames.subdomainError(name)
            if let error {
                causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\(name)\": \(error)", field: "metadata.name"))
            }
        }
        if case .object(let labels)? = meta["labels"] {
            for k in labels.keys.sorted() {
                if let e = LabelSyntax.keyError(k) {
                    causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\(k)\": \(e)", field: "metadata.labels"))
                }
                if let v = labels[k]?.stringValue, let e = LabelSyntax.valueError(v) {
                    causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\(v)\": \(e)", field: "metadata.labels"))
                } else if labels[k]?.stringValue == nil {
                    causes.append(APICause(reason: "FieldValueTypeInvalid", message: "Invalid value: \"\(k)\": label values must be strings", field: "metadata.labels"))
                }
            }
        } else if let l = meta["labels"], !l.isNull {
            causes.append(APICause(reason: "FieldValueTypeInvalid", message: "Invalid value: \(SchemaValidation.describe(l)): must be a map of strings", field: "metadata.labels"))
        }
        if case .object(let ann)? = meta["annotations"] {
            for k in ann.keys.sorted() {
                if let e = LabelSyntax.keyError(k) {
                    causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\(k)\": \(e)", field: "metadata.annotations"))
                }
                if ann[k]?.stringValue == nil {
                    causes.append(APICause(reason: "FieldValueTypeInvalid", message: "Invalid value: \"\(k)\": annotation values must be strings", field: "metadata.annotations"))
                }
            }
        }
        if let owners = meta["ownerReferences"]?.arrayValue {
            var controllers = 0
            for (i, o) in owners.enumerated() {
                _ = i
                for (f, what) in [("apiVersion", "version"), ("kind", "kind"), ("name", "name"), ("uid", "uid")] where (o[f]?.stringValue ?? "").isEmpty {
                    causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\": \(what) must not be empty", field: "metadata.ownerReferences.\(f)"))
                }
                if o["controller"]?.boolValue == true { controllers += 1 }
            }
            if controllers > 1 {
                let names = owners.filter { $0["controller"]?.boolValue == true }.map { $0["name"]?.stringValue ?? "" }
                causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: []v1.OwnerReference{...}: Only one reference can have Controller set to true. Found \"true\" in references for \(names.joined(separator: " and "))", field: "metadata.ownerReferences"))
            }
        }
        if let fin = meta["finalizers"]?.arrayValue {
            for f in fin {
                guard let s = f.stringValue else {
                    causes.append(APICause(reason: "FieldValueTypeInvalid", message: "Invalid value: finalizers must be strings", field: "metadata.finalizers"))
                    continue
                }
                if let e = LabelSyntax.keyError(s) {
                    causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\(s)\": \(e)", field: "metadata.finalizers"))
                }
            }
        }
        return causes
    }

    /// Pruning, defaulting and validation of a new object state (create or update).
    func admit(_ obj: inout JSONValue, def: ResourceDef, old: JSONValue?) throws(APIError) {
        let name = obj[path: ["metadata", "name"]]?.stringValue ?? ""
        var causes = metadataCauses(obj, def: def)
        if def.isCustom {
            // prune, then SchemaDefaulting.apply: its null pruning done in the same walk.
            SchemaValidation.pruneDroppingNulls(&obj, schema: def.compiledSchema)
            SchemaDefaulting.applyDefaultsOnly(&obj, schema: def.compiledSchema)
            causes += SchemaValidation.validate(obj, schema: def.compiledSchema)
        } else {
            causes += BuiltinAdmission.admit(&obj, def: def, old: old)
        }
        if let old, old[path: ["metadata", "deletionTimestamp"]] != nil {
            let before = Set(old[path: ["metadata", "finalizers"]]?.arrayValue?.compactMap(\.stringValue) ?? [])
            let added = (obj[path: ["metadata", "finalizers"]]?.arrayValue?.compactMap(\.stringValue) ?? []).filter { !before.contains($0) }
            if !added.isEmpty {
                // The real server reports this twice (metadata validation runs for update and for the strategy).
                for _ in 0..<2 { causes.append(APICause(reason: "FieldValueForbidden",
                                       message: "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\(added.map { "\"\($0)\"" }.joined(separator: ", "))}",
                                       field: "metadata.finalizers")) }
            }
        }
        if !causes.isEmpty {
            // Events of both groups are validated as the internal core Event (no group in the error).
            throw APIError.invalid(kind: def.kind, group: def.plural == "events" ? "" : def.group, name: name, causes: causes)
        }
    }
}
