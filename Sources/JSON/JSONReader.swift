/// A type that can read itself straight from JSON bytes with a ``JSONReader``, without building a
/// ``JSONValue`` tree or going through Foundation's `JSONDecoder`.
///
/// Implementations read one JSON value (and nothing else) and follow `Codable`'s rules: unknown
/// members are skipped, `null` or a missing member leaves an optional `nil`, a missing required
/// member or a value of the wrong type is an error.
///
/// ```swift
/// struct Port: JSONReadable {
///     var name: String
///     var mtu: Int?
///     init(from reader: inout JSONReader) throws(JSONError) {
///         var name: String?
///         var mtu: Int?
///         try reader.readObject { key, r throws(JSONError) in
///             switch key {
///             case "name": name = try r.readString()
///             case "mtu": mtu = try r.readIntOrNull()
///             default: break  // unknown members are skipped
///             }
///         }
///         guard let name else { throw reader.missingKey("name") }
///         self.name = name
///         self.mtu = mtu
///     }
/// }
/// let port = try JSONReader.decode(Port.self, from: Array(#"{"name":"eth0","mtu":9000}"#.utf8))
/// ```
public protocol JSONReadable {
    /// Reads one value of this type at the reader's position.
    init(from reader: inout JSONReader) throws(JSONError)
}

/// A strict, allocation-light pull reader over the UTF-8 bytes of one JSON document (RFC 8259).
///
/// It accepts exactly what `JSONValue.parse(_:)` accepts (escapes including
/// surrogate pairs, lone surrogates read as U+FFFD, the number grammar, at most
/// ``JSONValue/maximumDepth`` levels of nesting). Errors name the byte offset; the entry points
/// (``decode(_:from:)``) add the path of the member that failed
/// (`status.devices[3].mtu`).
///
/// Where it differs from Foundation's `JSONDecoder` (the `Codable` reference), it follows
/// `JSONValue.parse` and the API server: a repeated key keeps its last value (as Go's
/// `encoding/json` does; `JSONDecoder` keeps the first), a lone surrogate escape reads as U+FFFD and
/// invalid UTF-8 is repaired (`JSONDecoder` rejects both), and ``readValue()`` keeps `1.0` a double
/// (`JSONValue`'s `Codable` conformance makes it an integer).
///
/// Objects are read with ``readObject(_:)`` (a closure per member) or, in hot code, with the loop
/// form ``beginObject()`` / ``nextKey(_:)``; arrays with ``readArray(_:)``, which reserves exactly
/// the capacity the elements need.
///
/// The reader borrows the bytes: use it only inside the closure or call that provides them.
public struct JSONReader {
    @usableFromInline let bytes: UnsafeBufferPointer<UInt8>
    @usableFromInline var i: Int
    @usableFromInline var depth: Int

    /// A reader at the start of `bytes`. The bytes must outlive the reader.
    @inlinable
    public init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        self.i = 0
        self.depth = 0
    }

    /// The byte offset of the next byte to read.
    @inlinable public var offset: Int { i }

    /// Moves past whitespace, so that ``offset`` is where the next value starts (for error offsets).
    @inlinable
    public mutating func skipWhitespaceBeforeValue() { skipWhitespace() }

    /// Whether only whitespace is left.
    @inlinable
    public mutating func isAtEnd() -> Bool {
        skipWhitespace()
        return i >= bytes.count
    }
}

// MARK: - Entry points

extension JSONReader {
    /// Reads one document holding a `T` from `bytes`: leading and trailing whitespace is allowed,
    /// anything else after the value is an error. Errors carry the path of the failing member.
    public static func decode<T: JSONReadable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws(JSONError) -> T {
        let buffer = bytes.bindMemory(to: UInt8.self)
        var reader = JSONReader(buffer)
        do throws(JSONError) {
            reader.skipWhitespace()
            if reader.i >= buffer.count { throw reader.fail("empty document") }
            let value = try T(from: &reader)
            reader.skipWhitespace()
            if reader.i < buffer.count { throw reader.fail("unexpected data after the document") }
            return value
        } catch {
            throw error.withPath(in: buffer)
        }
    }

