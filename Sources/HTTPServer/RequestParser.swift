// Sans-I/O HTTP/1.1 request parsing: the connection feeds bytes, these functions decide.

/// A protocol violation that ends the connection with an error answer.
struct ProtocolViolation: Error, Equatable {
    /// The status to answer with (400, 408, 413, 417, 431, 501, 505).
    var status: Int
    /// What was wrong, for the answer body and the log.
    var message: String
}

/// A parsed request line and header section.
struct RequestHead: Sendable {
    var method: String
    var target: String
    var version: String
    var minorVersion: Int
    var headers: HTTPHeaders

    /// Whether the client wants the connection kept open after this exchange.
    var wantsKeepAlive: Bool {
        let tokens = headers.listValues(for: "Connection").map { $0.lowercased() }
        if minorVersion >= 1 { return !tokens.contains("close") }
        return tokens.contains("keep-alive")
    }

    /// Whether the client sent `Expect: 100-continue`.
    var expectsContinue: Bool {
        headers.values(for: "Expect").contains { $0.lowercased() == "100-continue" }
    }
}

/// How the request body is delimited.
enum BodyFraming: Equatable {
    case none
    case length(Int)
    case chunked
}

enum RequestParser {
    /// Number of leading CR/LF bytes to skip (clients may send stray CRLF between requests).
    static func leadingNewlines(_ bytes: ArraySlice<UInt8>) -> Int {
        var n = 0
        for b in bytes {
            guard b == 13 || b == 10 else { break }
            n += 1
        }
        return n
    }

    /// The index just past the blank line ending the head, or nil when it has not arrived yet.
    static func headEnd(_ bytes: ArraySlice<UInt8>) -> Int? {
        var i = bytes.startIndex
        while i < bytes.endIndex {
            if bytes[i] == 10 {
                let next = i + 1
                if next < bytes.endIndex, bytes[next] == 10 { return next + 1 }
                if next + 1 < bytes.endIndex, bytes[next] == 13, bytes[next + 1] == 10 { return next + 2 }
            }
            i += 1
        }
        return nil
    }

    /// Parses a complete head (request line, fields, blank line).
    static func parseHead(_ bytes: ArraySlice<UInt8>, maxHeaderCount: Int) throws(ProtocolViolation) -> RequestHead {
        var lines: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        for i in bytes.indices where bytes[i] == 10 {
            var end = i
            if end > start, bytes[end - 1] == 13 { end -= 1 }
            lines.append(bytes[start..<end])
            start = i + 1
        }
        guard let requestLine = lines.first, !requestLine.isEmpty else {
            throw ProtocolViolation(status: 400, message: "missing request line")
        }
        let parts = requestLine.split(separator: 32, omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw ProtocolViolation(status: 400, message: "malformed request line")
        }
        let methodBytes = parts[0], targetBytes = parts[1], versionBytes = parts[2]
        guard !methodBytes.isEmpty, methodBytes.allSatisfy(isTokenChar) else {
            throw ProtocolViolation(status: 400, message: "malformed method")
        }
        guard !targetBytes.isEmpty, targetBytes.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            throw ProtocolViolation(status: 400, message: "malformed request target")
        }
        let version = String(decoding: versionBytes, as: UTF8.self)
        let minor: Int
        switch version {
        case "HTTP/1.1": minor = 1
        case "HTTP/1.0": minor = 0
        default:
            if version.hasPrefix("HTTP/"), version.count == 8 {
                throw ProtocolViolation(status: 505, message: "unsupported protocol version '\(version)'")
            }
            throw ProtocolViolation(status: 400, message: "malformed protocol version")
        }
        var headers = HTTPHeaders()
        for line in lines.dropFirst() where !line.isEmpty {
            guard line.first != 32, line.first != 9 else {
                throw ProtocolViolation(status: 400, message: "obsolete header line folding")
            }
            guard let colon = line.firstIndex(of: 58) else {
                throw ProtocolViolation(status: 400, message: "malformed header line")
            }
            let name = line[line.startIndex..<colon]
            guard !name.isEmpty, name.allSatisfy(isTokenChar) else {
                throw ProtocolViolation(status: 400, message: "malformed header name")
            }
            let value = line[(colon + 1)...]
            guard !value.contains(where: { $0 == 0 || $0 == 13 || $0 == 10 }) else {
                throw ProtocolViolation(status: 400, message: "malformed header value")
            }
            headers.add(
                name: String(decoding: name, as: UTF8.self),
                value: trimOWS(Substring(String(decoding: value, as: UTF8.self))))
            if headers.count > maxHeaderCount {
                throw ProtocolViolation(status: 431, message: "too many header fields (limit \(maxHeaderCount))")
            }
        }
        if minor >= 1, !headers.contains("Host") {
            throw ProtocolViolation(status: 400, message: "missing required Host header")
        }
        return RequestHead(
            method: String(decoding: methodBytes, as: UTF8.self), target: String(decoding: targetBytes, as: UTF8.self),
            version: version, minorVersion: minor, headers: headers)
    }

    /// Decides how the body is delimited, rejecting ambiguous or oversized framing.
    static func framing(of head: RequestHead, maxBodyBytes: Int) throws(ProtocolViolation) -> BodyFraming {
        let te = head.headers.listValues(for: "Transfer-Encoding").map { $0.lowercased() }
        let lengths = head.headers.listValues(for: "Content-Length")
        if !te.isEmpty {
            guard lengths.isEmpty else {
                throw ProtocolViolation(status: 400, message: "both Transfer-Encoding and Content-Length present")
            }
            guard te == ["chunked"] else {
                throw ProtocolViolation(status: 501, message: "unsupported transfer coding '\(te.joined(separator: ", "))'")
            }
            return .chunked
        }
        guard let first = lengths.first else { return .none }
        guard lengths.allSatisfy({ $0 == first }) else {
            throw ProtocolViolation(status: 400, message: "conflicting Content-Length values")
        }
        guard !first.isEmpty, first.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw ProtocolViolation(status: 400, message: "malformed Content-Length '\(first)'")
        }
        guard first.utf8.count <= 15, let n = Int(first) else {
            throw ProtocolViolation(status: 413, message: "request body too large (limit \(maxBodyBytes) bytes)")
        }
        if n > maxBodyBytes {
            throw ProtocolViolation(status: 413, message: "request body too large: \(n) bytes (limit \(maxBodyBytes) bytes)")
        }
        return n == 0 ? .none : .length(n)
    }

    static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(c)
        }
    }
}

