import Foundation
import KubeClient
import KubeCore
import LabTesting
import Testing
import TestSupport
@testable import KubeRuntime

/// The API server integration tests talk to (LabTesting's ``TestAPIServer``: the lab API server
/// in-process, or the cluster named by `AUTOMAGIC_TEST_KUBECONFIG`). Objects are Leases in
/// namespace `default`, named with a unique prefix and labelled `automagic.dev/test=<prefix>`.
struct TestCluster: Sendable {
    let server: TestAPIServer
    let prefix: String
    let namespace = "default"

    var client: KubernetesClient { server.client }

    static func start(historyLimit: Int = 20_000) throws -> TestCluster {
        TestCluster(server: try TestAPIServer(lab: { $0.historyLimit = historyLimit }), prefix: uniquePrefix() + "-rt")
    }

    var leases: ResourceClient<Lease> { client.resource(Lease.self, namespace: namespace) }

    var selector: String { "automagic.dev/test=\(prefix)" }

    func lease(_ suffix: String, holder: String = "nobody") -> Lease {
        Lease(metadata: ObjectMeta(name: "\(prefix)-\(suffix)", namespace: namespace, labels: ["automagic.dev/test": prefix]),
              spec: LeaseSpec(holderIdentity: holder, leaseDurationSeconds: 15, leaseTransitions: 0))
    }

    /// Deletes every Lease this test created. A Lease already gone is fine; any other failure is
    /// recorded as an issue of the test (on a real cluster it would be a leak).
    func cleanUp() async {
        do {
            let all = try await leases.list(ListOptions(labelSelector: selector))
            for lease in all.items {
                guard let name = lease.metadata.name else { continue }
                do {
                    try await leases.delete(name)
                } catch where error.isNotFound {
                } catch {
                    Issue.record("cleanup of \(prefix): deleting Lease \(name) failed: \(error)")
                }
            }
        } catch {
            Issue.record("cleanup of \(prefix): listing its Leases failed: \(error)")
        }
        server.stop()
    }

    /// Runs `body`, then cleans up whether it threw or not.
    func run<R>(_ body: () async throws -> R) async throws -> R {
        try await withCleanup(body, cleanup: cleanUp)
    }
}

/// A source that sends its first watch from a very old resourceVersion (after running `beforeFirstWatch`),
/// to make the server answer 410 Gone the way it does for a client that fell behind.
final class StaleFirstWatchSource<T: KubernetesObject>: ListWatchSource, Sendable {
    typealias Object = T
    let inner: ResourceClient<T>
    let beforeFirstWatch: @Sendable () async throws -> Void
    /// Lists started, the resourceVersion of every watch, and of every list: asked for and answered.
    let state = Locked<(lists: Int, watches: [String], listRequests: [String?], listResults: [String])>((0, [], [], []))

    init(_ inner: ResourceClient<T>, beforeFirstWatch: @escaping @Sendable () async throws -> Void) {
        self.inner = inner
        self.beforeFirstWatch = beforeFirstWatch
    }

    func listPage(_ request: ListPageRequest) async throws -> ObjectList<T> {
        if request.continueToken == nil {
            state.withLock { $0.lists += 1; $0.listRequests.append(request.resourceVersion) }
        }
        let page = try await inner.listPage(request)
        if (page.metadata.continueToken ?? "").isEmpty {
            state.withLock { $0.listResults.append(page.metadata.resourceVersion ?? "") }
        }
        return page
    }

    func watchStream(_ request: WatchStreamRequest) -> AsyncThrowingStream<WatchEvent<T>, any Error> {
        let first = state.withLock { s -> Bool in
            s.watches.append(request.resourceVersion)
            return s.watches.count == 1
        }
        guard first else { return inner.watchStream(request) }
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: WatchEvent<T>.self)
        let inner = self.inner
        let hook = beforeFirstWatch
        let task = Task {
            do {
                try await hook()
                var stale = request
                stale.resourceVersion = "1"
                for try await event in inner.watchStream(stale) { continuation.yield(event) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}

/// A LeaseStore that can be cut off from the server, to simulate a partitioned leader.
final class PartitionableLeaseStore: LeaseStore {
    struct Partitioned: Error, CustomStringConvertible { var description: String { "simulated network partition" } }
    let inner: ResourceClient<Lease>
    let partitioned = Locked(false)
    /// The last record this candidate wrote successfully.
    let lastWritten = Locked<LeaseSpec?>(nil)
    init(_ inner: ResourceClient<Lease>) { self.inner = inner }

    private func check() throws { if partitioned.value { throw Partitioned() } }
    func lease(named name: String) async throws -> Lease? { try check(); return try await inner.lease(named: name) }
    func createLease(_ lease: Lease) async throws -> Lease {
        try check()
        let stored = try await inner.createLease(lease)
        lastWritten.withLock { $0 = lease.spec }
        return stored
    }
    func updateLease(_ lease: Lease) async throws -> Lease {
        try check()
        let stored = try await inner.updateLease(lease)
        lastWritten.withLock { $0 = lease.spec }
        return stored
    }
    func isWriteConflict(_ error: any Error) -> Bool { inner.isWriteConflict(error) }
}