    /// Reads one document holding a `T` from `bytes` (see ``decode(_:from:)``).
    public static func decode<T: JSONReadable>(_ type: T.Type, from bytes: some Collection<UInt8>) throws(JSONError) -> T {
        let result: Result<T, JSONError>? = bytes.withContiguousStorageIfAvailable { buffer in
            do throws(JSONError) {
                return .success(try decode(type, from: UnsafeRawBufferPointer(buffer)))
            } catch {
                return .failure(error)
            }
        }
        if let result { return try result.get() }
        let copy = Array(bytes)
        let copied: Result<T, JSONError> = copy.withUnsafeBytes { raw in
            do throws(JSONError) {
                return .success(try decode(type, from: raw))
            } catch {
                return .failure(error)
            }
        }
        return try copied.get()
    }
}

extension JSONError {
    /// This error with the JSON path of its offset in `document` appended (`at status.devices[3].mtu`).
    func withPath(in document: UnsafeBufferPointer<UInt8>) -> JSONError {
        let path = JSONReader.path(to: offset, in: document)
        guard !path.isEmpty else { return self }
        return JSONError(message: message + " at " + path, offset: offset)
    }
}

// MARK: - Errors

extension JSONReader {
    /// An error at the current offset.
    @usableFromInline
    func fail(_ message: String) -> JSONError { JSONError(message: message, offset: i) }

    /// The error for a required member missing from the object that was just read.
    /// Call it right after ``readObject(_:)`` returns; the offset is that object's closing brace.
    public func missingKey(_ key: String) -> JSONError {
        JSONError(message: "missing required member '\(key)'", offset: max(0, i - 1))
    }

    /// The error for a value that is present but not acceptable (for example an unknown enum value)
    /// starting at byte `offset` (``offset`` before reading it).
    public func invalidValue(_ message: String, at offset: Int) -> JSONError {
        JSONError(message: message, offset: offset)
    }

    /// "expected <expected>, got <what is at the current offset>"; the current offset is a value's start.
    @usableFromInline
    func typeMismatch(expected: String) -> JSONError {
        guard i < bytes.count else { return fail("unexpected end of input, expected \(expected)") }
        let found: String
        switch bytes[i] {
        case UInt8(ascii: "\""): found = "string"
        case UInt8(ascii: "{"): found = "object"
        case UInt8(ascii: "["): found = "array"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): found = "boolean"
        case UInt8(ascii: "n"): found = "null"
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): found = "number"
        default: return fail("unexpected character '\(Self.printable(bytes[i]))'")
        }
        return fail("expected \(expected), got \(found)")
    }

    static func printable(_ c: UInt8) -> String {
        (0x20..<0x7f).contains(c) ? String(UnicodeScalar(c)) : "\\x" + String(c, radix: 16)
    }
}

// MARK: - Structure

extension JSONReader {
    @inlinable
    mutating func skipWhitespace() {
        while i < bytes.count {
            let c = bytes[i]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            i += 1
        }
    }

    /// The first byte of the next value, after whitespace.
    @inlinable
    mutating func peek() throws(JSONError) -> UInt8 {
        skipWhitespace()
        guard i < bytes.count else { throw fail("unexpected end of input") }
        return bytes[i]
    }

    @inlinable
    mutating func enter() throws(JSONError) {
        depth += 1
        if depth > JSONValue.maximumDepth { throw fail("nesting deeper than \(JSONValue.maximumDepth)") }
    }

    /// Reads an object, calling `body` with each member's key while the reader is at the member's
    /// value. `body` reads the value, or reads nothing to have it skipped (unknown members).
    @inlinable
    public mutating func readObject(_ body: (JSONKey, inout JSONReader) throws(JSONError) -> Void) throws(JSONError) {
        var object = try beginObject()
        while let key = try nextKey(&object) {
            try body(key, &self)
        }
    }

    /// Starts reading an object (the next value must be one); follow with ``nextKey(_:)`` until it
    /// returns nil. The loop form of ``readObject(_:)``, for hot types (no closure, no captured state):
    ///
    /// ```swift
    /// var object = try reader.beginObject()
    /// while let key = try reader.nextKey(&object) {
    ///     switch key {
    ///     case "name": name = try reader.readString()
    ///     default: break  // not read: skipped
    ///     }
    /// }
    /// ```
    @inlinable
    public mutating func beginObject() throws(JSONError) -> JSONObjectCursor {
        guard try peek() == UInt8(ascii: "{") else { throw typeMismatch(expected: "object") }
        try enter()
        i += 1
        return JSONObjectCursor()
    }

