#if canImport(Glibc)
import Glibc
#endif

/// Polls `condition` every `interval` until it holds or `timeout` passes; the last try is at the
/// deadline. Returns whether it held. A cancelled test stops waiting early (the last try still
/// decides).
public func eventually(timeout: Duration = .seconds(5), every interval: Duration = .milliseconds(10),
                       _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        do { try await Task.sleep(for: interval) } catch { break }
    }
    return try await condition()
}

/// ``eventually(timeout:every:_:)`` for synchronous code: the calling thread sleeps between tries.
public func eventuallyBlocking(timeout: Duration = .seconds(3), every interval: Duration = .milliseconds(10),
                               _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    let (seconds, attoseconds) = interval.components
    let pause = useconds_t(max(0, seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        usleep(pause)
    }
    return try condition()
}

/// Polls `condition` every `interval` until it holds; throws a `TestFailure` naming `what` when it
/// still does not hold after `timeout`.
public func waitUntil(_ what: String, timeout: Duration = .seconds(20), every interval: Duration = .milliseconds(100),
                      _ condition: () async throws -> Bool) async throws {
    guard try await eventually(timeout: timeout, every: interval, condition) else {
        throw TestFailure("timed out after \(timeout) waiting for \(what)")
    }
}
