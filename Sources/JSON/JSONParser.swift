/// A JSON syntax error: what was wrong and at which byte offset.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var offset: Int
    public init(message: String, offset: Int) {
        self.message = message
        self.offset = offset
    }
    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}

extension JSONValue {
    /// The deepest nesting `parse` accepts; deeper documents are rejected, never a stack overflow.
    public static let maximumDepth = 512

    /// Parses one JSON document (RFC 8259). Leading and trailing whitespace is allowed;
    /// anything else after the value is an error.
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONError) -> JSONValue {
        // Optionals rather than Result<JSONValue, JSONError>: instantiating Result's metadata makes
        // the runtime check JSONError: Error against every conformance record of the binary, a
        // measurable share of a short-lived process such as the CNI plugin.
        var failure: JSONError?
        let parsed: JSONValue?? = bytes.withContiguousStorageIfAvailable { buffer -> JSONValue? in
            var p = Parser(buffer)
            do throws(JSONError) {
                return try p.parseDocument()
            } catch {
                failure = error
                return nil
            }
        }
        if let failure { throw failure }
        if case .some(.some(let value)) = parsed { return value }
        let copy = Array(bytes)
        return try copy.withUnsafeBufferPointer { buffer throws(JSONError) in
            var p = Parser(buffer)
            return try p.parseDocument()
        }
    }

    /// Parses one JSON document from a string.
    public static func parse(_ string: String) throws(JSONError) -> JSONValue {
        try parse(Array(string.utf8))
    }
}

private struct Parser {
    let b: UnsafeBufferPointer<UInt8>
    var i = 0
    var depth = 0
    /// Members of the objects being parsed, innermost last: each object's dictionary is made once
    /// its members are known, at its final capacity (no rehashing while it grows).
    var members: [(key: String, value: JSONValue)] = []

    init(_ b: UnsafeBufferPointer<UInt8>) { self.b = b }

    func fail(_ message: String) -> JSONError { JSONError(message: message, offset: i) }

    mutating func skipWhitespace() {
        while i < b.count {
            switch b[i] {
            case 0x20, 0x0A, 0x0D, 0x09: i += 1
            default: return
            }
        }
    }

    mutating func parseDocument() throws(JSONError) -> JSONValue {
        skipWhitespace()
        if i >= b.count { throw fail("empty document") }
        let v = try parseValue()
        skipWhitespace()
        if i < b.count { throw fail("unexpected data after the document") }
        return v
    }

    mutating func parseValue() throws(JSONError) -> JSONValue {
        guard i < b.count else { throw fail("unexpected end of input") }
        switch b[i] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw fail("unexpected character '\(printable(b[i]))'")
        }
    }

    func printable(_ c: UInt8) -> String {
        (0x20..<0x7f).contains(c) ? String(UnicodeScalar(c)) : "\\x" + String(c, radix: 16)
    }

    mutating func expectLiteral(_ word: StaticString) throws(JSONError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= b.count else { throw fail("unexpected end of input") }
        let p = word.utf8Start
        for k in 0..<n where b[i + k] != p[k] { throw fail("invalid literal") }
        i += n
    }

    mutating func enter() throws(JSONError) {
        depth += 1
        if depth > JSONValue.maximumDepth { throw fail("nesting deeper than \(JSONValue.maximumDepth)") }
    }

    mutating func parseObject() throws(JSONError) -> JSONValue {
        try enter()
        i += 1
        skipWhitespace()
        if i < b.count, b[i] == UInt8(ascii: "}") {
            i += 1; depth -= 1
            return .object([:])
        }
        let first = members.count
        while true {
            skipWhitespace()
            guard i < b.count else { throw fail("unexpected end of input in object") }
            guard b[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':' after key") }
            i += 1
            skipWhitespace()
            members.append((key, try parseValue()))
            skipWhitespace()
            guard i < b.count else { throw fail("unexpected end of input in object") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "}") { i += 1; break }
            throw fail("expected ',' or '}' in object")
        }
        var o = [String: JSONValue](minimumCapacity: members.count - first)
        for m in first..<members.count { o[members[m].key] = members[m].value }  // a repeated key: the last wins
        members.removeSubrange(first...)
        depth -= 1
        return .object(o)
    }

    mutating func parseArray() throws(JSONError) -> JSONValue {
        try enter()
        i += 1
        var a: [JSONValue] = []
        skipWhitespace()
        if i < b.count, b[i] == UInt8(ascii: "]") {
            i += 1; depth -= 1
            return .array(a)
        }
        while true {
            skipWhitespace()
            a.append(try parseValue())
            skipWhitespace()
            guard i < b.count else { throw fail("unexpected end of input in array") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "]") { i += 1; break }
            throw fail("expected ',' or ']' in array")
        }
        depth -= 1
        return .array(a)
    }

    mutating func parseString() throws(JSONError) -> String {
        i += 1  // opening quote
        let start = i
        // Fast path: no escapes.
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
                i += 1
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw fail("control character in string") }
            i += 1
        }
        var out = [UInt8](UnsafeBufferPointer(rebasing: b[start..<i]))
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                return String(decoding: out, as: UTF8.self)
            }
            if c < 0x20 { throw fail("control character in string") }
            if c != UInt8(ascii: "\\") {
                out.append(c); i += 1
                continue
            }
            i += 1
            guard i < b.count else { break }
            let e = b[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try parseHex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    if i + 1 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") {
                        i += 2
                        let low = try parseHex4()
                        if (0xDC00...0xDFFF).contains(low) {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            scalar = 0xFFFD
                        }
                    } else {
                        scalar = 0xFFFD
                    }
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    scalar = 0xFFFD
                }
                let u = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default:
                i -= 1
                throw fail("invalid escape '\\\(printable(e))'")
            }
        }
        throw fail("unterminated string")
    }

    mutating func parseHex4() throws(JSONError) -> UInt32 {
        guard i + 4 <= b.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail("invalid hex digit in \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    mutating func parseNumber() throws(JSONError) -> JSONValue {
        let start = i
        var isInteger = true
        if b[i] == UInt8(ascii: "-") { i += 1 }
        guard i < b.count, isDigit(b[i]) else { throw fail("invalid number") }
        if b[i] == UInt8(ascii: "0") {
            i += 1
            if i < b.count, isDigit(b[i]) { throw fail("leading zero in number") }
        } else {
            while i < b.count, isDigit(b[i]) { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            isInteger = false
            i += 1
            guard i < b.count, isDigit(b[i]) else { throw fail("expected digit after '.'") }
            while i < b.count, isDigit(b[i]) { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            isInteger = false
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < b.count, isDigit(b[i]) else { throw fail("expected digit in exponent") }
            while i < b.count, isDigit(b[i]) { i += 1 }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
        if isInteger, let v = Int64(text) { return .int(v) }
        guard let d = Double(text), d.isFinite else {
            i = start
            throw fail("number out of range")
        }
        return .double(d)
    }

    @inline(__always) func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
}