    /// The next member's key, with the reader at its value; nil after the object's closing brace.
    /// A value the caller did not read is skipped.
    @inlinable
    public mutating func nextKey(_ cursor: inout JSONObjectCursor) throws(JSONError) -> JSONKey? {
        if cursor.valueStart >= 0 {
            if i == cursor.valueStart { try skipValue() }
            skipWhitespace()
            guard i < bytes.count else { throw fail("unexpected end of input in object") }
            if bytes[i] == UInt8(ascii: ",") {
                i += 1
                skipWhitespace()
            } else if bytes[i] == UInt8(ascii: "}") {
                i += 1
                depth -= 1
                return nil
            } else {
                throw fail("expected ',' or '}' in object")
            }
        } else {
            skipWhitespace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
                i += 1
                depth -= 1
                return nil
            }
        }
        guard i < bytes.count else { throw fail("unexpected end of input in object") }
        guard bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
        let key = try readKey()
        skipWhitespace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':' after key") }
        i += 1
        skipWhitespace()
        cursor.valueStart = i
        return key
    }

    /// Reads an array, calling `element` for each element; the result has exactly the capacity it needs.
    @inlinable
    public mutating func readArray<T>(_ element: (inout JSONReader) throws(JSONError) -> T) throws(JSONError) -> [T] {
        guard try peek() == UInt8(ascii: "[") else { throw typeMismatch(expected: "array") }
        var out: [T] = []
        out.reserveCapacity(capacityHint(countElements(), elementStride: MemoryLayout<T>.stride))
        try enter()
        i += 1
        skipWhitespace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
            i += 1
            depth -= 1
            return out
        }
        while true {
            skipWhitespace()
            out.append(try element(&self))
            skipWhitespace()
            guard i < bytes.count else { throw fail("unexpected end of input in array") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; break }
            throw fail("expected ',' or ']' in array")
        }
        depth -= 1
        return out
    }

    /// Reads an object whose members all have the same type into a dictionary (`labels`, `annotations`).
    /// A repeated key keeps its last value.
    @inlinable
    public mutating func readDictionary<V>(_ value: (inout JSONReader) throws(JSONError) -> V) throws(JSONError) -> [String: V] {
        guard try peek() == UInt8(ascii: "{") else { throw typeMismatch(expected: "object") }
        var out: [String: V] = Dictionary(minimumCapacity: capacityHint(countElements(), elementStride: 16 + MemoryLayout<V>.stride))
        try readObject { key, r throws(JSONError) in
            out[key.string] = try value(&r)
        }
        return out
    }

    /// `count`, bounded so that the reservation never exceeds four times the bytes left to read: a
    /// malformed body (`[1,1,1,...` read as an array of large structs) cannot make a huge allocation
    /// before the first element fails. Past the bound the array simply grows as elements arrive.
    @inlinable
    func capacityHint(_ count: Int, elementStride: Int) -> Int {
        min(count, max(16, (bytes.count - i) * 4 / max(1, elementStride)))
    }

    /// The number of elements (or members) of the array (or object) starting at the current offset, for
    /// reserving capacity. A quick scan that does not validate: a malformed document gives some count,
    /// and the reading that follows reports the error.
    @usableFromInline
    func countElements() -> Int {
        var j = i + 1
        var nesting = 0
        var count = 0
        var sawValue = false
        let n = bytes.count
        while j < n {
            let c = bytes[j]
            switch c {
            case UInt8(ascii: "\""):
                sawValue = true
                j += 1
                while true {
                    j = stringSpecial(from: j)
                    if j >= n || bytes[j] == UInt8(ascii: "\"") { break }
                    j += bytes[j] == UInt8(ascii: "\\") ? 2 : 1
                }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                sawValue = true
                nesting += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if nesting == 0 { return sawValue ? count + 1 : 0 }
                nesting -= 1
            case UInt8(ascii: ","):
                if nesting == 0 { count += 1 }
            case 0x20, 0x0A, 0x0D, 0x09:
                break
            default:
                sawValue = true
            }
            j += 1
        }
        // Truncated: a capacity hint bounded by what is left.
        return min(count + 1, (n - i) / 2)
    }

    /// Skips one value (validating it).
    public mutating func skipValue() throws(JSONError) {
        switch try peek() {
        case UInt8(ascii: "{"):
            try readObject { _, r throws(JSONError) in try r.skipValue() }
        case UInt8(ascii: "["):
            try enter()
            i += 1
            skipWhitespace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
                i += 1
                depth -= 1
                return
            }
            while true {
                try skipValue()
                skipWhitespace()
                guard i < bytes.count else { throw fail("unexpected end of input in array") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; break }
                throw fail("expected ',' or ']' in array")
            }
            depth -= 1
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "t"): try expectLiteral("true")
        case UInt8(ascii: "f"): try expectLiteral("false")
        case UInt8(ascii: "n"): try expectLiteral("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): _ = try scanNumber()
        case let c: throw fail("unexpected character '\(Self.printable(c))'")
        }
    }

    /// Reads one value of any shape as a ``JSONValue`` (exactly what `JSONValue.parse(_:)` gives).
    public mutating func readValue() throws(JSONError) -> JSONValue {
        skipWhitespace()
        let start = i
        try skipValue()
        do {
            return try JSONValue.parse(UnsafeBufferPointer(rebasing: bytes[start..<i]))
        } catch {
            throw JSONError(message: error.message, offset: start + error.offset)
        }
    }

    @usableFromInline
    mutating func expectLiteral(_ word: StaticString) throws(JSONError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw fail("unexpected end of input") }
        let p = word.utf8Start
        for k in 0..<n where bytes[i + k] != p[k] { throw fail("invalid literal") }
        i += n
    }
}

