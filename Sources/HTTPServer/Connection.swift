import Glibc
import Logging

/// Serves the requests of one connection, on its own thread, until it closes.
struct Connection {
    let transport: Transport
    let remoteAddress: String
    let tls: (any SecurityContext)?
    let limits: HTTPLimits
    let handler: HTTPHandler
    let errorResponder: HTTPErrorResponder
    let monitor: ClientGoneMonitor
    let logger: Logger
    let isStopping: @Sendable () -> Bool

    /// Unconsumed input; `position` marks where it starts.
    private var buffer: [UInt8] = []
    private var position = 0
    private var peer: PeerIdentity?
    private var bodyDeadline: Int64 = 0

    init(
        transport: Transport, remoteAddress: String, tls: (any SecurityContext)?, limits: HTTPLimits, handler: @escaping HTTPHandler,
        errorResponder: @escaping HTTPErrorResponder, monitor: ClientGoneMonitor, logger: Logger,
        isStopping: @escaping @Sendable () -> Bool
    ) {
        self.transport = transport
        self.remoteAddress = remoteAddress
        self.tls = tls
        self.limits = limits
        self.handler = handler
        self.errorResponder = errorResponder
        self.monitor = monitor
        self.logger = logger
        self.isStopping = isStopping
    }

    mutating func run() {
        var log = logger
        log[metadataKey: "remote"] = "\(remoteAddress)"
        if let tls {
            do {
                try transport.handshake(context: tls, deadline: monotonicMilliseconds() + limits.handshakeTimeout.milliseconds)
            } catch {
                log.debug("TLS handshake failed", metadata: ["cause": "\(error)"])
                return
            }
            peer = transport.peerIdentity()
        }
        while !isStopping() {
            do {
                transport.markWaiting()
                guard let head = try readHead() else { return }  // clean close between requests
                // Evicted by the server to make room (the close raced the head's arrival): not served.
                guard transport.markServing() else { return }
                let keepAlive = try serve(head, log: log)
                if !keepAlive { return }
            } catch let violation as ProtocolViolation {
                log.debug("rejected request", metadata: ["status": "\(violation.status)", "cause": "\(violation.message)"])
                let (headers, body) = errorResponder(violation.status, violation.message)
                try? transport.write(errorAnswer(status: violation.status, headers: headers, body: body))
                lingerBeforeClose()
                return
            } catch {
                log.debug("connection ended", metadata: ["cause": "\(error)"])
                return
            }
        }
    }

    // MARK: - Reading

    private mutating func compact() {
        if position > 0 && (position == buffer.count || position > 64 * 1024) {
            buffer.removeFirst(position)
            position = 0
        }
    }

    private mutating func fill(deadline: Int64) throws(TransportFailure) {
        compact()
        _ = try transport.read(into: &buffer, max: 16 * 1024, deadline: deadline)
    }

    /// Reads the next request head; nil when the client closed (or idled out) between requests.
    private mutating func readHead() throws -> RequestHead? {
        var headDeadline: Int64? = nil
        while true {
            let skip = RequestParser.leadingNewlines(buffer[position...])
            position += skip
            let pending = buffer[position...]
            if !pending.isEmpty && headDeadline == nil {
                headDeadline = monotonicMilliseconds() + limits.headerTimeout.milliseconds
            }
            if let end = RequestParser.headEnd(pending) {
                guard end - position <= limits.maxHeaderBytes else {
                    throw ProtocolViolation(status: 431, message: "request header section too large (limit \(limits.maxHeaderBytes) bytes)")
                }
                let head = try RequestParser.parseHead(buffer[position..<end], maxHeaderCount: limits.maxHeaderCount)
                position = end
                return head
            }
            if pending.count > limits.maxHeaderBytes {
                throw ProtocolViolation(status: 431, message: "request header section too large (limit \(limits.maxHeaderBytes) bytes)")
            }
            let deadline = headDeadline ?? (monotonicMilliseconds() + limits.idleTimeout.milliseconds)
            let failure: TransportFailure
            do {
                try fill(deadline: deadline)
                continue
            } catch {
                failure = error
            }
            let midRequest = headDeadline != nil
            switch failure {
            case .timedOut:
                if midRequest { throw ProtocolViolation(status: 408, message: "timed out reading the request head") }
                return nil
            case .closed:
                if midRequest { throw TransportFailure.closed }
                return nil
            case .failed:
                throw failure
            }
        }
    }

    private mutating func readBody(_ framing: BodyFraming) throws -> [UInt8] {
        bodyDeadline = monotonicMilliseconds() + limits.bodyTimeout.milliseconds
        switch framing {
        case .none:
            return []
        case .length(let n):
            while buffer.count - position < n {
                try fillBody()
            }
            let body = Array(buffer[position..<(position + n)])
            position += n
            return body
        case .chunked:
            var decoder = ChunkedDecoder(maxBodyBytes: limits.maxBodyBytes, maxLineBytes: min(8192, limits.maxHeaderBytes))
            var body: [UInt8] = []
            while true {
                try decoder.feed(buffer, position: &position, body: &body)
                if decoder.isDone { return body }
                try fillBody()
            }
        }
    }

    private mutating func fillBody() throws {
        let failure: TransportFailure
        do {
            try fill(deadline: min(bodyDeadline, monotonicMilliseconds() + limits.readTimeout.milliseconds))
            return
        } catch {
            failure = error
        }
        if failure == .timedOut {
            throw ProtocolViolation(status: 408, message: "timed out reading the request body")
        }
        throw failure
    }

    // MARK: - Serving

    /// Serves one request; returns whether the connection stays open.
    private mutating func serve(_ head: RequestHead, log: Logger) throws -> Bool {
        let framing = try RequestParser.framing(of: head, maxBodyBytes: limits.maxBodyBytes)
        let expectations = head.headers.values(for: "Expect")
        if !expectations.isEmpty && !head.expectsContinue {
            throw ProtocolViolation(status: 417, message: "unsupported expectation '\(expectations.joined(separator: ", "))'")
        }
        if head.expectsContinue, head.minorVersion >= 1, framing != .none, buffer.count == position {
            try transport.write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
        }
        let body = try readBody(framing)
        guard
            var request = HTTPRequest(
                method: head.method, target: head.target, headers: head.headers, body: body, peer: peer,
                remoteAddress: remoteAddress, version: head.version, isTLS: tls != nil)
        else {
            throw ProtocolViolation(status: 400, message: "malformed percent-encoding in request target")
        }
        request.peer = peer
        let keepAlive = head.wantsKeepAlive && !isStopping()
        let writer = ConnectionResponseWriter(transport: transport, head: head, keepAlive: keepAlive, monitor: monitor)
        handler(request, writer)
        writer.complete()
        log.trace("served request", metadata: ["method": "\(head.method)", "path": "\(request.path)", "status": "\(writer.status)"])
        return writer.canKeepAlive && !isStopping()
    }

    /// After an error answer, stop writing and drain briefly so the client reads the answer
    /// instead of a connection reset.
    private func lingerBeforeClose() {
        _ = Glibc.shutdown(transport.fd, Int32(SHUT_WR))
        var scratch: [UInt8] = []
        let deadline = monotonicMilliseconds() + 200
        var drained = 0
        while drained < 256 * 1024 {
            scratch.removeAll(keepingCapacity: true)
            guard let n = try? transport.read(into: &scratch, max: 16 * 1024, deadline: deadline) else { return }
            drained += n
        }
    }
}
