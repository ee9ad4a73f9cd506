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
        default: throw fail("unexpected character '\(JSONReader.printable(b[i]))'")
        }
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

    /// Strings and the number grammar are `JSONReader`'s (one implementation of escapes,
    /// surrogates and number syntax for both ways of reading JSON).
    mutating func parseString() throws(JSONError) -> String {
        var reader = JSONReader(b)
        reader.i = i
        defer { i = reader.i }
        return try reader.scanString()
    }

    mutating func parseNumber() throws(JSONError) -> JSONValue {
        let start = i
        var reader = JSONReader(b)
        reader.i = i
        defer { i = reader.i }
        let isInteger = try reader.scanNumber()
        let end = reader.i
        let text = String(decoding: UnsafeBufferPointer(rebasing: b[start..<end]), as: UTF8.self)
        if isInteger, let v = Int64(text) { return .int(v) }
        guard let d = Double(text), d.isFinite else {
            reader.i = start
            throw JSONError(message: "number out of range", offset: start)
        }
        return .double(d)
    }
}