// MARK: - Scalars

extension JSONReader {
    /// Consumes a `null` if one is next; returns whether it did.
    @inlinable
    public mutating func readNull() throws(JSONError) -> Bool {
        guard try peek() == UInt8(ascii: "n") else { return false }
        try expectLiteral("null")
        return true
    }

    /// Whether the next value is `null` (nothing is consumed).
    @inlinable
    public mutating func isNull() throws(JSONError) -> Bool {
        try peek() == UInt8(ascii: "n")
    }

    /// Reads a string.
    @inlinable
    public mutating func readString() throws(JSONError) -> String {
        guard try peek() == UInt8(ascii: "\"") else { throw typeMismatch(expected: "string") }
        return try scanString()
    }

    /// Reads a string, or `nil` for `null`.
    @inlinable
    public mutating func readStringOrNull() throws(JSONError) -> String? {
        if try readNull() { return nil }
        return try readString()
    }

    /// Reads `true` or `false`.
    @inlinable
    public mutating func readBool() throws(JSONError) -> Bool {
        switch try peek() {
        case UInt8(ascii: "t"): try expectLiteral("true"); return true
        case UInt8(ascii: "f"): try expectLiteral("false"); return false
        default: throw typeMismatch(expected: "boolean")
        }
    }

    /// Reads a boolean, or `nil` for `null`.
    @inlinable
    public mutating func readBoolOrNull() throws(JSONError) -> Bool? {
        if try readNull() { return nil }
        return try readBool()
    }

