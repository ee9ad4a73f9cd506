import KubeCore

/// One page of a list request.
public struct ListPageRequest: Sendable, Hashable {
    /// `labelSelector=` query syntax, or nil.
    public var labelSelector: String?
    /// `fieldSelector=` query syntax, or nil.
    public var fieldSelector: String?
    /// The page size (`limit`), or nil for everything at once.
    public var limit: Int?
    /// The `continue` token of the previous page, nil for the first page.
    public var continueToken: String?
    /// `resourceVersion` for the first page (nil: a consistent, most recent read).
    public var resourceVersion: String?

    /// Creates a request.
    public init(labelSelector: String? = nil, fieldSelector: String? = nil, limit: Int? = nil, continueToken: String? = nil, resourceVersion: String? = nil) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.limit = limit
        self.continueToken = continueToken
        self.resourceVersion = resourceVersion
    }
}

/// One watch request.
public struct WatchStreamRequest: Sendable, Hashable {
    /// Watch changes after this resourceVersion.
    public var resourceVersion: String
    /// `labelSelector=` query syntax, or nil.
    public var labelSelector: String?
    /// `fieldSelector=` query syntax, or nil.
    public var fieldSelector: String?
    /// Ask the server for BOOKMARK events.
    public var allowWatchBookmarks: Bool
    /// The server-side timeout, or nil for the source's default (the client randomizes it).
    public var timeoutSeconds: Int?

    /// Creates a request.
    public init(resourceVersion: String, labelSelector: String? = nil, fieldSelector: String? = nil, allowWatchBookmarks: Bool = true, timeoutSeconds: Int? = nil) {
        self.resourceVersion = resourceVersion
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.allowWatchBookmarks = allowWatchBookmarks
        self.timeoutSeconds = timeoutSeconds
    }
}

/// What a watcher needs from the API: list pages and watch streams of one resource.
/// `ResourceClient<T>` conforms; tests drive the watcher with a fake.
///
/// Contract for implementations: a list or watch refused with 410 Gone (as an HTTP status, or as an
/// in-stream ERROR event) must surface either as a `.error(Status)` event with code 410 or as a thrown
/// error for which `ListWatchError.isGone(_:)` is true (for example `ListWatchError.gone`, or a
/// `Status` with code 410).
public protocol ListWatchSource<Object>: Sendable {
    /// The object type.
    associatedtype Object: KubernetesObject
    /// Lists one page.
    func listPage(_ request: ListPageRequest) async throws -> ObjectList<Object>
    /// Opens a watch. The stream finishes when the server ends the response; it throws on failures.
    func watchStream(_ request: WatchStreamRequest) -> AsyncThrowingStream<WatchEvent<Object>, any Error>
    /// The resource's name in logs and errors (`nodedevices.automagic.dev`). Defaults to the
    /// object type's `resourceType`; sources of dynamic objects name the resource they serve.
    var resourceDescription: String { get }
}

extension ListWatchSource {
    /// `Object.resourceType`'s description.
    public var resourceDescription: String { Object.resourceType.description }
}

/// Errors a `ListWatchSource` may throw that the watcher treats specially.
public enum ListWatchError: Error, Sendable, CustomStringConvertible {
    /// The resourceVersion (or continue token) is too old: 410 Gone / Expired. The watcher relists.
    case gone(message: String)

    /// A description naming the failure.
    public var description: String {
        switch self {
        case .gone(let message): "resource version expired (410 Gone): \(message)"
        }
    }

    /// Whether `error` means 410 Gone: `ListWatchError.gone`, a `Status` with code 410, or any error
    /// conforming to `GoneReporting` that says so.
    public static func isGone(_ error: any Error) -> Bool {
        switch error {
        case ListWatchError.gone: return true
        case let status as Status: return status.code == 410
        case let reporting as any GoneReporting: return reporting.isResourceVersionGone
        default: return false
        }
    }
}

/// Lets an error type of another module tell the watcher that it means 410 Gone.
public protocol GoneReporting: Error {
    /// True when the error is a 410 Gone / Expired answer.
    var isResourceVersionGone: Bool { get }
}
