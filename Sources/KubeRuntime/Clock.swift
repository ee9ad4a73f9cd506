// Time sources for the runtime. Every state machine in KubeRuntime takes `now` as a
// parameter; the async drivers read it from a `RuntimeClock`, so tests can inject a
// `ManualClock` and step time forward deterministically.

import FoundationEssentials
import Synchronization

/// A monotonic clock (for timers, expiry and backoff) plus a wall clock (for timestamps that
/// are written to the API server, such as a Lease's `renewTime`).
public protocol RuntimeClock: Sendable {
    /// The current monotonic instant.
    var now: ContinuousClock.Instant { get }
    /// The current wall-clock time.
    var wallNow: Date { get }
    /// Suspends until `deadline`; throws `CancellationError` when the task is cancelled.
    func sleep(until deadline: ContinuousClock.Instant) async throws
}

extension RuntimeClock {
    /// Suspends for `duration`; throws `CancellationError` when the task is cancelled.
    public func sleep(for duration: Duration) async throws {
        try await sleep(until: now.advanced(by: duration))
    }
}

/// The real clocks: `ContinuousClock` and the system's wall clock.
public struct SystemRuntimeClock: RuntimeClock {
    /// Creates the system clock.
    public init() {}
    /// The current `ContinuousClock` instant.
    public var now: ContinuousClock.Instant { ContinuousClock.now }
    /// The current system time.
    public var wallNow: Date { Date() }
    /// Sleeps on `ContinuousClock`.
    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        try await ContinuousClock().sleep(until: deadline, tolerance: nil)
    }
}

/// A clock that only moves when a test calls `advance(by:)`. Sleepers wake in deadline order.
///
/// ```swift
/// let clock = ManualClock()
/// let task = Task { try await clock.sleep(for: .seconds(5)) }
/// await clock.waitForSleepers(1)
/// clock.advance(by: .seconds(5))   // `task` finishes
/// ```
public final class ManualClock: RuntimeClock {
    private struct Sleeper {
        var id: UInt64
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<Void, any Error>
    }
    private struct State {
        var offset: Duration = .zero
        var nextID: UInt64 = 0
        var sleepers: [Sleeper] = []
        var cancelledBeforeRegistration: Set<UInt64> = []
    }
    private let origin: ContinuousClock.Instant
    private let wallOrigin: Date
    private let state = Mutex(State())

    /// Creates a clock whose wall time starts at `wallStart`.
    public init(wallStart: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        origin = ContinuousClock.now
        wallOrigin = wallStart
    }

    /// The manual monotonic instant.
    public var now: ContinuousClock.Instant { origin.advanced(by: state.withLock { $0.offset }) }

    /// The manual wall time (the start plus every `advance`).
    public var wallNow: Date {
        let offset = state.withLock { $0.offset }
        let (seconds, attoseconds) = offset.components
        return wallOrigin.addingTimeInterval(Double(seconds) + Double(attoseconds) / 1e18)
    }

    /// How many tasks are currently sleeping on this clock.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// Suspends until `advance` moves the clock to `deadline` (returns at once if it is already there).
    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        let id = state.withLock { s -> UInt64 in s.nextID += 1; return s.nextID }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resume: Result<Void, any Error>? = state.withLock { s in
                    if s.cancelledBeforeRegistration.remove(id) != nil { return .failure(CancellationError()) }
                    if origin.advanced(by: s.offset) >= deadline { return .success(()) }
                    s.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return nil
                }
                if let resume { continuation.resume(with: resume) }
            }
        } onCancel: {
            let continuation = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                if let index = s.sleepers.firstIndex(where: { $0.id == id }) {
                    return s.sleepers.remove(at: index).continuation
                }
                s.cancelledBeforeRegistration.insert(id)
                return nil
            }
            continuation?.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward and wakes every sleeper whose deadline has been reached.
    public func advance(by duration: Duration) {
        let woken = state.withLock { s -> [Sleeper] in
            s.offset += duration
            let now = origin.advanced(by: s.offset)
            let due = s.sleepers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
            s.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in woken { sleeper.continuation.resume() }
    }

    /// Waits (polling briefly on the real clock, at most ~10 s) until at least `count` tasks sleep on this clock.
    public func waitForSleepers(_ count: Int) async {
        for _ in 0..<10_000 where sleeperCount < count {
            try? await Task.sleep(for: .milliseconds(1))
        }
    }
}

extension Duration {
    /// The duration in seconds as a `Double`.
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }

    /// Builds a duration from fractional seconds (negative values clamp to zero).
    static func fromSeconds(_ value: Double) -> Duration {
        guard value.isFinite, value > 0 else { return .zero }
        return .nanoseconds(Int64(min(value, 9e9) * 1e9))
    }
}
