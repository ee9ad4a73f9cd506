import NativeThreads
import CSockets
import Dispatch
import Glibc
import Logging
import Synchronization

/// Handles one request. Called on the connection's own thread, so it may block for a long
/// time (a watch stream); the connection reads its next request only after it returns.
public typealias HTTPHandler = @Sendable (HTTPRequest, any HTTPResponseWriter) -> Void

/// Builds the body of an answer the server sends on its own (400, 408, 413, 417, 431, 501,
/// 503, 505), from the status and a description of the problem. The server adds
/// `Content-Length` and `Connection: close`; the default answers `text/plain` with the description.
public typealias HTTPErrorResponder = @Sendable (_ status: Int, _ message: String) -> (headers: HTTPHeaders, body: [UInt8])

/// Resource limits and timeouts of an `HTTPServer`.
public struct HTTPLimits: Sendable, Hashable {
    /// Largest request head (request line + header fields); larger heads get 431 and a close.
    public var maxHeaderBytes: Int
    /// Most header fields in one request; more get 431 and a close.
    public var maxHeaderCount: Int
    /// Largest request body; larger bodies get 413 (before reading them when the length is declared) and a close.
    public var maxBodyBytes: Int
    /// Most simultaneous connections. When all are taken, the one that has waited longest for a
    /// request (idle keep-alive, or a request head still incomplete) is closed to make room; only
    /// when every connection is serving a request does a further client get 503 (plain HTTP) or a
    /// close (TLS). So idle or slow clients cannot lock others out.
    public var maxConnections: Int
    /// Time allowed for the TLS handshake.
    public var handshakeTimeout: Duration
    /// Time allowed for a complete request head once its first byte arrived (slowloris guard).
    public var headerTimeout: Duration
    /// Longest silence while reading a request body.
    public var readTimeout: Duration
    /// Time allowed for a complete request body once the head arrived (a client dripping bytes is cut off).
    public var bodyTimeout: Duration
    /// How long an idle keep-alive connection waits for its next request.
    public var idleTimeout: Duration
    /// Longest time one write may stall (a client that stops reading a stream is dropped after it).
    public var writeTimeout: Duration
    /// How long `stop()` waits for handlers to return after closing their connections.
    public var shutdownGracePeriod: Duration

    /// Creates limits; the defaults suit a Kubernetes-style API server (3 MiB bodies like kube-apiserver).
    public init(
        maxHeaderBytes: Int = 64 * 1024, maxHeaderCount: Int = 200, maxBodyBytes: Int = 3 * 1024 * 1024,
        maxConnections: Int = 1024, handshakeTimeout: Duration = .seconds(10), headerTimeout: Duration = .seconds(30),
        readTimeout: Duration = .seconds(30), bodyTimeout: Duration = .seconds(120), idleTimeout: Duration = .seconds(120), writeTimeout: Duration = .seconds(30),
        shutdownGracePeriod: Duration = .seconds(5)
    ) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
        self.maxConnections = maxConnections
        self.handshakeTimeout = handshakeTimeout
        self.headerTimeout = headerTimeout
        self.readTimeout = readTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
        self.writeTimeout = writeTimeout
        self.shutdownGracePeriod = shutdownGracePeriod
    }
}

/// A small HTTP/1.1 server over blocking-style sockets, with optional TLS (`security`; OpenSSL through
/// HTTPServerTLS, which this module does not link).
///
/// Design: one accept thread, and one thread per connection (not Swift's cooperative pool),
/// so handlers may block — a watch handler holds its connection's thread for as long as the
/// stream lasts. Connections are kept alive across requests; bodies may arrive with
/// `Content-Length` or chunked; `Expect: 100-continue` is honoured; responses without a
/// `Content-Length` are streamed chunked. Malformed requests get 400 and a close. SIGPIPE is
/// ignored process-wide when the server starts (OpenSSL writes through plain `write`).
///
/// ```swift
/// let server = HTTPServer(port: 0) { request, writer in
///     writer.respond(status: 200, text: "hello \(request.path)\n")
/// }
/// let port = try server.start()
/// defer { server.stop() }
/// ```
public final class HTTPServer: Sendable {
    private struct State {
        var started = false
        var stopping = false
        var listenFD: Int32 = -1
        var wakePipe: (Int32, Int32) = (-1, -1)
        var port = 0
        var connections: [Int: Transport] = [:]
        var nextConnectionID = 0
    }

