import CSockets
import Glibc
import Synchronization

/// Milliseconds on the monotonic clock.
func monotonicMilliseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

extension Duration {
    var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}

/// Linux `POLLRDHUP` (peer closed its writing side); not exported by the Glibc module.
let pollReadHangUp: Int16 = csockets_pollrdhup()

/// The text of a NUL-terminated C buffer.
func cString(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}

/// Why a read or write on a connection stopped.
enum TransportFailure: Error, Equatable {
    case timedOut
    case closed
    case failed(String)
}

/// One accepted, non-blocking socket, optionally wrapped in a secure session (TLS), with deadline-bounded I/O.
///
/// Threading: reads happen only on the connection's thread; writes are serialized by the
/// response writer's lock; `peerHasGone()` and `shutdown()` only call `poll`/`shutdown` on the
/// descriptor, which is safe from any thread. The descriptor is closed only by `close()`,
/// called by the connection thread after everything else let go.
final class Transport: @unchecked Sendable {
    let fd: Int32
    private(set) var session: (any SecureSession)?
    let writeTimeoutMilliseconds: Int64
    /// Set once the descriptor is closed, so `shutdown()` from `stop()` never hits a reused descriptor.
    private let closed = Mutex(false)
    /// When the connection began waiting for a request (monotonic ms, `> 0`): it has no complete
    /// request head, so no handler runs for it; `0` while a request is being served, `-1` once
    /// evicted. See ``markWaiting()``, ``markServing()`` and ``evictIfWaiting(since:)``.
    private let waitingSince = Atomic<Int64>(0)
    /// Reused read buffer (reads happen on one thread only).
    /// 16 KiB: the largest TLS record, so one TLS read never needs more; small enough for many idle watchers.
    private var scratch = [UInt8](repeating: 0, count: 16 * 1024)

    init(fd: Int32, writeTimeoutMilliseconds: Int64) {
        self.fd = fd
        self.writeTimeoutMilliseconds = writeTimeoutMilliseconds
    }

    /// Performs the server side of the handshake before `deadline`.
    func handshake(context: any SecurityContext, deadline: Int64) throws(TransportFailure) {
        let session: any SecureSession
        switch context.session(socket: fd) {
        case .success(let s): session = s
        case .failure(let error): throw .failed(error.description)
        }
        self.session = session
        while true {
            switch session.handshake() {
            case .done: return
            case .wantRead: try wait(for: Int16(POLLIN), deadline: deadline)
            case .wantWrite: try wait(for: Int16(POLLOUT), deadline: deadline)
            case .closed: throw .closed
            case .failed(let message): throw .failed(message)
            }
        }
    }

    /// The verified client certificate identity, if any.
    func peerIdentity() -> PeerIdentity? { session?.peerIdentity() }

