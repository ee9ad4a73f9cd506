import Glibc
import Synchronization

/// Writes one response. Obtained by an `HTTPHandler`; safe to use from any thread.
///
/// Framing: when `writeHead` carries a `Content-Length`, the body is sent as is (the head is
/// held back and sent with the first body bytes). Without one, the body is sent with
/// `Transfer-Encoding: chunked` and every `writeBody` goes out immediately as one chunk
/// (watch streams); HTTP/1.0 clients instead get a body delimited by closing the connection.
/// `finish()` ends the response; the server calls it if the handler returns without doing so,
/// and answers 500 if the handler wrote nothing at all.
public protocol HTTPResponseWriter: AnyObject, Sendable {
    /// Sends the status line and headers. Later calls are ignored.
    func writeHead(status: Int, headers: HTTPHeaders)
    /// Sends body bytes (flushed immediately). Returns false once the client went away;
    /// the handler should then stop producing output. Writes `200` with no headers first
    /// when `writeHead` was not called.
    @discardableResult
    func writeBody(_ bytes: [UInt8]) -> Bool
    /// Ends the response (terminating chunk for chunked bodies). Later calls are ignored.
    func finish()
    /// Whether the client closed the connection or a write to it failed.
    var isClientGone: Bool { get }
    /// Runs `action` once, on another thread, as soon as the client closes the connection
    /// (or the server stops) while this response is in progress; immediately if that already
    /// happened. It is not called after the response finished normally. Handlers that block
    /// waiting for events (watches) use it to wake up; keep `action` short (signal, don't work).
    func onClientGone(_ action: @escaping @Sendable () -> Void)
}

extension HTTPResponseWriter {
    /// Sends a complete response with a `Content-Length` body.
    public func respond(status: Int, headers: HTTPHeaders = [:], body: [UInt8] = []) {
        var headers = headers
        headers["Content-Length"] = String(body.count)
        writeHead(status: status, headers: headers)
        if !body.isEmpty { writeBody(body) }
        finish()
    }

    /// Sends a complete response with a UTF-8 text body (`Content-Type: text/plain; charset=utf-8` unless given).
    public func respond(status: Int, headers: HTTPHeaders = [:], text: String) {
        var headers = headers
        if !headers.contains("Content-Type") { headers["Content-Type"] = "text/plain; charset=utf-8" }
        respond(status: status, headers: headers, body: Array(text.utf8))
    }
}

/// The standard reason phrase for a status code.
public func httpReasonPhrase(_ status: Int) -> String {
    switch status {
    case 100: "Continue"
    case 101: "Switching Protocols"
    case 200: "OK"
    case 201: "Created"
    case 202: "Accepted"
    case 204: "No Content"
    case 206: "Partial Content"
    case 301: "Moved Permanently"
    case 302: "Found"
    case 304: "Not Modified"
    case 307: "Temporary Redirect"
    case 308: "Permanent Redirect"
    case 400: "Bad Request"
    case 401: "Unauthorized"
    case 403: "Forbidden"
    case 404: "Not Found"
    case 405: "Method Not Allowed"
    case 406: "Not Acceptable"
    case 408: "Request Timeout"
    case 409: "Conflict"
    case 410: "Gone"
    case 411: "Length Required"
    case 412: "Precondition Failed"
    case 413: "Request Entity Too Large"
    case 414: "URI Too Long"
    case 415: "Unsupported Media Type"
    case 417: "Expectation Failed"
    case 422: "Unprocessable Entity"
    case 428: "Precondition Required"
    case 429: "Too Many Requests"
    case 431: "Request Header Fields Too Large"
    case 500: "Internal Server Error"
    case 501: "Not Implemented"
    case 502: "Bad Gateway"
    case 503: "Service Unavailable"
    case 504: "Gateway Timeout"
    case 505: "HTTP Version Not Supported"
    default: "Status \(status)"
    }
}

/// An IMF-fixdate for the `Date` header, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
func httpDate(_ seconds: time_t = time(nil)) -> String {
    var t = seconds
    var tmv = tm()
    gmtime_r(&t, &tmv)
    let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
    return "\(days[Int(tmv.tm_wday) % 7]), \(two(tmv.tm_mday)) \(months[Int(tmv.tm_mon) % 12]) \(tmv.tm_year + 1900) "
        + "\(two(tmv.tm_hour)):\(two(tmv.tm_min)):\(two(tmv.tm_sec)) GMT"
}

/// Serializes a status line and headers.
func serializeHead(status: Int, headers: HTTPHeaders) -> [UInt8] {
    var out = "HTTP/1.1 \(status) \(httpReasonPhrase(status))\r\n"
    for field in headers {
        out += field.name
        out += ": "
        out += field.value
        out += "\r\n"
    }
    out += "\r\n"
    return Array(out.utf8)
}

/// The response writer of one request on one connection.
final class ConnectionResponseWriter: HTTPResponseWriter {
    enum BodyMode {
        case none
        case fixed(Int)
        case chunked
        case closeDelimited
    }

    struct State {
        var headSent = false
        var pendingHead: [UInt8]? = nil
        var mode: BodyMode = .none
        var bodyBytes = 0
        var finished = false
        var gone = false
        var keepAlive: Bool
        var status = 0
        var goneActions: [@Sendable () -> Void] = []
    }

    let transport: Transport
    let isHead: Bool
    let http10: Bool
    let monitor: ClientGoneMonitor
    let state: Mutex<State>

