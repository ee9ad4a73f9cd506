import FoundationEssentials
import KubeCore
import Synchronization
import Testing
@testable import KubeRuntime

/// An in-memory Lease "server" with resourceVersion conflicts, and per-candidate views that can be cut off.
final class FakeLeaseServer: Sendable {
    struct Conflict: Error {}
    struct Unreachable: Error {}
    let state = Mutex<(lease: Lease?, rv: Int, writes: [LeaseSpec])>((nil, 0, []))

    var lease: Lease? { state.withLock { $0.lease } }
    var writes: [LeaseSpec] { state.withLock { $0.writes } }

    /// Stores `lease` with the next resourceVersion when `accepts` the current one (else 409 Conflict).
    func write(_ lease: Lease, if accepts: (Lease?) -> Bool) throws -> Lease {
        try state.withLock { s in
            guard accepts(s.lease) else { throw Conflict() }
            s.rv += 1
            var stored = lease
            stored.metadata.resourceVersion = String(s.rv)
            s.lease = stored
            if let spec = lease.spec { s.writes.append(spec) }
            return stored
        }
    }

    final class View: LeaseStore {
        let server: FakeLeaseServer
        let partitioned = Mutex(false)
        init(_ server: FakeLeaseServer) { self.server = server }

        func check() throws { if partitioned.withLock({ $0 }) { throw Unreachable() } }

        func lease(named name: String) async throws -> Lease? {
            try check()
            return server.state.withLock { $0.lease }
        }
        func createLease(_ lease: Lease) async throws -> Lease {
            try check()
            return try server.write(lease) { $0 == nil }
        }
        func updateLease(_ lease: Lease) async throws -> Lease {
            try check()
            return try server.write(lease) { $0 != nil && $0?.metadata.resourceVersion == lease.metadata.resourceVersion }
        }
        func isWriteConflict(_ error: any Error) -> Bool { error is Conflict }
    }
}

@Suite struct LeaderElectionStateTests {
    let config = LeaderElectionConfiguration(identity: "a")
    let wall = Date(timeIntervalSince1970: 1_800_000_000.123456)

    /// Expects `record` to be candidate a's new acquisition (acquired when renewed) after `transitions` changes of holder.
    func expectAcquiredByA(_ record: LeaseSpec, transitions: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(record.holderIdentity == "a", sourceLocation: sourceLocation)
        #expect(record.leaseTransitions == transitions, sourceLocation: sourceLocation)
        #expect(record.acquireTime == record.renewTime, sourceLocation: sourceLocation)
    }

    @Test func createsAMissingLeaseWithMicrosecondTimes() {
        var machine = LeaderElectionState(configuration: config)
        let (decision, transition) = machine.decide(current: nil, now: .now, wallNow: wall)
        #expect(transition == nil)
        guard case .create(let record) = decision else { Issue.record("expected create, got \(decision)"); return }
        expectAcquiredByA(record, transitions: 0)
        #expect(record.leaseDurationSeconds == 15)
        #expect(record.renewTime == "2027-01-15T08:00:00.123456Z")
    }

    @Test func waitsForExpiryOnItsOwnClockThenTakesOver() {
        var machine = LeaderElectionState(configuration: config)
        let t0 = ContinuousClock.now
        // The holder's renewTime is far in the past on its clock: irrelevant, we judge by observation time.
        let held = LeaseSpec(holderIdentity: "b", leaseDurationSeconds: 15, acquireTime: "2000-01-01T00:00:00.000000Z",
                             renewTime: "2000-01-01T00:00:00.000000Z", leaseTransitions: 3)
        #expect(machine.decide(current: held, now: t0, wallNow: wall).0 == .heldByOther(holder: "b"))
        #expect(machine.decide(current: held, now: t0.advanced(by: .seconds(14)), wallNow: wall).0 == .heldByOther(holder: "b"))
        // A renewal by b (record changed) restarts the observation.
        var renewed = held
        renewed.renewTime = "2000-01-01T00:00:10.000000Z"
        #expect(machine.decide(current: renewed, now: t0.advanced(by: .seconds(14)), wallNow: wall).0 == .heldByOther(holder: "b"))
        #expect(machine.decide(current: renewed, now: t0.advanced(by: .milliseconds(28_999)), wallNow: wall).0 == .heldByOther(holder: "b"))
        let (decision, _) = machine.decide(current: renewed, now: t0.advanced(by: .seconds(29)), wallNow: wall)
        guard case .update(let record) = decision else { Issue.record("expected update, got \(decision)"); return }
        expectAcquiredByA(record, transitions: 4)
    }

