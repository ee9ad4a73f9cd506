/// Decides whether a `Matches` pattern means the same under the resolver's Swift `Regex` and
/// under CEL's `matches` (RE2), on the values the compiled CEL lets it see (printable ASCII: the
/// class guards every `matches` with `^[ -~]*$`).
///
/// Accepted: printable-ASCII literals; escaped punctuation (`\.`, `\-`, `\/`, …); `\d \D \w \W
/// \s \S`; `.`; `^` and `$`; bracket classes of literals, ranges and those escapes (optionally
/// negated), without nested classes, POSIX classes or set operations (`&&`, `--`, `~~`);
/// `* + ?` and `{n}` `{n,}` `{n,m}` (n, m ≤ 1000), each optionally lazy (`?`); groups `( )` and
/// `(?: )`; alternation; a leading `(?i)`. Everything else — back-references, look-around,
/// possessive quantifiers, named groups, `\b`, `\A`, `\z`, Unicode properties, `{,m}`,
/// non-ASCII or control characters — is refused with the reason: the two engines disagree on
/// some of it (`\b` follows Unicode word boundaries in Swift, `{,m}` is a literal in RE2) and RE2
/// rejects the rest.
enum PortableRegex {
    /// nil when `pattern` is portable, else why not.
    static func problem(_ pattern: String) -> String? {
        var b = Array(pattern.utf8)
        if b.contains(where: { $0 < 0x20 || $0 > 0x7e }) { return "it contains a non-ASCII or control character" }
        if b.starts(with: Array("(?i)".utf8)) { b.removeFirst(4) }
        var i = 0
        var depth = 0
        var canQuantify = false  // the previous token is an atom
        var quantified = false  // the previous token is a quantifier (a lazy `?` may follow once)
        var lazyDone = false
        func byte(_ c: Character) -> UInt8 { c.asciiValue ?? 0 }
        let punct = Set("\\.+*?()[]{}|^$/-#&~'\"!%,:;<=>@`".utf8)
        while i < b.count {
            let c = b[i]
            switch c {
            case byte("\\"):
                guard i + 1 < b.count else { return "it ends with a lone backslash" }
                let e = b[i + 1]
                if Set("dDwWsS".utf8).contains(e) || punct.contains(e) {
                    i += 2
                    canQuantify = true; quantified = false
                    continue
                }
                return "escape \\\(Character(Unicode.Scalar(e))) is not portable between Swift Regex and RE2"
            case byte("."), byte("^"), byte("$"):
                i += 1
                canQuantify = c == byte("."); quantified = false
            case byte("["):
                guard let end = classEnd(b, from: i) else { return "a bracket class is not in the portable subset (nested classes, POSIX classes, set operations or escapes other than \\d \\w \\s and punctuation)" }
                i = end + 1
                canQuantify = true; quantified = false
            case byte("]"), byte("}"):
                return "an unbalanced '\(Character(Unicode.Scalar(c)))' is a literal in one engine and an error in the other"
            case byte("("):
                if i + 1 < b.count && b[i + 1] == byte("?") {
                    guard i + 2 < b.count, b[i + 2] == byte(":") else {
                        return "group syntax '(?' other than '(?:' (look-around, named groups, inline flags) is not portable"
                    }
                    i += 3
                } else {
                    i += 1
                }
                depth += 1
                canQuantify = false; quantified = false
            case byte(")"):
                guard depth > 0 else { return "an unbalanced ')'" }
                depth -= 1
                i += 1
                canQuantify = true; quantified = false
            case byte("|"):
                i += 1
                canQuantify = false; quantified = false
            case byte("*"), byte("+"), byte("?"):
                if quantified && c == byte("?") && !lazyDone {
                    lazyDone = true
                    i += 1
                    continue
                }
                guard canQuantify else { return "a quantifier with nothing to repeat, or repeated (possessive) quantifiers" }
                i += 1
                canQuantify = false; quantified = true; lazyDone = false
            case byte("{"):
                guard let (end, ok) = repetition(b, from: i) else { return "'{' is not a repetition {n}, {n,} or {n,m} (RE2 reads other forms as literals)" }
                guard ok else { return "a repetition count above 1000 (RE2's limit) or {n,m} with n > m" }
                guard canQuantify else { return "a repetition with nothing to repeat, or repeated quantifiers" }
                i = end + 1
                canQuantify = false; quantified = true; lazyDone = false
            default:
                i += 1
                canQuantify = true; quantified = false
            }
        }
        if depth != 0 { return "an unclosed '('" }
        return nil
    }

    /// The index of the `]` closing the class that starts at `start`, or nil when the class is not portable.
    static func classEnd(_ b: [UInt8], from start: Int) -> Int? {
        var i = start + 1
        if i < b.count && b[i] == UInt8(ascii: "^") { i += 1 }
        var first = true
        var previous: UInt8? = nil
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "]") { return first ? nil : i }  // `[]a]`: a literal `]` in RE2, not in Swift
            if c == UInt8(ascii: "[") { return nil }
            if c == UInt8(ascii: "\\") {
                guard i + 1 < b.count else { return nil }
                let e = b[i + 1]
                let isClassEscape = Set("dDwWsS".utf8).contains(e)
                guard isClassEscape || Set("\\.+*?()[]{}|^$/-".utf8).contains(e) else { return nil }
                previous = isClassEscape ? nil : e
                i += 2
                first = false
                continue
            }
            // Set operations of Swift Regex: `&&`, `--`, `~~`.
            if i + 1 < b.count && b[i + 1] == c && (c == UInt8(ascii: "&") || c == UInt8(ascii: "-") || c == UInt8(ascii: "~")) { return nil }
            if c == UInt8(ascii: "-") && !first && i + 1 < b.count && b[i + 1] != UInt8(ascii: "]") {
                // A range: both ends literal, ascending.
                guard let lo = previous else { return nil }
                var hi = b[i + 1]
                var width = 2
                if hi == UInt8(ascii: "\\") {
                    guard i + 2 < b.count, Set("\\.+*?()[]{}|^$/-".utf8).contains(b[i + 2]) else { return nil }
                    hi = b[i + 2]
                    width = 3
                } else if hi == UInt8(ascii: "[") {
                    return nil
                }
                guard lo <= hi else { return nil }
                previous = nil
                i += width
                first = false
                continue
            }
            if c == UInt8(ascii: "-") && first { return nil }  // a leading '-' reads differently after '^' in some engines
            previous = c
            i += 1
            first = false
        }
        return nil
    }

    /// `{n}`, `{n,}` or `{n,m}` starting at `start`: the index of `}` and whether the counts are in range.
    static func repetition(_ b: [UInt8], from start: Int) -> (Int, Bool)? {
        var i = start + 1
        func number() -> Int? {
            var n = 0, digits = 0
            while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") {
                n = n * 10 + Int(b[i] - UInt8(ascii: "0"))
                digits += 1
                i += 1
                if digits > 4 { return nil }
            }
            return digits == 0 ? nil : n
        }
        guard let n = number() else { return nil }
        var m: Int? = n
        if i < b.count && b[i] == UInt8(ascii: ",") {
            i += 1
            m = i < b.count && b[i] == UInt8(ascii: "}") ? nil : number()
            if m == nil && (i >= b.count || b[i] != UInt8(ascii: "}")) { return nil }
        }
        guard i < b.count, b[i] == UInt8(ascii: "}") else { return nil }
        let ok = n <= 1000 && (m.map { $0 <= 1000 && n <= $0 } ?? true)
        return (i, ok)
    }
}