    private let host: String
    private let requestedPort: Int
    private let security: (any TransportSecurity)?
    private let limits: HTTPLimits
    private let handler: HTTPHandler
    private let errorResponder: HTTPErrorResponder
    private let logger: Logger
    private let state = Mutex(State())
    private let monitor = ClientGoneMonitor()
    /// Signalled when the accept thread has exited.
    private let acceptDone = DispatchSemaphore(value: 0)
    /// Counts live connection threads; `stop()` waits for it to reach zero.
    private let liveThreads = ConditionLock()
    private let liveCount = Mutex(0)

    /// Creates a server; nothing happens until `start()`.
    /// - Parameters:
    ///   - host: a numeric address (`127.0.0.1`, `::1`, `0.0.0.0`, `::`) or a host name; brackets are allowed.
    ///   - port: the TCP port; 0 picks a free one (returned by `start()`).
    ///   - security: serve HTTPS with this (HTTPServerTLS's `TLSConfiguration`); nil serves plain HTTP.
    ///   - limits: sizes and timeouts.
    ///   - errorResponder: builds the server's own error answers; nil answers plain text.
    ///   - logger: where connection-level problems are logged (debug) and failures (error).
    ///   - handler: called for every complete request.
    public init(
        host: String = "127.0.0.1", port: Int = 0, security: (any TransportSecurity)? = nil, limits: HTTPLimits = .init(),
        errorResponder: HTTPErrorResponder? = nil, logger: Logger = Logger(label: "automagic.http"),
        handler: @escaping HTTPHandler
    ) {
        self.host = host
        self.requestedPort = port
        self.security = security
        self.limits = limits
        self.errorResponder = errorResponder ?? { _, message in
            (["Content-Type": "text/plain; charset=utf-8"], Array((message + "\n").utf8))
        }
        self.logger = logger
        self.handler = handler
    }

    /// The bound port (0 before `start()`).
    public var port: Int { state.withLock { $0.port } }

    /// Binds, listens and starts accepting on a background thread. Returns the bound port.
    @discardableResult
    public func start() throws(HTTPServerError) -> Int {
        try state.withLock { s throws(HTTPServerError) in
            if s.started { throw .alreadyStarted }
            s.started = true
        }
        signal(SIGPIPE, SIG_IGN)
        let tlsContext: (any SecurityContext)?
        let fd: Int32, port: Int
        var pipeFDs: [Int32] = [-1, -1]
        do throws(HTTPServerError) {
            tlsContext = try security.map { security throws(HTTPServerError) in try security.context() }
            (fd, port) = try Self.listen(host: host, port: requestedPort)
            guard csockets_pipe_nonblocking(&pipeFDs) == 0 else {
                Glibc.close(fd)
                throw .listen(address: "\(host):\(port)", cause: "pipe2: \(String(cString: strerror(errno)))")
            }
        } catch {
            state.withLock { $0.started = false }  // nothing is running: the caller may fix things and retry
            throw error
        }
        let wakeRead = pipeFDs[0], wakeWrite = pipeFDs[1]
        state.withLock { s in
            s.listenFD = fd
            s.port = port
            s.wakePipe = (wakeRead, wakeWrite)
        }
        let started = NativeThread.start(name: "http-accept-\(port)") { [self] in
            self.acceptLoop(listenFD: fd, wakeFD: wakeRead, tls: tlsContext)
            self.acceptDone.signal()
        }
        if !started {
            Glibc.close(fd)
            Glibc.close(wakeRead)
            Glibc.close(wakeWrite)
            state.withLock { s in
                s.listenFD = -1
                s.wakePipe = (-1, -1)
                s.started = false
            }
            throw .listen(address: "\(host):\(port)", cause: "cannot start the accept thread")
        }
        logger.debug("HTTP server listening", metadata: ["address": "\(host)", "port": "\(port)", "tls": "\(tlsContext != nil)"])
        return port
    }

