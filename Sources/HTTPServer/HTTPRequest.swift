/// The identity of a client that presented a certificate the server verified against its client CA.
///
/// Kubernetes maps the subject's common name to the user name and its organizations to groups.
public struct PeerIdentity: Sendable, Hashable {
    /// The subject common name (CN); empty when the certificate has none.
    public var commonName: String
    /// The subject organization (O) values, in certificate order.
    public var organizations: [String]

    /// Creates an identity.
    public init(commonName: String, organizations: [String]) {
        self.commonName = commonName
        self.organizations = organizations
    }
}

/// One complete HTTP request: head and fully read body.
public struct HTTPRequest: Sendable {
    /// The method token as sent, for example `GET`.
    public var method: String
    /// The path, percent-decoded (`/api/v1/namespaces/a%2Fb` becomes `/api/v1/namespaces/a/b`).
    public var path: String
    /// The path exactly as sent, without the query.
    public var rawPath: String
    /// The query as sent (without `?`), empty when there is none.
    public var rawQuery: String
    /// The decoded query parameters in order (`+` decodes to a space, as in form encoding).
    public var query: [(name: String, value: String)]
    /// The header fields.
    public var headers: HTTPHeaders
    /// The body (already de-chunked), empty when there is none.
    public var body: [UInt8]
    /// The verified client-certificate identity, or nil (plain HTTP, no certificate presented).
    public var peer: PeerIdentity?
    /// The client's address, `127.0.0.1:54321` or `[::1]:54321`.
    public var remoteAddress: String
    /// The protocol version, `HTTP/1.1` or `HTTP/1.0`.
    public var version: String
    /// Whether the request arrived over TLS.
    public var isTLS: Bool

    /// Creates a request (useful for calling handlers without sockets).
    /// `target` is the request target as sent (`/path?query`); path and query are decoded from it.
    /// Returns nil when `target`'s percent-encoding is malformed.
    public init?(
        method: String, target: String, headers: HTTPHeaders = [:], body: [UInt8] = [],
        peer: PeerIdentity? = nil, remoteAddress: String = "127.0.0.1:0", version: String = "HTTP/1.1", isTLS: Bool = false
    ) {
        guard let parsed = ParsedTarget(target) else { return nil }
        self.method = method
        self.path = parsed.path
        self.rawPath = parsed.rawPath
        self.rawQuery = parsed.rawQuery
        self.query = parsed.query
        self.headers = headers
        self.body = body
        self.peer = peer
        self.remoteAddress = remoteAddress
        self.version = version
        self.isTLS = isTLS
    }

    /// The first value of query parameter `name`, or nil.
    public func queryValue(_ name: String) -> String? {
        query.first { $0.name == name }?.value
    }

    /// Every value of query parameter `name`, in order.
    public func queryValues(_ name: String) -> [String] {
        query.filter { $0.name == name }.map(\.value)
    }

    /// Whether the query has parameter `name` (with or without a value, as in `?watch` or `?verbose`).
    public func hasQueryParameter(_ name: String) -> Bool {
        query.contains { $0.name == name }
    }
}

/// A request target split into decoded path and query.
struct ParsedTarget {
    var path: String
    var rawPath: String
    var rawQuery: String
    var query: [(name: String, value: String)]

    init?(_ target: String) {
        var rest = Substring(target)
        // Absolute form (`http://host/path`): keep only the path and query.
        if !rest.hasPrefix("/"), let schemeEnd = rest.firstRange(of: "://") {
            let afterAuthority = rest[schemeEnd.upperBound...]
            if let slash = afterAuthority.firstIndex(where: { $0 == "/" || $0 == "?" }) {
                rest = afterAuthority[slash...]
            } else {
                rest = "/"
            }
            if rest.hasPrefix("?") { rest = "/" + rest }
        }
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        let rawPath: Substring, rawQuery: Substring
        if let q = rest.firstIndex(of: "?") {
            rawPath = rest[..<q]
            rawQuery = rest[rest.index(after: q)...]
        } else {
            rawPath = rest
            rawQuery = ""
        }
        guard let path = percentDecode(rawPath, plusAsSpace: false) else { return nil }
        var query: [(name: String, value: String)] = []
        for pair in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let name: Substring, value: Substring
            if let eq = pair.firstIndex(of: "=") {
                name = pair[..<eq]
                value = pair[pair.index(after: eq)...]
            } else {
                name = pair
                value = ""
            }
            guard let n = percentDecode(name, plusAsSpace: true), let v = percentDecode(value, plusAsSpace: true) else {
                return nil
            }
            query.append((name: n, value: v))
        }
        self.path = path
        self.rawPath = String(rawPath)
        self.rawQuery = String(rawQuery)
        self.query = query
    }
}

/// Decodes `%XX` escapes (and `+` when `plusAsSpace`). Nil on a malformed escape or invalid UTF-8.
func percentDecode(_ s: Substring, plusAsSpace: Bool) -> String? {
    let utf8 = s.utf8
    if !utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusAsSpace && $0 == UInt8(ascii: "+")) }) {
        return String(s)
    }
    var out: [UInt8] = []
    out.reserveCapacity(utf8.count)
    var i = utf8.startIndex
    while i < utf8.endIndex {
        let c = utf8[i]
        if c == UInt8(ascii: "%") {
            let h1 = utf8.index(after: i)
            guard h1 < utf8.endIndex else { return nil }
            let h2 = utf8.index(after: h1)
            guard h2 < utf8.endIndex, let a = hexValue(utf8[h1]), let b = hexValue(utf8[h2]) else { return nil }
            out.append(a << 4 | b)
            i = utf8.index(after: h2)
        } else {
            out.append(plusAsSpace && c == UInt8(ascii: "+") ? UInt8(ascii: " ") : c)
            i = utf8.index(after: i)
        }
    }
    return String(validating: out, as: UTF8.self)
}

func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}
