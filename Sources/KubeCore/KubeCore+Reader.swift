import JSON

// Hand-written readers for the hot metadata types: decoding straight from the bytes with
// `JSONReader`, with the same acceptance as their `Codable` conformances (which stay).

extension ObjectMeta: JSONReadable {
    /// Reads `metav1.ObjectMeta` (every member optional; unknown members skipped).
    public init(from reader: inout JSONReader) throws(JSONError) {
        self = try Self.read(&reader)
    }

    /// Builds the value in a local and returns it (moved, not copied, into `self`).
    private static func read(_ reader: inout JSONReader) throws(JSONError) -> Self {
        var v = Self()
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "name": v.name = try reader.readStringOrNull()
            case "generateName": v.generateName = try reader.readStringOrNull()
            case "namespace": v.namespace = try reader.readStringOrNull()
            case "uid": v.uid = try reader.readStringOrNull()
            case "resourceVersion": v.resourceVersion = try reader.readStringOrNull()
            case "generation": v.generation = try reader.readInt64OrNull()
            case "creationTimestamp": v.creationTimestamp = try reader.readStringOrNull()
            case "deletionTimestamp": v.deletionTimestamp = try reader.readStringOrNull()
            case "deletionGracePeriodSeconds": v.deletionGracePeriodSeconds = try reader.readInt64OrNull()
            case "labels": v.labels = try reader.readStringDictionaryOrNull()
            case "annotations": v.annotations = try reader.readStringDictionaryOrNull()
            case "ownerReferences": v.ownerReferences = try reader.readArrayOrNull(of: OwnerReference.self)
            case "finalizers": v.finalizers = try reader.readStringArrayOrNull()
            case "managedFields": v.managedFields = try reader.readArrayOrNull(of: JSONValue.self)
            default: break
            }
        }
        return v
    }
}

extension OwnerReference: JSONReadable {
    /// Reads `metav1.OwnerReference` (`apiVersion`, `kind`, `name` and `uid` required).
    public init(from reader: inout JSONReader) throws(JSONError) {
        var apiVersion: String?, kind: String?, name: String?, uid: String?
        var controller: Bool?, blockOwnerDeletion: Bool?
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "apiVersion": apiVersion = try reader.readString()
            case "kind": kind = try reader.readString()
            case "name": name = try reader.readString()
            case "uid": uid = try reader.readString()
            case "controller": controller = try reader.readBoolOrNull()
            case "blockOwnerDeletion": blockOwnerDeletion = try reader.readBoolOrNull()
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
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "resourceVersion": resourceVersion = try reader.readStringOrNull()
            case "continue": continueToken = try reader.readStringOrNull()
            case "remainingItemCount": remainingItemCount = try reader.readInt64OrNull()
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
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "apiVersion": apiVersion = try reader.readStringOrNull()
            case "kind": kind = try reader.readStringOrNull()
            case "metadata": metadata = try reader.readOrNull(ListMeta.self)
            case "items": items = try reader.readArrayOrNull(of: T.self)
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
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "type": type = try reader.readString()
            case "status": status = try reader.readString()
            case "observedGeneration": observedGeneration = try reader.readInt64OrNull()
            case "lastTransitionTime": lastTransitionTime = try reader.readString()
            case "reason": reason = try reader.readString()
            case "message": message = try reader.readString()
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
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "kind": kind = try reader.readStringOrNull()
            case "apiVersion": apiVersion = try reader.readStringOrNull()
            case "metadata": metadata = try reader.readOrNull(ListMeta.self)
            case "status": status = try reader.readStringOrNull()
            case "message": message = try reader.readStringOrNull()
            case "reason": reason = try reader.readStringOrNull()
            case "details": details = try reader.readOrNull(StatusDetails.self)
            case "code": code = try reader.readIntOrNull()
            default: break
            }
        }
    }
}

extension StatusDetails: JSONReadable {
    /// Reads `metav1.StatusDetails`.
    public init(from reader: inout JSONReader) throws(JSONError) {
        self.init()
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "name": name = try reader.readStringOrNull()
            case "group": group = try reader.readStringOrNull()
            case "kind": kind = try reader.readStringOrNull()
            case "uid": uid = try reader.readStringOrNull()
            case "causes": causes = try reader.readArrayOrNull(of: StatusCause.self)
            case "retryAfterSeconds": retryAfterSeconds = try reader.readIntOrNull()
            default: break
            }
        }
    }
}

extension StatusCause: JSONReadable {
    /// Reads `metav1.StatusCause`.
    public init(from reader: inout JSONReader) throws(JSONError) {
        self.init()
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "reason": reason = try reader.readStringOrNull()
            case "message": message = try reader.readStringOrNull()
            case "field": field = try reader.readStringOrNull()
            default: break
            }
        }
    }
}

extension LabelSelector: JSONReadable {
    /// Reads `metav1.LabelSelector`.
    public init(from reader: inout JSONReader) throws(JSONError) {
        self.init()
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "matchLabels": matchLabels = try reader.readStringDictionaryOrNull()
            case "matchExpressions": matchExpressions = try reader.readArrayOrNull(of: LabelSelectorRequirement.self)
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
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "type":
                type = try WatchEventType(from: &reader)
            case "object":
                if let type {
                    event = try Self.readObject(type, &reader)
                } else {
                    reader.skipWhitespaceBeforeValue()
                    pendingObject = reader
                    try reader.skipValue()
                }
            default: break
            }
        }
        guard let type else { throw reader.missingKey("type") }
        if let event = event.take() {
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
