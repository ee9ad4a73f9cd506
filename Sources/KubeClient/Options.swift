import JSON
import KubeCore

/// How `resourceVersion` is interpreted by a list (`resourceVersionMatch`).
public enum ResourceVersionMatch: String, Sendable, Hashable {
    /// Exactly the given resourceVersion.
    case exact = "Exact"
    /// At least as new as the given resourceVersion.
    case notOlderThan = "NotOlderThan"
}

/// Options of a list request.
public struct ListOptions: Sendable, Hashable {
    /// `labelSelector=` syntax, e.g. `app=x,tier in (a,b),!legacy`.
    public var labelSelector: String?
    /// `fieldSelector=` syntax, e.g. `metadata.name=x`.
    public var fieldSelector: String?
    /// Page size; the server then returns a `continue` token.
    public var limit: Int?
    /// The `continue` token of the previous page.
    public var continueToken: String?
    /// `resourceVersion` (nil: a consistent read from etcd; "0": any cached state).
    public var resourceVersion: String?
    /// How `resourceVersion` is matched.
    public var resourceVersionMatch: ResourceVersionMatch?
    /// Server-side timeout of the list call.
    public var timeoutSeconds: Int?

    /// Creates list options.
    public init(labelSelector: String? = nil, fieldSelector: String? = nil, limit: Int? = nil, continueToken: String? = nil,
                resourceVersion: String? = nil, resourceVersionMatch: ResourceVersionMatch? = nil, timeoutSeconds: Int? = nil) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.limit = limit
        self.continueToken = continueToken
        self.resourceVersion = resourceVersion
        self.resourceVersionMatch = resourceVersionMatch
        self.timeoutSeconds = timeoutSeconds
    }

    /// Selects objects carrying all of `labels` (an equality selector).
    public init(labels: [String: String]) {
        self.init(labelSelector: labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))
    }

    var queryItems: [(String, String)] {
        var items: [(String, String)] = []
        if let labelSelector, !labelSelector.isEmpty { items.append(("labelSelector", labelSelector)) }
        if let fieldSelector, !fieldSelector.isEmpty { items.append(("fieldSelector", fieldSelector)) }
        if let limit, limit > 0 { items.append(("limit", String(limit))) }
        if let continueToken, !continueToken.isEmpty { items.append(("continue", continueToken)) }
        if let resourceVersion { items.append(("resourceVersion", resourceVersion)) }
        if let resourceVersionMatch { items.append(("resourceVersionMatch", resourceVersionMatch.rawValue)) }
        if let timeoutSeconds { items.append(("timeoutSeconds", String(timeoutSeconds))) }
        return items
    }
}

/// Options of a watch request.
public struct WatchOptions: Sendable, Hashable {
    /// Start after this resourceVersion: the list's `metadata.resourceVersion` or the last event/bookmark seen.
    /// nil starts with synthetic ADDED events for the current state.
    public var resourceVersion: String?
    /// `labelSelector=` syntax.
    public var labelSelector: String?
    /// `fieldSelector=` syntax.
    public var fieldSelector: String?
    /// Ask the server for BOOKMARK events (they advance the resourceVersion without an object change).
    public var allowWatchBookmarks: Bool
    /// Server-side duration of this watch; nil picks a random value in 5–10 minutes (as client-go does)
    /// so that many clients do not reconnect together.
    public var timeoutSeconds: Int?
    /// No byte for this long means a dead connection. nil: the client configuration's `watchIdleTimeout`
    /// when bookmarks are allowed (the server then sends one about every minute), none otherwise; 0 disables it.
    public var idleTimeout: Double?
    /// Decoded events queued for a consumer that has not taken them yet. When the queue is full the
    /// client stops reading the response (and the transfer pauses after ``bufferedBytes``), so a slow
    /// consumer costs bounded memory, and the server sees TCP back-pressure instead.
    public var bufferedEvents: Int = 128
    /// Response bytes received and not yet decoded before the transfer pauses (resumed at a quarter).
    public var bufferedBytes: Int = 1 << 20