    /// Reads an integer. Like `JSONDecoder`, a number written with a fraction or exponent is accepted
    /// when its value is a whole number in range (`1.0`, `1e2`); otherwise it is an error.
    @inlinable
    public mutating func readInt64() throws(JSONError) -> Int64 {
        let c = try peek()
        guard c == UInt8(ascii: "-") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) else {
            throw typeMismatch(expected: "integer")
        }
        return try scanInteger()
    }

    /// Reads an integer, or `nil` for `null`.
    @inlinable
    public mutating func readInt64OrNull() throws(JSONError) -> Int64? {
        if try readNull() { return nil }
        return try readInt64()
    }

    /// Reads an integer as `Int`.
    @inlinable
    public mutating func readInt() throws(JSONError) -> Int {
        Int(try readInt64())
    }

    /// Reads an integer as `Int`, or `nil` for `null`.
    @inlinable
    public mutating func readIntOrNull() throws(JSONError) -> Int? {
        if try readNull() { return nil }
        return try readInt()
    }

    /// Reads a number as a `Double` (out-of-range numbers are an error).
    public mutating func readDouble() throws(JSONError) -> Double {
        let c = try peek()
        guard c == UInt8(ascii: "-") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) else {
            throw typeMismatch(expected: "number")
        }
        let start = i
        _ = try scanNumber()
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        guard let d = Double(text), d.isFinite else {
            i = start
            throw fail("number out of range")
        }
        return d
    }

    /// Reads a number as a `Double`, or `nil` for `null`.
    public mutating func readDoubleOrNull() throws(JSONError) -> Double? {
        if try readNull() { return nil }
        return try readDouble()
    }

    /// Validates the number at the current offset and moves past it; returns whether it is written as an integer.
    @usableFromInline
    mutating func scanNumber() throws(JSONError) -> Bool {
        var isInteger = true
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < bytes.count, isDigit(bytes[i]) else { throw fail("invalid number") }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
            if i < bytes.count, isDigit(bytes[i]) { throw fail("leading zero in number") }
        } else {
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            isInteger = false
            i += 1
            guard i < bytes.count, isDigit(bytes[i]) else { throw fail("expected digit after '.'") }
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            isInteger = false
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < bytes.count, isDigit(bytes[i]) else { throw fail("expected digit in exponent") }
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        return isInteger
    }

    @usableFromInline
    mutating func scanInteger() throws(JSONError) -> Int64 {
        let start = i
        // Fast path: an optional minus and digits, accumulated with overflow checks.
        var j = i
        let negative = bytes[j] == UInt8(ascii: "-")
        if negative { j += 1 }
        var value: Int64 = 0
        var overflow = false
        let digitsStart = j
        while j < bytes.count, isDigit(bytes[j]) {
            let d = Int64(bytes[j] &- UInt8(ascii: "0"))
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = negative ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d)
            overflow = overflow || o1 || o2
            value = s
            j += 1
        }
        let plain = j > digitsStart && (j == bytes.count || (bytes[j] != UInt8(ascii: ".") && bytes[j] != UInt8(ascii: "e") && bytes[j] != UInt8(ascii: "E")))
        let isInteger = try scanNumber()  // validates the grammar (leading zeros, fraction, exponent)
        if plain && isInteger {
            if overflow {
                i = start
                throw fail("number out of range for a 64-bit integer")
            }
            return value
        }
        // A fraction or exponent: accepted when the value is a whole number in range.
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        guard let d = Double(text), let v = Int64(exactly: d) else {
            i = start
            throw fail("number is not a 64-bit integer")
        }
        return v
    }

    @inlinable
    func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
}

// MARK: - Strings and keys

/// Where ``JSONReader/nextKey(_:)`` is inside an object.
public struct JSONObjectCursor {
    /// Offset of the current member's value; -1 before the first member.
    @usableFromInline var valueStart: Int

    @inlinable
    init() { valueStart = -1 }
}

/// A member key as read by ``JSONReader/readObject(_:)``: borrowed bytes of the document (or the
/// unescaped text when the key had escapes). Match it against literals in a `switch`.
public struct JSONKey {
    @usableFromInline let raw: UnsafeBufferPointer<UInt8>
    @usableFromInline let unescaped: String?

    @inlinable
    init(raw: UnsafeBufferPointer<UInt8>, unescaped: String?) {
        self.raw = raw
        self.unescaped = unescaped
    }

    /// The key as a string.
    public var string: String {
        unescaped ?? String(decoding: raw, as: UTF8.self)
    }

    /// Whether the key equals `pattern`, for `switch key { case "name": ... }`.
    @inlinable
    public static func ~= (pattern: StaticString, key: JSONKey) -> Bool {
        let n = pattern.utf8CodeUnitCount
        if let unescaped = key.unescaped {
            return unescaped.utf8.elementsEqual(UnsafeBufferPointer(start: pattern.utf8Start, count: n))
        }
        guard key.raw.count == n else { return false }
        let p = pattern.utf8Start
        var k = 0
        while k < n {
            if key.raw[k] != p[k] { return false }
            k += 1
        }
        return true
    }
}

extension JSONReader {
    /// Reads a key (the current byte is its opening quote) without copying when it has no escapes.
    @usableFromInline
    mutating func readKey() throws(JSONError) -> JSONKey {
        let start = i + 1
        let j = stringSpecial(from: start)
        if j < bytes.count, bytes[j] == UInt8(ascii: "\"") {
            i = j + 1
            return JSONKey(raw: UnsafeBufferPointer(rebasing: bytes[start..<j]), unescaped: nil)
        }
        let s = try scanString()
        return JSONKey(raw: UnsafeBufferPointer(start: nil, count: 0), unescaped: s)
    }