    @Test func renewalKeepsAcquireTimeAndTransitions() {
        var machine = LeaderElectionState(configuration: config)
        let t0 = ContinuousClock.now
        let mine = LeaseSpec(holderIdentity: "a", leaseDurationSeconds: 15, acquireTime: "2026-11-28T22:00:00.000001Z",
                             renewTime: "2026-11-28T22:00:00.000001Z", leaseTransitions: 2)
        #expect(machine.written(mine, now: t0) == .startedLeading)
        let (decision, _) = machine.decide(current: mine, now: t0.advanced(by: .seconds(2)), wallNow: wall)
        guard case .update(let record) = decision else { Issue.record("expected update"); return }
        #expect(record.acquireTime == "2026-11-28T22:00:00.000001Z")
        #expect(record.leaseTransitions == 2)
        #expect(record.renewTime == "2027-01-15T08:00:00.123456Z")
    }

    @Test func leaderStopsAfterTheRenewDeadline() {
        var machine = LeaderElectionState(configuration: config)
        let t0 = ContinuousClock.now
        _ = machine.written(LeaseSpec(holderIdentity: "a", leaseDurationSeconds: 15), now: t0)
        #expect(machine.attemptFailed(now: t0.advanced(by: .seconds(9))) == nil)
        #expect(machine.isLeader)
        #expect(machine.attemptFailed(now: t0.advanced(by: .seconds(10))) == .stoppedLeading)
        #expect(!machine.isLeader)
    }

    @Test func leaderThatSeesAnotherHolderStops() {
        var machine = LeaderElectionState(configuration: config)
        let t0 = ContinuousClock.now
        _ = machine.written(LeaseSpec(holderIdentity: "a", leaseDurationSeconds: 15), now: t0)
        let stolen = LeaseSpec(holderIdentity: "b", leaseDurationSeconds: 15, renewTime: "x")
        let (decision, transition) = machine.decide(current: stolen, now: t0.advanced(by: .seconds(2)), wallNow: wall)
        #expect(decision == .heldByOther(holder: "b"))
        #expect(transition == .stoppedLeading)
    }

    @Test func releaseEmptiesTheHolder() {
        var machine = LeaderElectionState(configuration: config)
        #expect(machine.release(wallNow: wall) == nil)
        _ = machine.written(LeaseSpec(holderIdentity: "a", leaseDurationSeconds: 15, leaseTransitions: 5), now: .now)
        let record = machine.release(wallNow: wall)
        #expect(record?.holderIdentity == "")
        #expect(record?.leaseDurationSeconds == 1)
        #expect(record?.leaseTransitions == 5)
        // A released lease is free at once for anyone.
        var other = LeaderElectionState(configuration: LeaderElectionConfiguration(identity: "b"))
        guard let record else { Issue.record("no release record"); return }
        guard case .update(let taken) = other.decide(current: record, now: .now, wallNow: wall).0 else { Issue.record("expected update"); return }
        #expect(taken.leaseTransitions == 6)
    }

    @Test func inconsistentTimingsAreRejected() async throws {
        let bad = LeaderElectionConfiguration(identity: "a", leaseDuration: .seconds(5), renewDeadline: .seconds(10))
        #expect(!bad.problems.isEmpty)
        let elector = LeaderElector(store: FakeLeaseServer.View(FakeLeaseServer()), leaseName: "l", namespace: "ns", configuration: bad)
        await #expect(throws: KubeRuntimeError.self) { try await elector.run {} }
    }
}

@Suite struct LeaderElectorTests {
    /// Steps the manual clock in small increments, letting tasks run between steps.
    func drive(_ clock: ManualClock, for total: Duration, step: Duration = .milliseconds(250), until: () -> Bool = { false }) async throws {
        var elapsed = Duration.zero
        while elapsed < total, !until() {
            for _ in 0..<20 { await Task.yield() }
            try await Task.sleep(for: .milliseconds(2))
            clock.advance(by: step)
            elapsed += step
        }
        for _ in 0..<20 { await Task.yield() }
        try await Task.sleep(for: .milliseconds(5))
    }

