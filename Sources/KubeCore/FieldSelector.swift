/// A parsed `fieldSelector=` query string: `metadata.name=x,metadata.namespace!=y`.
public struct FieldSelector: Sendable, Hashable {
    public struct Term: Sendable, Hashable {
        public var field: String
        public var negated: Bool
        public var value: String

        /// `field=value`, or `field!=value` when `negated`.
        public init(field: String, negated: Bool, value: String) {
            self.field = field
            self.negated = negated
            self.value = value
        }
    }

    public var terms: [Term]

    public init(terms: [Term]) { self.terms = terms }

    /// Parses the syntax of apimachinery's `fields.ParseSelector` (`=`, `==`, `!=`, comma-separated,
    /// backslash escapes in values).
    public static func parse(_ text: String) throws(SelectorParseError) -> FieldSelector {
        var terms: [Term] = []
        if text.trimmingSpaces.isEmpty { return FieldSelector(terms: []) }
        for part in splitUnescaped(text, on: ",") {
            let p = part.trimmingSpaces
            if let (f, v) = splitOnce(p, "!=") {
                terms.append(Term(field: f, negated: true, value: unescapeValue(v)))
            } else if let (f, v) = splitOnce(p, "==") ?? splitOnce(p, "=") {
                terms.append(Term(field: f, negated: false, value: unescapeValue(v)))
            } else {
                throw SelectorParseError(message: "invalid selector: '\(text)'; can't understand '\(p)'")
            }
        }
        return FieldSelector(terms: terms)
    }

    /// Whether an object whose selectable fields are `fields` matches. Fields absent from
    /// the dictionary compare as the empty string.
    public func matches(_ fields: [String: String]) -> Bool {
        terms.allSatisfy { t in (fields[t.field] ?? "") == t.value ? !t.negated : t.negated }
    }

    public var queryString: String {
        terms.map { "\($0.field)\($0.negated ? "!=" : "=")\($0.value)" }.joined(separator: ",")
    }

    static func splitOnce(_ s: String, _ sep: String) -> (String, String)? {
        let u = Array(s.utf8), t = Array(sep.utf8)
        guard u.count >= t.count else { return nil }
        for i in 0...(u.count - t.count) where Array(u[i..<(i + t.count)]) == t {
            return (String(decoding: u[..<i], as: UTF8.self), String(decoding: u[(i + t.count)...], as: UTF8.self))
        }
        return nil
    }

    static func splitUnescaped(_ s: String, on sep: Character) -> [String] {
        var parts: [String] = []
        var cur = ""
        var escaped = false
        for c in s {
            if escaped { cur.append(c); escaped = false; continue }
            if c == "\\" { cur.append(c); escaped = true; continue }
            if c == sep { parts.append(cur); cur = ""; continue }
            cur.append(c)
        }
        parts.append(cur)
        return parts
    }

    static func unescapeValue(_ s: String) -> String {
        var out = ""
        var escaped = false
        for c in s {
            if escaped { out.append(c); escaped = false } else if c == "\\" { escaped = true } else { out.append(c) }
        }
        return out
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}