    /// Reads available bytes (at most `max`) into `buffer`, waiting until `deadline`.
    /// Returns the count (> 0); throws `.closed` at end of stream.
    func read(into buffer: inout [UInt8], max: Int, deadline: Int64) throws(TransportFailure) -> Int {
        let max = Swift.min(max, scratch.count)
        while true {
            if let session {
                let outcome = scratch.withUnsafeMutableBytes { session.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<max])) }
                switch outcome {
                case .done(let n):
                    buffer.append(contentsOf: scratch[0..<n])
                    return n
                case .wantRead: try wait(for: Int16(POLLIN), deadline: deadline)
                case .wantWrite: try wait(for: Int16(POLLOUT), deadline: deadline)
                case .closed: throw .closed
                case .failed(let message): throw .failed(message)
                }
            } else {
                let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, max, 0) }
                if n > 0 {
                    buffer.append(contentsOf: scratch[0..<n])
                    return n
                }
                if n == 0 { throw .closed }
                let e = errno
                if e == EINTR { continue }
                if e == EAGAIN || e == EWOULDBLOCK {
                    try wait(for: Int16(POLLIN), deadline: deadline)
                    continue
                }
                if e == ECONNRESET { throw .closed }
                throw .failed(String(cString: strerror(e)))
            }
        }
    }

    /// Writes all of `bytes`; each stall may last at most the write timeout.
    func write(_ bytes: [UInt8]) throws(TransportFailure) {
        var offset = 0
        while offset < bytes.count {
            let deadline = monotonicMilliseconds() + writeTimeoutMilliseconds
            if let session {
                let len = min(bytes.count - offset, 1 << 20)
                let outcome = bytes.withUnsafeBytes { session.write(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + len)])) }
                switch outcome {
                case .done(let n): offset += n
                case .wantWrite: try wait(for: Int16(POLLOUT), deadline: deadline)
                case .wantRead: try wait(for: Int16(POLLIN), deadline: deadline)
                case .closed: throw .closed
                case .failed(let message): throw .failed(message)
                }
            } else {
                let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
                if n >= 0 {
                    offset += n
                    continue
                }
                let e = errno
                if e == EINTR { continue }
                if e == EAGAIN || e == EWOULDBLOCK {
                    try wait(for: Int16(POLLOUT), deadline: deadline)
                    continue
                }
                if e == EPIPE || e == ECONNRESET { throw .closed }
                throw .failed(String(cString: strerror(e)))
            }
        }
    }

    /// Whether bytes already buffered (inside TLS) are waiting to be read.
    var hasBufferedInput: Bool { session?.hasBufferedInput ?? false }

    /// Whether the peer closed its side or the socket failed (non-blocking check).
    func peerHasGone() -> Bool {
        if closed.withLock({ $0 }) { return true }
        var pfd = pollfd(fd: fd, events: pollReadHangUp, revents: 0)
        let rc = poll(&pfd, 1, 0)
        guard rc > 0 else { return false }
        return pfd.revents & (pollReadHangUp | Int16(POLLHUP) | Int16(POLLERR) | Int16(POLLNVAL)) != 0
    }

    /// Waits until the socket is ready for `events` or `deadline` passes.
    private func wait(for events: Int16, deadline: Int64) throws(TransportFailure) {
        while true {
            let remaining = deadline - monotonicMilliseconds()
            if remaining <= 0 { throw .timedOut }
            var pfd = pollfd(fd: fd, events: events, revents: 0)
            let rc = poll(&pfd, 1, Int32(clamping: remaining))
            if rc > 0 {
                if pfd.revents & Int16(POLLNVAL) != 0 { throw .closed }
                return  // readable/writable or HUP/ERR: the next I/O call reports the outcome
            }
            if rc == 0 { throw .timedOut }
            if errno != EINTR { throw .failed(String(cString: strerror(errno))) }
        }
    }

    /// The connection now waits for a request (after accept, and between keep-alive requests).
    func markWaiting() {
        _ = waitingSince.compareExchange(expected: 0, desired: Swift.max(1, monotonicMilliseconds()), ordering: .relaxed)
    }

    /// A complete request head arrived: the connection serves it and cannot be evicted. False when
    /// the server evicted the connection first (it must then close without serving).
    func markServing() -> Bool {
        while true {
            let current = waitingSince.load(ordering: .relaxed)
            if current < 0 { return false }
            if waitingSince.compareExchange(expected: current, desired: 0, ordering: .relaxed).exchanged { return true }
        }
    }

    /// Since when the connection waits for a request; nil while it serves one or once evicted.
    var waitingSinceMilliseconds: Int64? {
        let value = waitingSince.load(ordering: .relaxed)
        return value > 0 ? value : nil
    }

    /// Evicts the connection if it still waits for a request since `since`: it is shut down (its
    /// thread sees the close and ends). False when it started serving meanwhile.
    func evictIfWaiting(since: Int64) -> Bool {
        guard waitingSince.compareExchange(expected: since, desired: -1, ordering: .relaxed).exchanged else { return false }
        shutdown()
        return true
    }

    /// Wakes any blocked I/O on this socket (used by `HTTPServer.stop()`).
    func shutdown() {
        closed.withLock { isClosed in
            if !isClosed { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    /// Ends the secure session (TLS close_notify, best effort), frees it and closes the descriptor.
    func close() {
        if let session {
            session.close()
            self.session = nil
        }
        closed.withLock { isClosed in
            if !isClosed { _ = Glibc.close(fd) }
            isClosed = true
        }
    }
}
