/// An ordered, multi-valued collection of HTTP header fields with case-insensitive names.
///
/// Order and the original spelling of names are kept for output; lookups ignore ASCII case.
/// ```swift
/// var headers: HTTPHeaders = ["Content-Type": "application/json"]
/// headers.add(name: "Warning", value: "299 - \"deprecated\"")
/// headers["content-type"]   // "application/json"
/// ```
public struct HTTPHeaders: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    /// The fields in order, as (name, value) pairs.
    public private(set) var fields: [(name: String, value: String)]

    /// Creates headers from (name, value) pairs, keeping their order.
    public init(_ fields: [(name: String, value: String)] = []) {
        self.fields = fields
    }

    /// Creates headers from a literal; order follows the literal.
    public init(dictionaryLiteral elements: (String, String)...) {
        self.fields = elements.map { (name: $0.0, value: $0.1) }
    }

    /// The first value of `name`, or nil. Setting replaces every value of `name` (nil removes them).
    public subscript(name: String) -> String? {
        get { fields.first { Self.equalNames($0.name, name) }?.value }
        set {
            if let newValue { replaceOrAdd(name: name, value: newValue) } else { remove(name: name) }
        }
    }

    /// Every value of `name`, in order.
    public func values(for name: String) -> [String] {
        fields.filter { Self.equalNames($0.name, name) }.map(\.value)
    }

    /// Every value of `name`, split on commas and trimmed (for list-valued fields such as `Connection`).
    public func listValues(for name: String) -> [String] {
        values(for: name).flatMap { $0.split(separator: ",") }.map { trimOWS(Substring($0)) }.filter { !$0.isEmpty }
    }

    /// Whether a field called `name` is present.
    public func contains(_ name: String) -> Bool {
        fields.contains { Self.equalNames($0.name, name) }
    }

    /// Appends a field, keeping existing fields of the same name.
    public mutating func add(name: String, value: String) {
        fields.append((name: name, value: value))
    }

    /// Replaces all fields called `name` with one field (at the position of the first), or appends it.
    public mutating func replaceOrAdd(name: String, value: String) {
        if let index = fields.firstIndex(where: { Self.equalNames($0.name, name) }) {
            fields[index] = (name: name, value: value)
            var i = fields.count - 1
            while i > index {
                if Self.equalNames(fields[i].name, name) { fields.remove(at: i) }
                i -= 1
            }
        } else {
            fields.append((name: name, value: value))
        }
    }

    /// Removes every field called `name`.
    public mutating func remove(name: String) {
        fields.removeAll { Self.equalNames($0.name, name) }
    }

    /// The number of fields.
    public var count: Int { fields.count }

    /// Iterates over the fields in order.
    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }

    /// "Name: value" lines.
    public var description: String {
        fields.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
    }

    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.count == rhs.fields.count
            && zip(lhs.fields, rhs.fields).allSatisfy { equalNames($0.name, $1.name) && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(fields.count)
        for field in fields {
            hasher.combine(field.name.lowercased())
            hasher.combine(field.value)
        }
    }

    static func equalNames(_ a: String, _ b: String) -> Bool {
        let x = a.utf8, y = b.utf8
        guard x.count == y.count else { return false }
        for (c, d) in zip(x, y) where asciiLower(c) != asciiLower(d) {
            return false
        }
        return true
    }
}

@inline(__always)
func asciiLower(_ c: UInt8) -> UInt8 {
    (c >= 65 && c <= 90) ? c + 32 : c
}

/// Trims HTTP optional whitespace (spaces and tabs) from both ends.
func trimOWS(_ s: Substring) -> String {
    var start = s.startIndex, end = s.endIndex
    while start < end, s[start] == " " || s[start] == "\t" { start = s.index(after: start) }
    while end > start {
        let before = s.index(before: end)
        guard s[before] == " " || s[before] == "\t" else { break }
        end = before
    }
    return String(s[start..<end])
}
