// Graceful shutdown: turn SIGTERM/SIGINT into task cancellation.

import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Delivers process signals as an async stream (a `DispatchSource` per signal; the default action is
/// disabled while subscribed so the process is not killed before it can clean up).
public enum ShutdownSignals {
    /// The signals delivered as they arrive. Stop iterating to restore nothing (the default action stays
    /// disabled for the life of the process, as a service expects).
    public static func stream(_ signals: [Int32] = [SIGTERM, SIGINT]) -> AsyncStream<Int32> {
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self, bufferingPolicy: .unbounded)
        let queue = DispatchQueue(label: "automagic.runtime.signals")
        var sources: [any DispatchSourceSignal] = []
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            sources.append(source)
        }
        let retained = SignalSources(sources)
        continuation.onTermination = { _ in retained.cancel() }
        return stream
    }

    /// Runs `body` until it returns or one of `signals` arrives; a signal cancels `body`'s task and
    /// waits for it to finish (so it can release leases and drain queues). Returns the signal that
    /// arrived, or nil when `body` finished first.
    ///
    /// ```swift
    /// let signal = try await ShutdownSignals.runUntilSignalled {
    ///     try await withThrowingDiscardingTaskGroup { group in ... }
    /// }
    /// ```
    @discardableResult
    public static func runUntilSignalled(
        _ signals: [Int32] = [SIGTERM, SIGINT],
        _ body: @escaping @Sendable () async throws -> Void
    ) async throws -> Int32? {
        let stream = stream(signals)
        let work = Task { try await body() }
        let received = Locked<Int32?>(nil)
        let watcher = Task {
            for await signal in stream {
                received.withLock { $0 = signal }
                work.cancel()
                break
            }
        }
        defer { watcher.cancel() }
        return try await withTaskCancellationHandler {
            do {
                try await work.value
            } catch is CancellationError where received.value != nil {
            }
            return received.value
        } onCancel: {
            work.cancel()
        }
    }
}

/// Keeps the signal sources alive for as long as the stream is consumed.
private final class SignalSources: @unchecked Sendable {
    // Dispatch sources are thread-safe; they are only cancelled here.
    private let sources: [any DispatchSourceSignal]
    init(_ sources: [any DispatchSourceSignal]) { self.sources = sources }
    func cancel() { for source in sources { source.cancel() } }
}