    @Test func secondCandidateTakesOverOnlyAfterTheLeaseExpires() async throws {
        let clock = ManualClock()
        let server = FakeLeaseServer()
        let viewA = FakeLeaseServer.View(server)
        let viewB = FakeLeaseServer.View(server)
        let events = Locked<[(String, Duration)]>([])
        let start = clock.now
        @Sendable func record(_ what: String) { let t = clock.now - start; events.withLock { $0.append((what, t)) } }

        let a = LeaderElector(store: viewA, leaseName: "ctl", namespace: "ns", configuration: LeaderElectionConfiguration(identity: "a"), clock: clock)
        let b = LeaderElector(store: viewB, leaseName: "ctl", namespace: "ns", configuration: LeaderElectionConfiguration(identity: "b"), clock: clock)
        let runA = Task {
            try await a.run {
                record("a-start")
                do { try await Task.sleep(for: .seconds(3600)) } catch { record("a-stop") }
            }
        }
        try await drive(clock, for: .seconds(2), until: { a.isLeader })
        #expect(a.isLeader)
        let runB = Task {
            try await b.run {
                record("b-start")
                do { try await Task.sleep(for: .seconds(3600)) } catch {}
            }
        }
        // B campaigns while A renews: it never gets in.
        try await drive(clock, for: .seconds(30))
        #expect(a.isLeader)
        #expect(!b.isLeader)
        #expect(b.observedLeader == "a")

        // Cut A off from the API server.
        viewA.partitioned.withLock { $0 = true }
        let cut = clock.now - start
        try await drive(clock, for: .seconds(40), until: { b.isLeader })
        #expect(b.isLeader)
        #expect(try await runA.value == .leadershipLost)

        let log = events.value
        let aStop = try #require(log.first { $0.0 == "a-stop" }?.1)
        let bStart = try #require(log.first { $0.0 == "b-start" }?.1)
        #expect(aStop <= cut + .seconds(12), "A stops acting within the renew deadline")
        #expect(bStart >= cut + .seconds(12), "B waits for the lease to expire on its own clock")
        #expect(aStop < bStart, "never two leaders")
        #expect(server.lease?.spec?.holderIdentity == "b")
        #expect(server.lease?.spec?.leaseTransitions == 1)
        runB.cancel()
        #expect(try await runB.value == .cancelled)
    }

    @Test func gracefulShutdownReleasesTheLeaseForAnImmediateHandOver() async throws {
        let clock = ManualClock()
        let server = FakeLeaseServer()
        let a = LeaderElector(store: FakeLeaseServer.View(server), leaseName: "ctl", namespace: "ns",
                              configuration: LeaderElectionConfiguration(identity: "a"), clock: clock)
        let b = LeaderElector(store: FakeLeaseServer.View(server), leaseName: "ctl", namespace: "ns",
                              configuration: LeaderElectionConfiguration(identity: "b"), clock: clock)
        let runA = Task { try await a.run { try await Task.sleep(for: .seconds(3600)) } }
        try await drive(clock, for: .seconds(2), until: { a.isLeader })
        let runB = Task { try await b.run { try await Task.sleep(for: .seconds(3600)) } }
        try await drive(clock, for: .seconds(5))
        #expect(!b.isLeader)
        runA.cancel()
        #expect(try await runA.value == .cancelled)
        #expect(server.lease?.spec?.holderIdentity == "")
        let released = clock.now
        try await drive(clock, for: .seconds(10), until: { b.isLeader })
        #expect(b.isLeader)
        #expect(clock.now - released <= .seconds(3), "a released lease is taken at the next retry")
        runB.cancel()
        _ = try await runB.value
    }

    @Test func workThatReturnsEndsLeadership() async throws {
        let clock = ManualClock()
        let server = FakeLeaseServer()
        let a = LeaderElector(store: FakeLeaseServer.View(server), leaseName: "ctl", namespace: "ns",
                              configuration: LeaderElectionConfiguration(identity: "a"), clock: clock)
        let outcome = try await a.run {}
        #expect(outcome == .finished)
        #expect(!a.isLeader)
        #expect(server.lease?.spec?.holderIdentity == "")
    }
}