    /// Moves past a string (the current byte is its opening quote), validating it.
    mutating func skipString() throws(JSONError) {
        i += 1
        while i < bytes.count {
            i = stringSpecial(from: i)
            guard i < bytes.count else { break }
            let c = bytes[i]
            if c == UInt8(ascii: "\"") { i += 1; return }
            if c < 0x20 { throw fail("control character in string") }
            if c == UInt8(ascii: "\\") {
                i += 1
                guard i < bytes.count else { break }
                switch bytes[i] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 1
                case UInt8(ascii: "u"):
                    i += 1
                    _ = try parseHex4()
                default:
                    throw fail("invalid escape '\\\(Self.printable(bytes[i]))'")
                }
                continue
            }
            i += 1
        }
        throw fail("unterminated string")
    }

    /// Reads a string (the current byte is its opening quote).
    @usableFromInline
    mutating func scanString() throws(JSONError) -> String {
        i += 1
        let start = i
        i = stringSpecial(from: start)
        if i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
                i += 1
                return s
            }
            if c < 0x20 { throw fail("control character in string") }
        }
        return try scanEscapedString(from: start)
    }

    /// The offset of the first byte at or after `start` that ends the plain part of a string: a quote,
    /// a backslash or a control character (`bytes.count` if none). Eight bytes at a time.
    @usableFromInline @inline(__always)
    func stringSpecial(from start: Int) -> Int {
        var j = start
        let n = bytes.count
        if let base = bytes.baseAddress {
            let raw = UnsafeRawPointer(base)
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highs: UInt64 = 0x8080_8080_8080_8080
            while j + 8 <= n {
                let w = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: j, as: UInt64.self))
                let quote = w ^ 0x2222_2222_2222_2222
                let backslash = w ^ 0x5C5C_5C5C_5C5C_5C5C
                // A byte is flagged when it is zero (after the XOR) or below 0x20; the lowest flag is exact.
                let m = (((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((w &- 0x2020_2020_2020_2020) & ~w)) & highs
                if m != 0 { return j + m.trailingZeroBitCount >> 3 }
                j += 8
            }
        }
        while j < n {
            let c = bytes[j]
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") || c < 0x20 { return j }
            j += 1
        }
        return n
    }

    mutating func scanEscapedString(from start: Int) throws(JSONError) -> String {
        var out = [UInt8](UnsafeBufferPointer(rebasing: bytes[start..<i]))
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                return String(decoding: out, as: UTF8.self)
            }
            if c < 0x20 { throw fail("control character in string") }
            if c != UInt8(ascii: "\\") {
                out.append(c)
                i += 1
                continue
            }
            i += 1
            guard i < bytes.count else { break }
            let e = bytes[i]
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
                    if i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                        i += 2
                        let low = try parseHex4()
                        scalar = (0xDC00...0xDFFF).contains(low) ? 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00) : 0xFFFD
                    } else {
                        scalar = 0xFFFD
                    }
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    scalar = 0xFFFD
                }
                let u = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                UTF8.encode(u) { out.append($0) }
            default:
                i -= 1
                throw fail("invalid escape '\\\(Self.printable(e))'")
            }
        }
        throw fail("unterminated string")
    }

    mutating func parseHex4() throws(JSONError) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
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
}

// MARK: - Error paths

extension JSONReader {
    /// The path (`status.devices[3].mtu`) of the value that contains byte `offset` of `document`:
    /// a second, tolerant scan of the document up to the offset, so that reading never pays for
    /// keeping a path.
    static func path(to offset: Int, in document: UnsafeBufferPointer<UInt8>) -> String {
        enum Frame {
            case object(key: String?, expectingKey: Bool)
            case array(index: Int)
        }
        var stack: [Frame] = []
        var j = 0
        let end = min(offset, document.count)
        while j < end {
            let c = document[j]
            switch c {
            case UInt8(ascii: "{"):
                stack.append(.object(key: nil, expectingKey: true))
            case UInt8(ascii: "["):
                stack.append(.array(index: 0))
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if !stack.isEmpty { stack.removeLast() }
            case UInt8(ascii: ","):
                switch stack.last {
                case .object(let key, _): stack[stack.count - 1] = .object(key: key, expectingKey: true)
                case .array(let index): stack[stack.count - 1] = .array(index: index + 1)
                case nil: break
                }
            case UInt8(ascii: "\""):
                let start = j + 1
                j += 1
                var escaped = false
                while j < document.count, document[j] != UInt8(ascii: "\"") {
                    if document[j] == UInt8(ascii: "\\") { escaped = true; j += 1 }
                    j += 1
                }
                if case .object(_, true) = stack.last {
                    let rawKey = UnsafeBufferPointer(rebasing: document[start..<min(j, document.count)])
                    var key = String(decoding: rawKey, as: UTF8.self)
                    if escaped, let parsed = try? JSONValue.parse(UnsafeBufferPointer(rebasing: document[(start - 1)..<min(j + 1, document.count)])).stringValue {
                        key = parsed
                    }
                    stack[stack.count - 1] = .object(key: key, expectingKey: false)
                }
            default:
                break
            }
            j += 1
        }
        // An error at an object's closing brace (a missing member) is about the object, not its last member.
        if offset < document.count, document[offset] == UInt8(ascii: "}"), case .object = stack.last {
            stack[stack.count - 1] = .object(key: nil, expectingKey: true)
        }
        var out = ""
        for frame in stack {
            switch frame {
            case .object(let key?, false):
                if !out.isEmpty { out += "." }
                out += key
            case .array(let index):
                out += "[\(index)]"
            default:
                break
            }
        }
        return out
    }
}

