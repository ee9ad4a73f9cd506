// Wiring of the runtime to the real client: `ResourceClient` is a `ListWatchSource` and a `LeaseStore`.

import KubeClient
import KubeCore

extension ResourceClient: ListWatchSource {
    /// The client's own resource (right for `DynamicObject` clients too).
    public var resourceDescription: String { resourceType.description }

    /// Lists one page through `list(_:)`.
    public func listPage(_ request: ListPageRequest) async throws -> ObjectList<T> {
        try await list(ListOptions(
            labelSelector: request.labelSelector, fieldSelector: request.fieldSelector, limit: request.limit,
            continueToken: request.continueToken, resourceVersion: request.resourceVersion))
    }

    /// Opens a watch through `watch(_:)` (410 surfaces as `KubeClientError.watchExpired`).
    public func watchStream(_ request: WatchStreamRequest) -> AsyncThrowingStream<WatchEvent<T>, any Error> {
        watch(WatchOptions(
            resourceVersion: request.resourceVersion, labelSelector: request.labelSelector,
            fieldSelector: request.fieldSelector, allowWatchBookmarks: request.allowWatchBookmarks,
            timeoutSeconds: request.timeoutSeconds))
    }
}

extension KubeClientError: GoneReporting {
    /// 410 Gone as an HTTP status or an in-stream ERROR event.
    public var isResourceVersionGone: Bool { isGone }
}

extension ResourceClient: LeaseStore where T == Lease {
    /// Reads the Lease, nil when it does not exist.
    public func lease(named name: String) async throws -> Lease? {
        try await getIfExists(name)
    }

    /// Creates the Lease.
    public func createLease(_ lease: Lease) async throws -> Lease {
        try await create(lease)
    }

    /// Replaces the Lease (optimistic concurrency through `metadata.resourceVersion`).
    public func updateLease(_ lease: Lease) async throws -> Lease {
        try await update(lease)
    }

    /// Whether `error` is a 409 Conflict or AlreadyExists (another candidate wrote first).
    public func isWriteConflict(_ error: any Error) -> Bool {
        guard let error = error as? KubeClientError else { return false }
        return error.isConflict || error.isAlreadyExists
    }
}