    /// Creates watch options.
    public init(resourceVersion: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil,
                allowWatchBookmarks: Bool = true, timeoutSeconds: Int? = nil, idleTimeout: Double? = nil) {
        self.resourceVersion = resourceVersion
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.allowWatchBookmarks = allowWatchBookmarks
        self.timeoutSeconds = timeoutSeconds
        self.idleTimeout = idleTimeout
    }

    func queryItems(timeout: Int) -> [(String, String)] {
        var items: [(String, String)] = [("watch", "1")]
        if let labelSelector, !labelSelector.isEmpty { items.append(("labelSelector", labelSelector)) }
        if let fieldSelector, !fieldSelector.isEmpty { items.append(("fieldSelector", fieldSelector)) }
        if let resourceVersion, !resourceVersion.isEmpty { items.append(("resourceVersion", resourceVersion)) }
        if allowWatchBookmarks { items.append(("allowWatchBookmarks", "true")) }
        items.append(("timeoutSeconds", String(timeout)))
        return items
    }
}

/// A patch body and its content type.
public enum Patch: Sendable, Hashable {
    /// JSON merge patch (RFC 7386), `application/merge-patch+json`.
    case merge(JSONValue)
    /// JSON patch (RFC 6902) operations, `application/json-patch+json`.
    case json([JSONValue])
    /// Strategic merge patch (built-in types only), `application/strategic-merge-patch+json`.
    case strategic(JSONValue)
    /// Server-side apply of a full intent object, `application/apply-patch+yaml`, with a field manager
    /// (required) and `force` to take over fields other managers own.
    case apply(JSONValue, fieldManager: String, force: Bool = false)

    var contentType: String {
        switch self {
        case .merge: "application/merge-patch+json"
        case .json: "application/json-patch+json"
        case .strategic: "application/strategic-merge-patch+json"
        case .apply: "application/apply-patch+yaml"
        }
    }

    var body: [UInt8] {
        switch self {
        case .merge(let value), .strategic(let value), .apply(let value, _, _): value.serialized()
        case .json(let operations): JSONValue.array(operations).serialized()
        }
    }
}

/// How dependents are deleted (`propagationPolicy`).
public enum PropagationPolicy: String, Sendable, Hashable {
    /// Delete dependents in the background (the default for most resources).
    case background = "Background"
    /// Keep the owner (with a deletionTimestamp) until its blocking dependents are gone.
    case foreground = "Foreground"
    /// Leave dependents, removing their owner reference.
    case orphan = "Orphan"
}

/// Options of a delete request (`metav1.DeleteOptions`).
public struct DeleteOptions: Sendable, Hashable {
    /// Only delete if the object still has this uid.
    public var preconditionUID: String?
    /// Only delete if the object still has this resourceVersion.
    public var preconditionResourceVersion: String?
    /// How dependents are deleted.
    public var propagationPolicy: PropagationPolicy?
    /// Grace period; 0 deletes immediately.
    public var gracePeriodSeconds: Int?
    /// Validate only, change nothing.
    public var dryRun: Bool

    /// Creates delete options.
    public init(preconditionUID: String? = nil, preconditionResourceVersion: String? = nil,
                propagationPolicy: PropagationPolicy? = nil, gracePeriodSeconds: Int? = nil, dryRun: Bool = false) {
        self.preconditionUID = preconditionUID
        self.preconditionResourceVersion = preconditionResourceVersion
        self.propagationPolicy = propagationPolicy
        self.gracePeriodSeconds = gracePeriodSeconds
        self.dryRun = dryRun
    }

    var isEmpty: Bool { self == DeleteOptions() }

    var body: [UInt8] {
        var object: [String: JSONValue] = ["kind": "DeleteOptions", "apiVersion": "v1"]
        var preconditions: [String: JSONValue] = [:]
        if let preconditionUID { preconditions["uid"] = .string(preconditionUID) }
        if let preconditionResourceVersion { preconditions["resourceVersion"] = .string(preconditionResourceVersion) }
        if !preconditions.isEmpty { object["preconditions"] = .object(preconditions) }
        if let propagationPolicy { object["propagationPolicy"] = .string(propagationPolicy.rawValue) }
        if let gracePeriodSeconds { object["gracePeriodSeconds"] = .int(Int64(gracePeriodSeconds)) }
        if dryRun { object["dryRun"] = ["All"] }
        return JSONValue.object(object).serialized()
    }
}
