import Foundation
import JSON

/// One API request, independent of the transport (sans-I/O core input).
public struct LabRequest: Sendable {
    /// `GET`, `POST`, ...
    public var method: String
    /// The percent-decoded path (`/apis/example.com/v1/widgets`).
    public var path: String
    /// Query parameters in order.
    public var query: [(name: String, value: String)]
    /// Request headers (names compared case-insensitively).
    public var headers: [(name: String, value: String)]
    /// The request body.
    public var body: [UInt8]
    /// The verified client certificate's subject (CN → user, O → groups), if any.
    public var clientCertificate: LabUser?

    public init(method: String, path: String, query: [(name: String, value: String)] = [],
                headers: [(name: String, value: String)] = [], body: [UInt8] = [], clientCertificate: LabUser? = nil) {
        self.method = method; self.path = path; self.query = query; self.headers = headers
        self.body = body; self.clientCertificate = clientCertificate
    }

    /// The first value of header `name`.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// The first value of query parameter `name`.
    public func queryValue(_ name: String) -> String? { query.first { $0.name == name }?.value }
}

/// An authenticated user.
public struct LabUser: Sendable, Hashable, Codable {
    /// The user name (`kubernetes-admin`, `system:serviceaccount:ns:name`).
    public var name: String
    /// Group memberships (`system:masters`).
    public var groups: [String]
    /// The user's UID, when the authenticator gives one (token file: third field).
    public var uid: String?
    /// Extra attributes of the identity (`authentication.kubernetes.io/node-name` for a
    /// service-account token bound to a pod); nil when there are none.
    public var extra: [String: [String]]?
    public init(name: String, groups: [String], uid: String? = nil, extra: [String: [String]]? = nil) {
        self.name = name; self.groups = groups; self.uid = uid; self.extra = extra
    }
}

/// A complete (non-streaming) response.
public struct LabResponse: Sendable {
    /// HTTP status code.
    public var status: Int
    /// Response headers.
    public var headers: [(name: String, value: String)]
    /// Response body.
    public var body: [UInt8]

    /// The body as text.
    public var text: String { String(decoding: body, as: UTF8.self) }
    /// The body parsed as JSON (nil when it is not JSON).
    public var json: JSONValue? { try? JSONValue.parse(body) }
    /// The first value of header `name`.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// Where a response goes: the HTTP connection, or a collector in tests. Watch responses
/// call `writeBody` once per event and must be flushed immediately (chunked encoding).
public protocol LabResponseSink: AnyObject {
    /// Sends the status line and headers. Without `Content-Length` the body is streamed.
    func writeHead(status: Int, headers: [(name: String, value: String)])
    /// Sends (and flushes) body bytes; false once the client has gone away.
    func writeBody(_ bytes: [UInt8]) -> Bool
    /// Ends the response.
    func finish()
    /// Whether the client has gone away (a watch then ends).
    var isClientGone: Bool { get }
    /// Runs `action` once when the client goes away during the response (wakes a blocked watch).
    func onClientGone(_ action: @escaping @Sendable () -> Void)
}

extension LabResponseSink {
    public func onClientGone(_ action: @escaping @Sendable () -> Void) {}
}

/// A sink that collects the whole response in memory (tests, in-process calls).
public final class CollectingSink: LabResponseSink, @unchecked Sendable {
    private let lock = NSLock()
    private var _status = 0
    private var _headers: [(name: String, value: String)] = []
    private var _body: [UInt8] = []
    private var _chunks: [[UInt8]] = []
    private var _finished = false
    /// Set to make `isClientGone` true (ends a watch).
    public var gone = false

    public init() {}

    public func writeHead(status: Int, headers: [(name: String, value: String)]) {
        lock.lock(); _status = status; _headers = headers; lock.unlock()
    }
    public func writeBody(_ bytes: [UInt8]) -> Bool {
        lock.lock(); _body.append(contentsOf: bytes); _chunks.append(bytes); lock.unlock()
        return !gone
    }
    public func finish() { lock.lock(); _finished = true; lock.unlock() }
    public var isClientGone: Bool { gone }

    /// The response collected so far.
    public var response: LabResponse {
        lock.lock(); defer { lock.unlock() }
        return LabResponse(status: _status, headers: _headers, body: _body)
    }
    /// The body writes (one per watch event).
    public var chunks: [[UInt8]] { lock.lock(); defer { lock.unlock() }; return _chunks }
    /// Whether `finish` was called.
    public var finished: Bool { lock.lock(); defer { lock.unlock() }; return _finished }
}
