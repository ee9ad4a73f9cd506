import JSON

/// A core/v1 Node. Spec and status are kept as JSON so that writing a Node back never
/// drops fields this code does not model; use the accessors for what Automagic needs.
public struct Node: KubernetesObject, Hashable {
    public static var resourceType: ResourceType { .nodes }
    public var apiVersion: String? = "v1"
    public var kind: String? = "Node"
    public var metadata: ObjectMeta
    public var spec: JSONValue?
    public var status: JSONValue?

    public init(metadata: ObjectMeta, spec: JSONValue? = nil, status: JSONValue? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    /// `status.capacity` as strings (resource quantities).
    public var capacity: [String: String] {
        var out: [String: String] = [:]
        for (k, v) in status?["capacity"]?.objectValue ?? [:] { out[k] = v.stringValue ?? v.intValue.map { String($0) } }
        return out
    }
}

/// A core/v1 Namespace.
public struct Namespace: KubernetesObject, Hashable {
    public static var resourceType: ResourceType { .namespaces }
    public var apiVersion: String? = "v1"
    public var kind: String? = "Namespace"
    public var metadata: ObjectMeta
    public var spec: JSONValue?
    public var status: JSONValue?

    public init(metadata: ObjectMeta) { self.metadata = metadata }
}

/// A reference to an object, as Events carry it.
public struct ObjectReference: Codable, Sendable, Hashable {
    public var apiVersion: String?
    public var kind: String?
    public var name: String?
    public var namespace: String?
    public var uid: String?
    public var resourceVersion: String?

    public init(apiVersion: String? = nil, kind: String? = nil, name: String? = nil, namespace: String? = nil, uid: String? = nil, resourceVersion: String? = nil) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.namespace = namespace
        self.uid = uid
        self.resourceVersion = resourceVersion
    }
}

/// A core/v1 Event (the shape `kubectl describe` shows).
public struct Event: KubernetesObject, Hashable {
    public static var resourceType: ResourceType { .events }
    public var apiVersion: String? = "v1"
    public var kind: String? = "Event"
    public var metadata: ObjectMeta
    public var involvedObject: ObjectReference
    public var reason: String?
    public var message: String?
    /// "Normal" or "Warning".
    public var type: String?
    public var source: EventSource?
    public var firstTimestamp: String?
    public var lastTimestamp: String?
    public var count: Int?
    public var reportingComponent: String?
    public var reportingInstance: String?

    public init(metadata: ObjectMeta, involvedObject: ObjectReference, reason: String?, message: String?, type: String?) {
        self.metadata = metadata
        self.involvedObject = involvedObject
        self.reason = reason
        self.message = message
        self.type = type
    }
}

/// Who reported an Event.
public struct EventSource: Codable, Sendable, Hashable {
    public var component: String?
    public var host: String?
    public init(component: String? = nil, host: String? = nil) {
        self.component = component
        self.host = host
    }
}
