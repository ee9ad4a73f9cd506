import JSON

/// The `type` of a watch event.
public enum WatchEventType: String, Codable, Sendable {
    case added = "ADDED"
    case modified = "MODIFIED"
    case deleted = "DELETED"
    case bookmark = "BOOKMARK"
    case error = "ERROR"
}

/// One event of a watch stream, decoded: an object change, a bookmark carrying only a
/// resourceVersion, or an in-stream error (`Status`, for example 410 Gone).
public enum WatchEvent<T: KubernetesObject>: Sendable {
    case added(T)
    case modified(T)
    case deleted(T)
    case bookmark(resourceVersion: String)
    case error(Status)

    public var type: WatchEventType {
        switch self {
        case .added: .added
        case .modified: .modified
        case .deleted: .deleted
        case .bookmark: .bookmark
        case .error: .error
        }
    }

    /// The object of an added/modified/deleted event.
    public var object: T? {
        switch self {
        case .added(let o), .modified(let o), .deleted(let o): o
        default: nil
        }
    }

    /// The resourceVersion this event brings the watch to, if any.
    public var resourceVersion: String? {
        switch self {
        case .added(let o), .modified(let o), .deleted(let o): o.metadata.resourceVersion
        case .bookmark(let rv): rv
        case .error: nil
        }
    }
}

extension WatchEvent: Decodable {
    enum CodingKeys: String, CodingKey { case type, object }
    struct BookmarkObject: Decodable { var metadata: ObjectMeta }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.decode(WatchEventType.self, forKey: .type)
        switch type {
        case .added: self = .added(try c.decode(T.self, forKey: .object))
        case .modified: self = .modified(try c.decode(T.self, forKey: .object))
        case .deleted: self = .deleted(try c.decode(T.self, forKey: .object))
        case .bookmark:
            let b = try c.decode(BookmarkObject.self, forKey: .object)
            self = .bookmark(resourceVersion: b.metadata.resourceVersion ?? "")
        case .error: self = .error(try c.decode(Status.self, forKey: .object))
        }
    }
}
