import Foundation
import KubeClient
import KubeCore
import LabTesting
import Testing
@testable import KubeRuntime

/// Runtime against a real API server: the lab API server over HTTPS, or AUTOMAGIC_TEST_KUBECONFIG.
@Suite(.serialized) struct RuntimeIntegrationTests {
    @Test func informerSeesCreatesUpdatesAndDeletes() async throws {
        let cluster = try TestCluster.start()
        try await cluster.run {
            let leases = cluster.leases
            for suffix in ["a", "b", "c"] { _ = try await leases.create(cluster.lease(suffix)) }
            // Pages of 2 make the first list paginated.
            let informer = Informer(source: leases, configuration: WatcherConfiguration(labelSelector: cluster.selector, pageSize: 2))
            let runner = Task { await informer.run() }
            defer { runner.cancel() }
            await informer.waitUntilSynced()
            #expect(informer.store.keys().map(\.name) == ["a", "b", "c"].map { "\(cluster.prefix)-\($0)" })
            #expect(informer.store.keys().allSatisfy { $0.namespace == "default" })
            let changes = informer.changes(replay: false)

            _ = try await leases.create(cluster.lease("d", holder: "new"))
            _ = try await leases.modify("\(cluster.prefix)-a") { $0.spec?.holderIdentity = "changed" }
            try await leases.delete("\(cluster.prefix)-b")

            let store = informer.store
            #expect(try await eventually {
                store.keys().map(\.name) == ["a", "c", "d"].map { "\(cluster.prefix)-\($0)" }
                    && store.get(name: "\(cluster.prefix)-a", namespace: "default")?.spec?.holderIdentity == "changed"
            })
            var seen: [String] = []
            for await change in changes {
                let name = String(change.key.name.dropFirst(cluster.prefix.count + 1))
                switch change {
                case .added: seen.append("+" + name)
                case .updated: seen.append("~" + name)
                case .deleted: seen.append("-" + name)
                }
                if seen.count == 3 { break }
            }
            #expect(seen == ["+d", "~a", "-b"])
            #expect(informer.lastFailure == nil)
        }
    }

    @Test(.enabled(if: RealCluster.isAbsent,
                   "needs the lab's historyLimit to make resourceVersion 1 too old; a real server may still serve it"))
    func goneWatchRelistsAndReplacesTheCache() async throws {
        // A small watch history on the lab makes resourceVersion 1 too old, as on any real cluster.
        let cluster = try TestCluster.start(historyLimit: 5)
        try await cluster.run {
            let leases = cluster.leases
            for suffix in ["keep", "stale"] { _ = try await leases.create(cluster.lease(suffix)) }
            for i in 0..<6 { _ = try await leases.modify("\(cluster.prefix)-keep") { $0.spec?.leaseTransitions = i } }
            let source = StaleFirstWatchSource(leases) {
                // The object disappears while the informer is not watching: only a relist can notice.
                try await leases.delete("\(cluster.prefix)-stale")
            }
            let informer = Informer(source: source, configuration: WatcherConfiguration(labelSelector: cluster.selector),
                                    backoff: Backoff(initial: .milliseconds(50), maximum: .seconds(1)))
            let changes = informer.changes(replay: false)
            let runner = Task { await informer.run() }
            defer { runner.cancel() }
            #expect(try await eventually { source.state.value.lists == 2 && source.state.value.watches.count == 2 })
            let store = informer.store
            #expect(try await eventually { store.keys().map(\.name) == ["\(cluster.prefix)-keep"] })
            var deleted: [String] = []
            for await change in changes {
                if case .deleted(let lease) = change { deleted.append(lease.metadata.name ?? "") }
                if !deleted.isEmpty { break }
            }
            #expect(deleted == ["\(cluster.prefix)-stale"])
            // The relist asked for no resourceVersion (a fresh, consistent list), and the second watch
            // resumes from that list's resourceVersion, not from "1".
            let state = source.state.value
            try #require(state.watches.count >= 2 && state.listRequests.count >= 2 && state.listResults.count >= 2)
            #expect(state.watches[0] == state.listResults[0])
            #expect(state.listRequests[1] == nil || state.listRequests[1] == "")
            #expect(state.watches[1] == state.listResults[1])
            #expect(state.watches[1] != "1")
        }
    }

    /// Four writers increment one counter 5 times each through `retryOnConflict`. Their first reads are
    /// held until all four have read, so they write the same resourceVersion and at least 3 get a real 409;
    /// every write lands exactly once (the counter ends at 20) and each conflict cost one more attempt.
    @Test func conflictRetryConverges() async throws {
        let cluster = try TestCluster.start()
        try await cluster.run {
            let leases = cluster.leases
            let name = "\(cluster.prefix)-counter"
            _ = try await leases.create(cluster.lease("counter"))
            let attempts = Locked(0)
            let conflicts = Locked(0)
            let firstReads = Locked(0)
            let policy = ConflictRetry(attempts: 100, delay: .milliseconds(5), jitter: 0.5)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        var waitedAtBarrier = false
                        for _ in 0..<5 {
                            _ = try await retryOnConflict(what: name, policy: policy, isConflict: { error in
                                let conflict = isConflictError(error)
                                if conflict { conflicts.withLock { $0 += 1 } }
                                return conflict
                            }) {
                                var lease = try await leases.get(name)
                                attempts.withLock { $0 += 1 }
                                if !waitedAtBarrier {
                                    waitedAtBarrier = true
                                    firstReads.withLock { $0 += 1 }
                                    #expect(try await eventually { firstReads.value == 4 })
                                }
                                let current = lease.spec?.leaseTransitions ?? 0
                                lease.spec?.leaseTransitions = current + 1
                                return try await leases.update(lease)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let final = try await leases.get(name)
            #expect(final.spec?.leaseTransitions == 20)
            #expect(conflicts.value >= 3, "the four writes of the same resourceVersion must conflict")
            #expect(attempts.value == 20 + conflicts.value)
        }
    }

    @Test func leaderElectionHandsOverOnlyAfterTheLeaseExpires() async throws {
        let cluster = try TestCluster.start()
        try await cluster.run {
            let leaseName = "\(cluster.prefix)-leader"
            let timings = (lease: Duration.seconds(4), renew: Duration.seconds(3), retry: Duration.milliseconds(500))
            func candidate(_ id: String, _ store: PartitionableLeaseStore) -> LeaderElector {
                LeaderElector(store: store, leaseName: leaseName, namespace: cluster.namespace,
                              configuration: LeaderElectionConfiguration(identity: id, leaseDuration: timings.lease,
                                                                         renewDeadline: timings.renew, retryPeriod: timings.retry))
            }
            let storeA = PartitionableLeaseStore(cluster.leases)
            let storeB = PartitionableLeaseStore(cluster.leases)
            let a = candidate("\(cluster.prefix)-a", storeA)
            let b = candidate("\(cluster.prefix)-b", storeB)
            let clock = ContinuousClock()
            let log = Locked<[String: ContinuousClock.Instant]>([:])
            let runA = Task {
                try await a.run {
                    log.withLock { $0["a-start"] = clock.now }
                    do { try await Task.sleep(for: .seconds(3600)) } catch { log.withLock { $0["a-stop"] = clock.now } }
                }
            }
            #expect(try await eventually { a.isLeader })
            let runB = Task {
                try await b.run {
                    log.withLock { $0["b-start"] = clock.now }
                    do { try await Task.sleep(for: .seconds(3600)) } catch {}
                }
            }
            // B campaigns for longer than a lease duration while A renews: A keeps the lease.
            try await Task.sleep(for: .seconds(5))
            #expect(a.isLeader)
            #expect(!b.isLeader)
            #expect(b.observedLeader == "\(cluster.prefix)-a")

            storeA.partitioned.withLock { $0 = true }
            let cut = clock.now
            #expect(try await runA.value == .leadershipLost)
            // `isLeader` turns true just before B's callback runs: wait for the callback too.
            for _ in 0..<200 where !b.isLeader || log.value["b-start"] == nil { try await Task.sleep(for: .milliseconds(50)) }
            #expect(b.isLeader)
            let events = log.value
            let aStop = try #require(events["a-stop"])
            let bStart = try #require(events["b-start"])
            #expect(aStop - cut <= timings.renew + .seconds(2), "A stops acting within the renew deadline")
            #expect(aStop < bStart, "never two leaders at once")
            let stored = try await cluster.leases.get(leaseName)
            // B acquired at least a lease duration after A's last renewal (both times from this machine's clock).
            let lastRenewalByA = try #require(storeA.lastWritten.value?.renewTime.flatMap(KubeTime.parse))
            let acquiredByB = try #require(stored.spec?.acquireTime.flatMap(KubeTime.parse))
            #expect(acquiredByB.timeIntervalSince(lastRenewalByA) >= 4 - 0.001, "B waits for the lease to expire")
            #expect(stored.spec?.holderIdentity == "\(cluster.prefix)-b")
            #expect(stored.spec?.leaseTransitions == 1)
            let renewTime = try #require(stored.spec?.renewTime)
            #expect(renewTime.split(separator: ".").last?.count == 7, "MicroTime has six fractional digits: \(renewTime)")

            // Graceful shutdown releases the lease.
            runB.cancel()
            #expect(try await runB.value == .cancelled)
            let released = try await cluster.leases.get(leaseName)
            #expect(released.spec?.holderIdentity ?? "" == "")
            try await cluster.leases.delete(leaseName)
        }
    }
}