    init(transport: Transport, head: RequestHead, keepAlive: Bool, monitor: ClientGoneMonitor) {
        self.transport = transport
        self.isHead = head.method == "HEAD"
        self.http10 = head.minorVersion == 0
        self.monitor = monitor
        self.state = Mutex(State(keepAlive: keepAlive))
    }

    /// Whether the connection may carry another request after this response.
    var canKeepAlive: Bool {
        state.withLock { $0.keepAlive && $0.finished && !$0.gone }
    }

    var status: Int { state.withLock { $0.status } }

    var wroteHead: Bool { state.withLock { $0.headSent } }

    func writeHead(status: Int, headers: HTTPHeaders) {
        state.withLock { s in
            guard !s.headSent, !s.finished else { return }
            s.headSent = true
            s.status = status
            var headers = headers
            headers.remove(name: "Transfer-Encoding")
            if headers.listValues(for: "Connection").contains(where: { $0.lowercased() == "close" }) {
                s.keepAlive = false
            }
            let noBody = isHead || (100..<200).contains(status) || status == 204 || status == 304
            if (100..<200).contains(status) || status == 204 {
                headers.remove(name: "Content-Length")  // RFC 9110 §8.6: never on 1xx and 204
                s.mode = .none
            } else if let lengthText = headers["Content-Length"], let length = Int(lengthText), length >= 0 {
                s.mode = noBody ? .none : .fixed(length)
            } else if noBody {
                headers.remove(name: "Content-Length")
                s.mode = .none
            } else if http10 {
                headers.remove(name: "Content-Length")
                s.mode = .closeDelimited
                s.keepAlive = false
            } else {
                headers.remove(name: "Content-Length")
                headers.add(name: "Transfer-Encoding", value: "chunked")
                s.mode = .chunked
            }
            headers.remove(name: "Connection")
            if !s.keepAlive {
                headers.add(name: "Connection", value: "close")
            } else if http10 {
                headers.add(name: "Connection", value: "keep-alive")
            }
            if !headers.contains("Date") { headers.add(name: "Date", value: httpDate()) }
            let bytes = serializeHead(status: status, headers: headers)
            switch s.mode {
            case .chunked, .closeDelimited:
                send(bytes, &s)  // streams: the client sees the head at once
            case .none, .fixed:
                s.pendingHead = bytes
            }
        }
    }

    @discardableResult
    func writeBody(_ bytes: [UInt8]) -> Bool {
        if !wroteHead { writeHead(status: 200, headers: [:]) }
        let ok = state.withLock { s in
            guard !s.finished, !s.gone else { return false }
            switch s.mode {
            case .none:
                if let head = s.pendingHead {
                    s.pendingHead = nil
                    send(head, &s)
                }
            case .fixed(let length):
                let room = max(0, length - s.bodyBytes)
                let slice = bytes.count > room ? Array(bytes[0..<room]) : bytes
                s.bodyBytes += slice.count
                if let head = s.pendingHead {
                    s.pendingHead = nil
                    send(head + slice, &s)
                } else if !slice.isEmpty {
                    send(slice, &s)
                }
            case .chunked:
                guard !bytes.isEmpty else { return !s.gone }
                var chunk = Array(String(bytes.count, radix: 16).utf8)
                chunk.append(13)
                chunk.append(10)
                chunk.append(contentsOf: bytes)
                chunk.append(13)
                chunk.append(10)
                s.bodyBytes += bytes.count
                send(chunk, &s)
            case .closeDelimited:
                s.bodyBytes += bytes.count
                if !bytes.isEmpty { send(bytes, &s) }
            }
            return !s.gone
        }
        if !ok { markGone() }
        return ok
    }

    func finish() {
        if !wroteHead { writeHead(status: 200, headers: ["Content-Length": "0"]) }
        let actionsDropped: Void = state.withLock { s in
            guard !s.finished else { return }
            if !s.gone {
                switch s.mode {
                case .none:
                    if let head = s.pendingHead { send(head, &s) }
                case .fixed(let length):
                    if let head = s.pendingHead { send(head, &s) }
                    if s.bodyBytes < length { s.keepAlive = false }  // framing broken: close to signal it
                case .chunked:
                    send(Array("0\r\n\r\n".utf8), &s)
                case .closeDelimited:
                    s.keepAlive = false
                }
            }
            s.pendingHead = nil
            s.finished = true
            s.goneActions = []
        }
        _ = actionsDropped
        monitor.unregister(self)
    }

    var isClientGone: Bool {
        let (gone, finished) = state.withLock { ($0.gone, $0.finished) }
        if gone || finished { return gone }
        if transport.peerHasGone() {
            markGone()
            return true
        }
        return false
    }

    func onClientGone(_ action: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { s -> Bool in
            if s.finished { return false }
            if s.gone { return true }
            s.goneActions.append(action)
            return false
        }
        if runNow {
            action()
        } else {
            monitor.register(self)
        }
    }

    /// Records that the client is gone and runs the registered actions (once).
    func markGone() {
        let actions = state.withLock { s -> [@Sendable () -> Void] in
            let wasGone = s.gone
            s.gone = true
            s.keepAlive = false
            if wasGone && s.goneActions.isEmpty { return [] }
            let actions = s.finished ? [] : s.goneActions
            s.goneActions = []
            return actions
        }
        for action in actions { action() }
    }

    /// Called after the handler returned.
    func complete() {
        if !wroteHead {
            respond(status: 500, text: "internal error: the handler sent no response\n")
        } else {
            finish()
        }
    }

    private func send(_ bytes: [UInt8], _ s: inout State) {
        do {
            try transport.write(bytes)
        } catch {
            s.gone = true
            s.keepAlive = false
        }
    }
}
