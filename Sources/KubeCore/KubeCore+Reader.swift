import JSON

// Hand-written readers for the hot metadata types: decoding straight from the bytes with
// `JSONReader`, with the same acceptance as their `Codable` conformances (which stay).

extension ObjectMeta: JSONReadable {
    /// Reads `metav1.ObjectMeta` (every member optional; unknown members skipped).
    public init(from reader: inout JSONReader) throws(JSONError) {
        self.init()
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "name": name = try r.readStringOrNull()
            case "generateName": generateName = try r.readStringOrNull()
            case "namespace": namespace = try r.readStringOrNull()
            case "uid": uid = try r.readStringOrNull()
            case "resourceVersion": resourceVersion = try r.readStringOrNull()
            case "generation": generation = try r.readInt64OrNull()
            case "creationTimestamp": creationTimestamp = try r.readStringOrNull()
            case "deletionTimestamp": deletionTimestamp = try r.readStringOrNull()
            case "deletionGracePeriodSeconds": deletionGracePeriodSeconds = try r.readInt64OrNull()
            case "labels": labels = try r.readStringDictionaryOrNull()
            case "annotations": annotations = try r.readStringDictionaryOrNull()
            case "ownerReferences": ownerReferences = try r.readArrayOrNull(of: OwnerReference.self)
            case "finalizers": finalizers = try r.readStringArrayOrNull()
            case "managedFields": managedFields = try r.readArrayOrNull(of: JSONValue.self)
            default: break
            }
        }
    }
}

extension OwnerReference: JSONReadable {
    /// Reads `metav1.OwnerReference` (`apiVersion`, `kind`, `name` and `uid` required).
    public init(from reader: inout JSONReader) throws(JSONError) {
        var apiVersion: String?, kind: String?, name: String?, uid: String?
        var controller: Bool?, blockOwnerDeletion: Bool?
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "apiVersion": apiVersion = try r.readString()
            case "kind": kind = try r.readString()
            case "name": name = try r.readString()
            case "uid": uid = try r.readString()
            case "controller": controller = try r.readBoolOrNull()
            case "blockOwnerDeletion": blockOwnerDeletion = try r.readBoolOrNull()
            default: break
            }
        }
        guard let apiVersion else { throw reader.missingKey("apiVersion") }
        guard let kind else { throw reader.missingKey("kind") }
        guard let name else { throw reader.missingKey("name") }
        guard let uid else { throw reader.missingKey("uid") }
        self.init(apiVersion: apiVersion, kind: kind, name: name, uid: uid, controller: controller,
                  blockOwnerDeletion: blockOwnerDeletion)
    }
}

extension ListMeta: JSONReadable {
    /// Reads `metav1.ListMeta`.
    public init(from reader: inout JSONReader) throws(JSONError) {
        self.init()
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "resourceVersion": resourceVersion = try r.readStringOrNull()
            case "continue": continueToken = try r.readStringOrNull()
            case "remainingItemCount": remainingItemCount = try r.readInt64OrNull()
            default: break
            }
        }
    }
}

extension ObjectList: JSONReadable where T: JSONReadable {
    /// Reads a list response item by item into an exactly sized array (no whole-document map).
    public init(from reader: inout JSONReader) throws(JSONError) {
        var apiVersion: String?, kind: String?
        var metadata: ListMeta?
        var items: [T]?
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "apiVersion": apiVersion = try r.readStringOrNull()
            case "kind": kind = try r.readStringOrNull()
            case "metadata": metadata = try r.readOrNull(ListMeta.self)
            case "items": items = try r.readArrayOrNull(of: T.self)
            default: break
            }
        }
        self.init(apiVersion: apiVersion, kind: kind, metadata: metadata ?? ListMeta(), items: items ?? [])
    }
}

extension Condition: JSONReadable {
    /// Reads `metav1.Condition` (all but `observedGeneration` required).
    public init(from reader: inout JSONReader) throws(JSONError) {
        var type: String?, status: String?, lastTransitionTime: String?, reason: String?, message: String?
        var observedGeneration: Int64?
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "type": type = try r.readString()
            case "status": status = try r.readString()
            case "observedGeneration": observedGeneration = try r.readInt64OrNull()
            case "lastTransitionTime": lastTransitionTime = try r.readString()
            case "reason": reason = try r.readString()
            case "message": message = try r.readString()
            default: break
            }
        }
        guard let type else { throw reader.missingKey("type") }
        guard let status else { throw reader.missingKey("status") }
        guard let lastTransitionTime else { throw reader.missingKey("lastTransitionTime") }
        guard let reason else { throw reader.missingKey("reason") }
        guard let message else { throw reader.missingKey("message") }
        self.init(type: type, status: status, observedGeneration: observedGeneration,
                  lastTransitionTime: lastTransitionTime, reason: reason, message: message)
    }
}

