import Foundation
import KubeClient
import KubeCore
import LabTesting
import Testing
@testable import KubeRuntime

/// A source that records every list page request and its outcome, and runs `beforeFirstContinue`
/// once, just before the first request for a later page.
final class RecordingListSource<T: KubernetesObject>: ListWatchSource, Sendable {
    typealias Object = T
    struct Page: Sendable { var continueToken: String?; var resourceVersion: String?; var outcome: String }
    let inner: ResourceClient<T>
    let beforeFirstContinue: @Sendable () async throws -> Void
    let pages = Locked<[Page]>([])
    let watches = Locked<[String]>([])

    init(_ inner: ResourceClient<T>, beforeFirstContinue: @escaping @Sendable () async throws -> Void) {
        self.inner = inner
        self.beforeFirstContinue = beforeFirstContinue
    }

    func listPage(_ request: ListPageRequest) async throws -> ObjectList<T> {
        if request.continueToken != nil, !pages.value.contains(where: { $0.continueToken != nil }) { try await beforeFirstContinue() }
        do {
            let page = try await inner.listPage(request)
            pages.withLock { $0.append(Page(continueToken: request.continueToken, resourceVersion: request.resourceVersion, outcome: "\(page.items.count) items")) }
            return page
        } catch {
            pages.withLock { $0.append(Page(continueToken: request.continueToken, resourceVersion: request.resourceVersion,
                                            outcome: ListWatchError.isGone(error) ? "410" : "\(error)")) }
            throw error
        }
    }

    func watchStream(_ request: WatchStreamRequest) -> AsyncThrowingStream<WatchEvent<T>, any Error> {
        watches.withLock { $0.append(request.resourceVersion) }
        return inner.watchStream(request)
    }
}

@Suite(.serialized) struct ListRestartTests {
    /// The lab keeps 4 changes; a first page is listed, then 12 writes push its snapshot out of the
    /// history, so page 2 answers 410 Expired (as kube-apiserver does once etcd compacted it). The
    /// watcher lists again from page 1, with no token and no resourceVersion, and its cache holds
    /// the new snapshot whole.
    @Test(.enabled(if: RealCluster.isAbsent,
                   "expiring a continue token needs the lab's short history; a real server compacts every 5 minutes"))
    func expiredContinueTokenOnPageTwoRelistsFromPageOne() async throws {
        let cluster = try TestCluster.start(historyLimit: 4)
        try await cluster.run {
            let leases = cluster.leases
            for suffix in ["a", "b", "c", "d", "e"] { _ = try await leases.create(cluster.lease(suffix)) }
            let source = RecordingListSource(leases) {
                _ = try await leases.create(cluster.lease("f"))
                for i in 0..<11 { _ = try await leases.modify("\(cluster.prefix)-a") { $0.spec?.leaseTransitions = i } }
            }
            let informer = Informer(source: source, configuration: WatcherConfiguration(labelSelector: cluster.selector, pageSize: 2),
                                    backoff: Backoff(initial: .milliseconds(50), maximum: .seconds(1)))
            let runner = Task { await informer.run() }
            defer { runner.cancel() }
            await informer.waitUntilSynced()
            #expect(informer.store.keys().map(\.name) == ["a", "b", "c", "d", "e", "f"].map { "\(cluster.prefix)-\($0)" })
            let pages = source.pages.value
            try #require(pages.count >= 5, "\(pages)")
            #expect(pages[0].continueToken == nil && pages[0].outcome == "2 items")
            #expect(pages[1].continueToken != nil && pages[1].outcome == "410", "\(pages[1])")
            // Page 1 again: a fresh list, not the stale token, not an old resourceVersion.
            #expect(pages[2].continueToken == nil && (pages[2].resourceVersion ?? "").isEmpty, "\(pages[2])")
            #expect(pages[2].outcome == "2 items")
            #expect(pages[3...].allSatisfy { $0.continueToken != nil && $0.outcome.hasSuffix("items") }, "\(pages)")
            #expect(pages.count == 5, "6 objects in pages of 2 after the restart: \(pages)")
            // The watch starts from the restarted list's snapshot.
            #expect(try await eventually { !source.watches.value.isEmpty })
            let firstWatch = try #require(source.watches.value.first)
            let watchRV = try #require(Int(firstWatch))
            let written = try await leases.get("\(cluster.prefix)-a").metadata.resourceVersion ?? ""
            let lastWrite = try #require(Int(written))
            #expect(watchRV >= lastWrite)
        }
    }
}