// MARK: - Standard conformances

extension String: JSONReadable {
    /// Reads a JSON string.
    @inlinable
    public init(from reader: inout JSONReader) throws(JSONError) { self = try reader.readString() }
}

extension Bool: JSONReadable {
    /// Reads `true` or `false`.
    @inlinable
    public init(from reader: inout JSONReader) throws(JSONError) { self = try reader.readBool() }
}

extension Int: JSONReadable {
    /// Reads an integer (see ``JSONReader/readInt64()``).
    @inlinable
    public init(from reader: inout JSONReader) throws(JSONError) { self = try reader.readInt() }
}

extension Int64: JSONReadable {
    /// Reads an integer (see ``JSONReader/readInt64()``).
    @inlinable
    public init(from reader: inout JSONReader) throws(JSONError) { self = try reader.readInt64() }
}

extension Double: JSONReadable {
    /// Reads a number.
    public init(from reader: inout JSONReader) throws(JSONError) { self = try reader.readDouble() }
}

extension JSONValue: JSONReadable {
    /// Reads any JSON value.
    public init(from reader: inout JSONReader) throws(JSONError) { self = try reader.readValue() }
}

extension Array: JSONReadable where Element: JSONReadable {
    /// Reads an array of `Element`s (exact capacity).
    @inlinable
    public init(from reader: inout JSONReader) throws(JSONError) {
        self = try reader.readArray { r throws(JSONError) in try Element(from: &r) }
    }
}

extension Dictionary: JSONReadable where Key == String, Value: JSONReadable {
    /// Reads an object whose members are all `Value`s.
    @inlinable
    public init(from reader: inout JSONReader) throws(JSONError) {
        self = try reader.readDictionary { r throws(JSONError) in try Value(from: &r) }
    }
}

extension Optional: JSONReadable where Wrapped: JSONReadable {
    /// Reads `null` as `nil`, anything else as a `Wrapped`.
    @inlinable
    public init(from reader: inout JSONReader) throws(JSONError) {
        self = try reader.readNull() ? nil : try Wrapped(from: &reader)
    }
}

extension JSONReader {
    /// Reads a `T`, or `nil` for `null`.
    @inlinable
    public mutating func readOrNull<T: JSONReadable>(_ type: T.Type) throws(JSONError) -> T? {
        if try readNull() { return nil }
        return try T(from: &self)
    }

    /// Reads an array of `T`, or `nil` for `null`.
    @inlinable
    public mutating func readArrayOrNull<T: JSONReadable>(of type: T.Type) throws(JSONError) -> [T]? {
        if try readNull() { return nil }
        return try readArray { r throws(JSONError) in try T(from: &r) }
    }

    /// Reads an array of strings, or `nil` for `null`.
    @inlinable
    public mutating func readStringArrayOrNull() throws(JSONError) -> [String]? {
        if try readNull() { return nil }
        return try readArray { r throws(JSONError) in try r.readString() }
    }

    /// Reads an object of string members, or `nil` for `null`.
    @inlinable
    public mutating func readStringDictionaryOrNull() throws(JSONError) -> [String: String]? {
        if try readNull() { return nil }
        return try readDictionary { r throws(JSONError) in try r.readString() }
    }
}