extension Status: JSONReadable {
    /// Reads `metav1.Status` (every member optional; like the synthesized `Codable`, a missing
    /// `kind`/`apiVersion`/`metadata` reads as nil).
    public init(from reader: inout JSONReader) throws(JSONError) {
        self.init(status: nil)
        kind = nil
        apiVersion = nil
        metadata = nil
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "kind": kind = try r.readStringOrNull()
            case "apiVersion": apiVersion = try r.readStringOrNull()
            case "metadata": metadata = try r.readOrNull(ListMeta.self)
            case "status": status = try r.readStringOrNull()
            case "message": message = try r.readStringOrNull()
            case "reason": reason = try r.readStringOrNull()
            case "details": details = try r.readOrNull(StatusDetails.self)
            case "code": code = try r.readIntOrNull()
            default: break
            }
        }
    }
}

extension StatusDetails: JSONReadable {
    /// Reads `metav1.StatusDetails`.
    public init(from reader: inout JSONReader) throws(JSONError) {
        self.init()
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "name": name = try r.readStringOrNull()
            case "group": group = try r.readStringOrNull()
            case "kind": kind = try r.readStringOrNull()
            case "uid": uid = try r.readStringOrNull()
            case "causes": causes = try r.readArrayOrNull(of: StatusCause.self)
            case "retryAfterSeconds": retryAfterSeconds = try r.readIntOrNull()
            default: break
            }
        }
    }
}

extension StatusCause: JSONReadable {
    /// Reads `metav1.StatusCause`.
    public init(from reader: inout JSONReader) throws(JSONError) {
        self.init()
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "reason": reason = try r.readStringOrNull()
            case "message": message = try r.readStringOrNull()
            case "field": field = try r.readStringOrNull()
            default: break
            }
        }
    }
}

extension LabelSelector: JSONReadable {
    /// Reads `metav1.LabelSelector`.
    public init(from reader: inout JSONReader) throws(JSONError) {
        self.init()
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "matchLabels": matchLabels = try r.readStringDictionaryOrNull()
            case "matchExpressions": matchExpressions = try r.readArrayOrNull(of: LabelSelectorRequirement.self)
            default: break
            }
        }
    }
}

extension LabelSelectorRequirement: JSONReadable {
    /// Reads one `matchExpressions` term; an operator other than In/NotIn/Exists/DoesNotExist is an error.
    public init(from reader: inout JSONReader) throws(JSONError) {
        var key: String?, op: Operator?, values: [String]?
        try reader.readObject { k, r throws(JSONError) in
            switch k {
            case "key": key = try r.readString()
            case "operator":
                r.skipWhitespaceBeforeValue()
                let at = r.offset
                let s = try r.readString()
                guard let parsed = Operator(rawValue: s) else {
                    throw r.invalidValue("unknown label selector operator '\(s)'", at: at)
                }
                op = parsed
            case "values": values = try r.readStringArrayOrNull()
            default: break
            }
        }
        guard let key else { throw reader.missingKey("key") }
        guard let op else { throw reader.missingKey("operator") }
        self.init(key: key, operator: op, values: values)
    }
}

extension WatchEventType: JSONReadable {
    /// Reads `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR`; anything else is an error.
    public init(from reader: inout JSONReader) throws(JSONError) {
        reader.skipWhitespaceBeforeValue()
        let at = reader.offset
        let s = try reader.readString()
        guard let type = WatchEventType(rawValue: s) else {
            throw reader.invalidValue("unknown watch event type '\(s)'", at: at)
        }
        self = type
    }
}

extension WatchEvent: JSONReadable where T: JSONReadable {
    /// Reads `{"type": ..., "object": ...}`. The object is read in place when `type` comes first
    /// (as the API server writes it), otherwise after the type is known.
    public init(from reader: inout JSONReader) throws(JSONError) {
        var type: WatchEventType?
        var event: WatchEvent<T>?
        var pendingObject: JSONReader?
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "type":
                type = try WatchEventType(from: &r)
            case "object":
                if let type {
                    event = try Self.readObject(type, &r)
                } else {
                    r.skipWhitespaceBeforeValue()
                    pendingObject = r
                    try r.skipValue()
                }
            default: break
            }
        }
        guard let type else { throw reader.missingKey("type") }
        if let event {
            self = event
        } else if var objectReader = pendingObject {
            self = try Self.readObject(type, &objectReader)
        } else {
            throw reader.missingKey("object")
        }
    }

    private static func readObject(_ type: WatchEventType, _ r: inout JSONReader) throws(JSONError) -> WatchEvent<T> {
        switch type {
        case .added: return .added(try T(from: &r))
        case .modified: return .modified(try T(from: &r))
        case .deleted: return .deleted(try T(from: &r))
        case .error: return .error(try Status(from: &r))
        case .bookmark:
            var metadata: ObjectMeta?
            try r.readObject { key, m throws(JSONError) in
                if case "metadata" = key { metadata = try ObjectMeta(from: &m) }
            }
            guard let metadata else { throw r.missingKey("metadata") }
            return .bookmark(resourceVersion: metadata.resourceVersion ?? "")
        }
    }
}