    /// Stops accepting, closes every connection (streaming handlers see their client go away),
    /// and waits for the connection threads to finish (at most `limits.shutdownGracePeriod`;
    /// a handler that ignores `onClientGone`/failed writes, or that calls `stop()` itself, is
    /// left running after that). Safe to call more than once.
    public func stop() {
        let snapshot = state.withLock { s -> (listen: Int32, wake: (Int32, Int32), conns: [Transport])? in
            guard s.started, !s.stopping else { return nil }
            s.stopping = true
            return (s.listenFD, s.wakePipe, Array(s.connections.values))
        }
        guard let snapshot else { return }
        if snapshot.listen >= 0 {
            var one: UInt8 = 1
            _ = Glibc.write(snapshot.wake.1, &one, 1)
            acceptDone.wait()
            Glibc.close(snapshot.listen)
            Glibc.close(snapshot.wake.0)
            Glibc.close(snapshot.wake.1)
        }
        for transport in snapshot.conns { transport.shutdown() }
        monitor.stopAll()
        let deadline = ConditionLock.deadline(afterSeconds: Double(limits.shutdownGracePeriod.milliseconds) / 1000)
        liveThreads.lock()
        while liveCount.withLock({ $0 }) > 0 {
            if !liveThreads.wait(until: deadline) { break }
        }
        liveThreads.unlock()
        let remaining = liveCount.withLock { $0 }
        if remaining > 0 {
            logger.warning("HTTP server stopped with handlers still running", metadata: ["handlers": "\(remaining)"])
        }
    }

    // MARK: - Listening

