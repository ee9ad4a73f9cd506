import Synchronization

/// An in-memory `HTTPResponseWriter` for calling handlers without sockets (unit tests,
/// sans-I/O cores). Records the head, every body write and whether the response finished;
/// `disconnect()` simulates the client going away.
///
/// ```swift
/// let recorder = HTTPResponseRecorder()
/// handler(HTTPRequest(method: "GET", target: "/healthz")!, recorder)
/// #expect(recorder.status == 200 && recorder.bodyText == "ok")
/// ```
public final class HTTPResponseRecorder: HTTPResponseWriter {
    private struct State {
        var status: Int?
        var headers = HTTPHeaders()
        var chunks: [[UInt8]] = []
        var finished = false
        var gone = false
        var goneActions: [@Sendable () -> Void] = []
    }

    private let state = Mutex(State())
    private let written = Mutex<[@Sendable ([UInt8]) -> Void]>([])

    /// Creates an empty recorder.
    public init() {}

    /// The status passed to `writeHead` (200 when the body was written first), nil before.
    public var status: Int? { state.withLock { $0.status } }
    /// The headers passed to `writeHead`.
    public var headers: HTTPHeaders { state.withLock { $0.headers } }
    /// Each `writeBody` call's bytes, in order.
    public var chunks: [[UInt8]] { state.withLock { $0.chunks } }
    /// All body bytes.
    public var body: [UInt8] { state.withLock { $0.chunks.flatMap { $0 } } }
    /// The body as UTF-8 text.
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
    /// Whether `finish()` was called.
    public var isFinished: Bool { state.withLock { $0.finished } }

    /// Calls `observer` with every later body write (to follow a stream from a test).
    public func onWrite(_ observer: @escaping @Sendable ([UInt8]) -> Void) {
        written.withLock { $0.append(observer) }
    }

    public func writeHead(status: Int, headers: HTTPHeaders) {
        state.withLock { s in
            guard s.status == nil else { return }
            s.status = status
            s.headers = headers
        }
    }

    @discardableResult
    public func writeBody(_ bytes: [UInt8]) -> Bool {
        let ok = state.withLock { s -> Bool in
            if s.status == nil { s.status = 200 }
            guard !s.finished, !s.gone else { return false }
            s.chunks.append(bytes)
            return true
        }
        if ok { for observer in written.withLock({ $0 }) { observer(bytes) } }
        return ok
    }

    public func finish() {
        state.withLock { s in
            if s.status == nil { s.status = 200 }
            s.finished = true
            s.goneActions = []
        }
    }

    public var isClientGone: Bool { state.withLock { $0.gone } }

    public func onClientGone(_ action: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { s -> Bool in
            if s.finished { return false }
            if s.gone { return true }
            s.goneActions.append(action)
            return false
        }
        if runNow { action() }
    }

    /// Simulates the client closing the connection: later writes fail and `onClientGone` actions run.
    public func disconnect() {
        let actions = state.withLock { s -> [@Sendable () -> Void] in
            s.gone = true
            let actions = s.goneActions
            s.goneActions = []
            return actions
        }
        for action in actions { action() }
    }
}