/// Incremental decoder for a chunked request body.
struct ChunkedDecoder {
    enum State: Equatable {
        case sizeLine
        case data(remaining: Int)
        case dataEnd
        case trailers
        case done
    }

    private(set) var state: State = .sizeLine
    let maxBodyBytes: Int
    let maxLineBytes: Int
    private var trailerBytes = 0

    init(maxBodyBytes: Int, maxLineBytes: Int = 8192) {
        self.maxBodyBytes = maxBodyBytes
        self.maxLineBytes = maxLineBytes
    }

    var isDone: Bool { state == .done }

    /// Consumes as much of `buffer[position...]` as possible, appending data to `body`.
    mutating func feed(_ buffer: [UInt8], position: inout Int, body: inout [UInt8]) throws(ProtocolViolation) {
        while position < buffer.count, state != .done {
            switch state {
            case .sizeLine:
                guard let lf = buffer[position...].firstIndex(of: 10) else {
                    if buffer.count - position > maxLineBytes {
                        throw ProtocolViolation(status: 400, message: "chunk size line too long")
                    }
                    return
                }
                var line = buffer[position..<lf]
                if line.last == 13 { line = line.dropLast() }
                position = lf + 1
                if let semi = line.firstIndex(of: 59) { line = line[..<semi] }
                while line.last == 32 || line.last == 9 { line = line.dropLast() }
                guard !line.isEmpty, line.count <= 15 else {
                    throw ProtocolViolation(status: 400, message: "malformed chunk size")
                }
                var size = 0
                for c in line {
                    guard let v = hexValue(c) else { throw ProtocolViolation(status: 400, message: "malformed chunk size") }
                    size = size << 4 | Int(v)
                }
                if body.count + size > maxBodyBytes {
                    throw ProtocolViolation(status: 413, message: "request body too large (limit \(maxBodyBytes) bytes)")
                }
                state = size == 0 ? .trailers : .data(remaining: size)
            case .data(let remaining):
                let n = min(remaining, buffer.count - position)
                body.append(contentsOf: buffer[position..<(position + n)])
                position += n
                state = remaining - n == 0 ? .dataEnd : .data(remaining: remaining - n)
            case .dataEnd:
                if buffer[position] == 13 {
                    guard position + 1 < buffer.count else { return }
                    guard buffer[position + 1] == 10 else {
                        throw ProtocolViolation(status: 400, message: "missing CRLF after chunk data")
                    }
                    position += 2
                } else if buffer[position] == 10 {
                    position += 1
                } else {
                    throw ProtocolViolation(status: 400, message: "missing CRLF after chunk data")
                }
                state = .sizeLine
            case .trailers:
                guard let lf = buffer[position...].firstIndex(of: 10) else {
                    if buffer.count - position > maxLineBytes {
                        throw ProtocolViolation(status: 431, message: "chunked trailer section too large")
                    }
                    return
                }
                let lineLength = lf - position - (lf > position && buffer[lf - 1] == 13 ? 1 : 0)
                trailerBytes += lf + 1 - position
                position = lf + 1
                if trailerBytes > maxLineBytes {
                    throw ProtocolViolation(status: 431, message: "chunked trailer section too large")
                }
                if lineLength == 0 { state = .done }
            case .done:
                return
            }
        }
    }
}
