// The watcher as a value: it says which request to make next and turns answers into cache events.
// No I/O, no clock: the `Watcher` driver performs the requests and the backoff.

import KubeCore

/// What the watcher reports to its consumer (a store, a controller).
public enum WatcherEvent<Object: KubernetesObject>: Sendable {
    /// A complete, consistent list: the consumer replaces its whole cache with these objects
    /// (the first list, and every relist after 410 Gone).
    case replaced([Object])
    /// An object was added or modified.
    case applied(Object)
    /// An object was deleted (its last known state).
    case deleted(Object)

    /// The same event with every object passed through `transform` (what a cache keeps of them).
    public func map(_ transform: (Object) -> Object) -> WatcherEvent<Object> {
        switch self {
        case .replaced(let objects): .replaced(objects.map(transform))
        case .applied(let object): .applied(transform(object))
        case .deleted(let object): .deleted(transform(object))
        }
    }
}

/// Configuration of a watcher: what to select and how to page.
public struct WatcherConfiguration: Sendable, Hashable {
    /// Only objects whose labels match (`labelSelector=` syntax).
    public var labelSelector: String?
    /// Only objects whose fields match (`fieldSelector=` syntax).
    public var fieldSelector: String?
    /// List page size (`limit`); nil lists in one request.
    public var pageSize: Int?
    /// Ask for BOOKMARK events (they keep the resourceVersion fresh so a reconnect rarely meets 410).
    public var bookmarks: Bool
    /// The watch's server-side timeout; nil lets the source choose (the client randomizes 5–10 min).
    public var timeoutSeconds: Int?

    /// Defaults: no selectors, pages of 500, bookmarks on.
    public init(labelSelector: String? = nil, fieldSelector: String? = nil, pageSize: Int? = 500, bookmarks: Bool = true, timeoutSeconds: Int? = nil) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.pageSize = pageSize
        self.bookmarks = bookmarks
        self.timeoutSeconds = timeoutSeconds
    }
}

/// The list-then-watch state machine (kube-rs `watcher::step`, client-go reflector).
///
/// - The first list is paginated; all pages make one `.replaced` event.
/// - The watch starts from the *list's* resourceVersion (`metadata.resourceVersion` of the list,
///   never an item's), and resumes from the last resourceVersion seen (events and bookmarks).
/// - Bookmarks advance the resourceVersion and produce no event.
/// - 410 Gone (thrown, or as an ERROR event) throws the resourceVersion away: the next action is a
///   fresh list, whose result replaces the cache.
/// - A watch that ends cleanly reconnects from the last resourceVersion.
public struct WatcherState<Object: KubernetesObject>: Sendable {
    /// Where the machine is.
    public enum Phase: Sendable, Equatable {
        /// No resourceVersion: the next action is the first page of a list.
        case empty
        /// Between pages of a list.
        case listing(continueToken: String)
        /// A complete list or a previous watch left this resourceVersion; the next action is a watch.
        case readyToWatch(resourceVersion: String)
        /// A watch is open.
        case watching(resourceVersion: String)
    }

    /// The next request to make.
    public enum Action: Sendable, Equatable {
        /// List one page.
        case list(ListPageRequest)
        /// Open a watch.
        case watch(WatchStreamRequest)
    }

    /// How the driver should continue after a failure.
    public enum Recovery: Sendable, Equatable {
        /// Relist from scratch now (410 Gone): the resourceVersion is too old, waiting does not help.
        case relist
        /// Wait (backoff), then perform `nextAction()` again.
        case retryAfterBackoff
    }

    /// The current phase.
    public private(set) var phase: Phase = .empty
    /// The configuration.
    public let configuration: WatcherConfiguration
    private var pages: [Object] = []

    /// A machine in the `.empty` phase.
    public init(configuration: WatcherConfiguration = .init()) {
        self.configuration = configuration
    }

    /// The last resourceVersion the machine will resume from (nil before the first complete list).
    public var resourceVersion: String? {
        switch phase {
        case .readyToWatch(let rv), .watching(let rv): rv
        case .empty, .listing: nil
        }
    }

    /// The request to make now. Calling it for a watch moves the machine to `.watching`.
    public mutating func nextAction() -> Action {
        switch phase {
        case .empty:
            pages = []
            return .list(ListPageRequest(
                labelSelector: configuration.labelSelector, fieldSelector: configuration.fieldSelector,
                limit: configuration.pageSize, continueToken: nil, resourceVersion: nil))
        case .listing(let token):
            return .list(ListPageRequest(
                labelSelector: configuration.labelSelector, fieldSelector: configuration.fieldSelector,
                limit: configuration.pageSize, continueToken: token, resourceVersion: nil))
        case .readyToWatch(let rv), .watching(let rv):
            phase = .watching(resourceVersion: rv)
            return .watch(WatchStreamRequest(
                resourceVersion: rv, labelSelector: configuration.labelSelector, fieldSelector: configuration.fieldSelector,
                allowWatchBookmarks: configuration.bookmarks, timeoutSeconds: configuration.timeoutSeconds))
        }
    }

    /// Feeds one list page; returns `.replaced` once the last page has arrived.
    public mutating func listed(_ page: ObjectList<Object>) -> [WatcherEvent<Object>] {
        pages.append(contentsOf: page.items)
        if let token = page.metadata.continueToken, !token.isEmpty {
            phase = .listing(continueToken: token)
            return []
        }
        let items = pages
        pages = []
        // The list's own resourceVersion; an empty one (a broken server) forces a relist later, never
        // a watch from an item's version.
        if let rv = page.metadata.resourceVersion, !rv.isEmpty {
            phase = .readyToWatch(resourceVersion: rv)
        } else {
            phase = .empty
        }
        return [.replaced(items)]
    }

    /// Feeds one watch event.
    /// - Returns: the cache events, and `.relist` when the event was a 410 ERROR.
    public mutating func received(_ event: WatchEvent<Object>) -> (events: [WatcherEvent<Object>], recovery: Recovery?) {
        switch event {
        case .added(let object), .modified(let object):
            advance(to: object.metadata.resourceVersion)
            return ([.applied(object)], nil)
        case .deleted(let object):
            advance(to: object.metadata.resourceVersion)
            return ([.deleted(object)], nil)
        case .bookmark(let rv):
            advance(to: rv)
            return ([], nil)
        case .error(let status):
            return ([], failed(status))
        }
    }

    /// The watch ended without error (server timeout): reconnect from the last resourceVersion.
    public mutating func watchEnded() {
        if case .watching(let rv) = phase { phase = .readyToWatch(resourceVersion: rv) }
    }

    /// A list or watch failed with `error`.
    public mutating func failed(_ error: any Error) -> Recovery {
        if ListWatchError.isGone(error) {
            phase = .empty
            pages = []
            return .relist
        }
        switch phase {
        case .watching(let rv): phase = .readyToWatch(resourceVersion: rv)
        case .listing: phase = .empty; pages = []   // a failed page restarts the list (the token may be stale)
        case .empty, .readyToWatch: break
        }
        return .retryAfterBackoff
    }

    private mutating func advance(to rv: String?) {
        guard let rv, !rv.isEmpty else { return }
        if case .watching = phase { phase = .watching(resourceVersion: rv) }
    }
}