    private static func listen(host: String, port: Int) throws(HTTPServerError) -> (Int32, Int) {
        var name = host
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        if name.isEmpty { name = "0.0.0.0" }
        let address = "\(host):\(port)"
        guard (0...65535).contains(port) else { throw .invalidAddress(address: address, cause: "port out of range") }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(name, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            throw .invalidAddress(address: address, cause: String(cString: gai_strerror(rc)))
        }
        defer { freeaddrinfo(result) }
        var lastError = "no usable address"
        var info: UnsafeMutablePointer<addrinfo>? = first
        while let ai = info {
            info = ai.pointee.ai_next
            let fd = socket(ai.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else {
                lastError = "socket: \(String(cString: strerror(errno)))"
                continue
            }
            var on: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
            guard bind(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 else {
                lastError = "bind: \(String(cString: strerror(errno)))"
                Glibc.close(fd)
                continue
            }
            guard Glibc.listen(fd, 512) == 0 else {
                lastError = "listen: \(String(cString: strerror(errno)))"
                Glibc.close(fd)
                continue
            }
            var storage = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let bound = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
            }
            guard bound == 0 else {
                lastError = "getsockname: \(String(cString: strerror(errno)))"
                Glibc.close(fd)
                continue
            }
            return (fd, socketAddressDescription(storage).port)
        }
        throw .listen(address: address, cause: lastError)
    }

    private func acceptLoop(listenFD: Int32, wakeFD: Int32, tls: (any SecurityContext)?) {
        while true {
            var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
            let rc = poll(&fds, 2, -1)
            if rc < 0 {
                if errno == EINTR { continue }
                logger.error("failed to poll listening socket: \(String(cString: strerror(errno)))")
                return
            }
            if fds[1].revents != 0 { return }
            guard fds[0].revents & Int16(POLLIN) != 0 else { continue }
            var storage = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    csockets_accept_nonblocking(listenFD, $0, &len)
                }
            }
            if fd < 0 {
                let e = errno
                if e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM {
                    logger.error("failed to accept connection: \(String(cString: strerror(e)))")
                    usleep(50_000)
                }
                continue
            }
            var on: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
            let remote = socketAddressDescription(storage).text
            let transport = Transport(fd: fd, writeTimeoutMilliseconds: limits.writeTimeout.milliseconds)
            transport.markWaiting()
            let id = state.withLock { s -> Int? in
                guard !s.stopping else { return nil }
                if s.connections.count >= limits.maxConnections {
                    // Full: make room by closing the connection that has waited longest for a
                    // request. Its thread leaves shortly; until then the count may exceed the limit
                    // by the evictions in flight, never beyond twice the limit.
                    guard s.connections.count < 2 * limits.maxConnections, Self.evictLongestWaiting(s.connections.values) else { return nil }
                    logger.debug("evicted a connection waiting for a request to make room", metadata: ["remote": "\(remote)"])
                }
                s.nextConnectionID += 1
                s.connections[s.nextConnectionID] = transport
                return s.nextConnectionID
            }
            guard let id else {
                if tls == nil {
                    let (headers, body) = errorResponder(503, "too many connections")
                    try? transport.write(errorAnswer(status: 503, headers: headers, body: body))
                }
                transport.close()
                logger.debug("refused connection: server full or stopping", metadata: ["remote": "\(remote)"])
                continue
            }
            liveCount.withLock { $0 += 1 }
            // Forgets the connection and wakes `stop()`, which waits for the live count to reach 0.
            let finished: @Sendable () -> Void = { [self] in
                state.withLock { _ = $0.connections.removeValue(forKey: id) }
                transport.close()
                liveThreads.lock()
                liveCount.withLock { $0 -= 1 }
                liveThreads.broadcast()
                liveThreads.unlock()
            }
            let started = NativeThread.start(name: "http-conn-\(id)") { [self] in
                var connection = Connection(
                    transport: transport, remoteAddress: remote, tls: tls, limits: limits, handler: handler,
                    errorResponder: errorResponder, monitor: monitor, logger: logger,
                    isStopping: { [self] in state.withLock { $0.stopping } }
                )
                connection.run()
                finished()
            }
            if !started {
                finished()
                logger.error("cannot start a connection thread; closed the connection", metadata: ["remote": "\(remote)"])
            }
        }
    }
}

extension HTTPServer {
    /// Closes the connection among `connections` that has waited longest for a request; false when
    /// every connection is serving one (or the candidates started serving meanwhile).
    static func evictLongestWaiting(_ connections: some Collection<Transport>) -> Bool {
        var candidates = connections.compactMap { t in t.waitingSinceMilliseconds.map { (t, $0) } }
        candidates.sort { $0.1 < $1.1 }
        for (transport, since) in candidates.prefix(8) where transport.evictIfWaiting(since: since) { return true }
        return false
    }
}

/// A complete error answer with `Connection: close`.
func errorAnswer(status: Int, headers: HTTPHeaders, body: [UInt8]) -> [UInt8] {
    var headers = headers
    headers["Content-Length"] = String(body.count)
    headers["Connection"] = "close"
    if !headers.contains("Date") { headers["Date"] = httpDate() }
    return serializeHead(status: status, headers: headers) + body
}

/// `127.0.0.1:80` / `[::1]:80` and the port of a socket address.
func socketAddressDescription(_ storage: sockaddr_storage) -> (text: String, port: Int) {
    var storage = storage
    var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
    switch Int32(storage.ss_family) {
    case AF_INET:
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                var addr = sin.pointee.sin_addr
                inet_ntop(AF_INET, &addr, &buf, socklen_t(buf.count))
                let port = Int(UInt16(bigEndian: sin.pointee.sin_port))
                return ("\(cString(buf)):\(port)", port)
            }
        }
    case AF_INET6:
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                var addr = sin6.pointee.sin6_addr
                inet_ntop(AF_INET6, &addr, &buf, socklen_t(buf.count))
                let port = Int(UInt16(bigEndian: sin6.pointee.sin6_port))
                return ("[\(cString(buf))]:\(port)", port)
            }
        }
    default:
        return ("unknown", 0)
    }
}
