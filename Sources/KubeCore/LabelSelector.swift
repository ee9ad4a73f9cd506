/// `metav1.LabelSelector`: `matchLabels` and `matchExpressions`, ANDed. An empty selector
/// matches everything; a nil selector is the caller's business (usually "everything" too).
public struct LabelSelector: Codable, Sendable, Hashable {
    public var matchLabels: [String: String]?
    public var matchExpressions: [LabelSelectorRequirement]?

    public init(matchLabels: [String: String]? = nil, matchExpressions: [LabelSelectorRequirement]? = nil) {
        self.matchLabels = matchLabels
        self.matchExpressions = matchExpressions
    }

    /// Whether `labels` satisfy every term.
    public func matches(_ labels: [String: String]) -> Bool {
        for (k, v) in matchLabels ?? [:] where labels[k] != v { return false }
        for r in matchExpressions ?? [] where !r.matches(labels) { return false }
        return true
    }

    /// Problems that make this selector unusable, with field paths relative to `path`.
    public func validationErrors(path: String) -> [String] {
        var errors: [String] = []
        for (i, r) in (matchExpressions ?? []).enumerated() {
            let p = "\(path).matchExpressions[\(i)]"
            switch r.operator {
            case .in, .notIn:
                if (r.values ?? []).isEmpty { errors.append("\(p).values: Required value: must be specified when `operator` is 'In' or 'NotIn'") }
            case .exists, .doesNotExist:
                if !(r.values ?? []).isEmpty { errors.append("\(p).values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'") }
            }
        }
        return errors
    }

    /// The selector in the `labelSelector=` query syntax, or nil when it cannot be
    /// expressed there (it always can for valid selectors).
    public var queryString: String {
        var terms: [String] = []
        for k in (matchLabels ?? [:]).keys.sorted() { terms.append("\(k)=\(matchLabels![k]!)") }
        for r in matchExpressions ?? [] {
            let values = (r.values ?? []).sorted().joined(separator: ",")
            switch r.operator {
            case .in: terms.append("\(r.key) in (\(values))")
            case .notIn: terms.append("\(r.key) notin (\(values))")
            case .exists: terms.append(r.key)
            case .doesNotExist: terms.append("!\(r.key)")
            }
        }
        return terms.joined(separator: ",")
    }
}

/// One term of a `LabelSelector`.
public struct LabelSelectorRequirement: Codable, Sendable, Hashable {
    public enum Operator: String, Codable, Sendable, CaseIterable {
        case `in` = "In"
        case notIn = "NotIn"
        case exists = "Exists"
        case doesNotExist = "DoesNotExist"
    }

    public var key: String
    public var `operator`: Operator
    public var values: [String]?

    public init(key: String, operator: Operator, values: [String]? = nil) {
        self.key = key
        self.operator = `operator`
        self.values = values
    }

    public func matches(_ labels: [String: String]) -> Bool {
        switch `operator` {
        case .in: return labels[key].map { (values ?? []).contains($0) } ?? false
        case .notIn: return labels[key].map { !(values ?? []).contains($0) } ?? true
        case .exists: return labels[key] != nil
        case .doesNotExist: return labels[key] == nil
        }
    }
}

/// A parsed `labelSelector=` query string (`tier=gold,env!=dev,zone in (a,b),!legacy,gen>3`),
/// the syntax of apimachinery's `labels.Parse`.
public struct LabelSelectorString: Sendable, Hashable {
    public enum Op: String, Sendable {
        case equals = "=", doubleEquals = "==", notEquals = "!=", `in` = "in", notIn = "notin"
        case exists = "exists", doesNotExist = "!", greaterThan = ">", lessThan = "<"
    }

    public struct Requirement: Sendable, Hashable {
        public var key: String
        public var op: Op
        public var values: [String]

        public func matches(_ labels: [String: String]) -> Bool {
            let v = labels[key]
            switch op {
            case .equals, .doubleEquals, .in: return v.map { values.contains($0) } ?? false
            case .notEquals, .notIn: return v.map { !values.contains($0) } ?? true
            case .exists: return v != nil
            case .doesNotExist: return v == nil
            case .greaterThan, .lessThan:
                guard let v, let lhs = Int64(v), let rhs = values.first.flatMap({ Int64($0) }) else { return false }
                return op == .greaterThan ? lhs > rhs : lhs < rhs
            }
        }
    }

    public var requirements: [Requirement]

    public init(requirements: [Requirement]) { self.requirements = requirements }

    public func matches(_ labels: [String: String]) -> Bool { requirements.allSatisfy { $0.matches(labels) } }

    /// Parses the query syntax; the error message follows kube-apiserver's wording
    /// ("unable to parse requirement: found '=', expected: identifier").
    public static func parse(_ text: String) throws(SelectorParseError) -> LabelSelectorString {
        var lexer = SelectorLexer(Array(text.unicodeScalars))
        var reqs: [Requirement] = []
        while true {
            let (tok, lit) = lexer.peek()
            if tok == .end { break }
            reqs.append(try parseRequirement(&lexer))
            let (next, nlit) = lexer.next()
            switch next {
            case .end: return LabelSelectorString(requirements: reqs)
            case .comma:
                let (after, alit) = lexer.peek()
                if after == .end || after == .comma {
                    throw SelectorParseError(message: "found '\(alit)', expected: ',' or 'end of string'")
                }
            default:
                throw SelectorParseError(message: "found '\(nlit)', expected: ',' or 'end of string'")
            }
            _ = lit
        }
        return LabelSelectorString(requirements: reqs)
    }

    private static func parseRequirement(_ lexer: inout SelectorLexer) throws(SelectorParseError) -> Requirement {
        var (tok, lit) = lexer.next()
        var negated = false
        if tok == .not {
            negated = true
            (tok, lit) = lexer.next()
        }
        guard tok == .identifier else {
            throw SelectorParseError(message: "unable to parse requirement: found '\(lit)', expected: identifier")
        }
        let key = lit
        if let problem = LabelSyntax.keyError(key) {
            throw SelectorParseError(message: "unable to parse requirement: invalid label key \"\(key)\": \(problem)")
        }
        if negated { return Requirement(key: key, op: .doesNotExist, values: []) }
        let (ptok, _) = lexer.peek()
        if ptok == .end || ptok == .comma { return Requirement(key: key, op: .exists, values: []) }
        let (otok, olit) = lexer.next()
        let op: Op
        switch otok {
        case .equals: op = .equals
        case .doubleEquals: op = .doubleEquals
        case .notEquals: op = .notEquals
        case .in: op = .in
        case .notIn: op = .notIn
        case .gt: op = .greaterThan
        case .lt: op = .lessThan
        default:
            throw SelectorParseError(message: "found '\(olit)', expected: '=', '!=', '==', 'in', notin'")
        }
        if op == .in || op == .notIn {
            let (lp, lplit) = lexer.next()
            guard lp == .openParen else { throw SelectorParseError(message: "found '\(lplit)', expected: '('") }
            var values: [String] = []
            while true {
                let (vt, vlit) = lexer.next()
                switch vt {
                case .identifier:
                    values.append(vlit)
                    let (sep, slit) = lexer.next()
                    if sep == .closeParen { return Requirement(key: key, op: op, values: values) }
                    if sep != .comma { throw SelectorParseError(message: "found '\(slit)', expected: ',' or ')'") }
                case .closeParen:
                    return Requirement(key: key, op: op, values: values)
                case .comma:
                    values.append("")
                default:
                    throw SelectorParseError(message: "found '\(vlit)', expected: ',', ')' or identifier")
                }
            }
        }
        let (vt, vlit) = lexer.peek()
        var value = ""
        if vt == .identifier {
            _ = lexer.next()
            value = vlit
        } else if vt != .end && vt != .comma {
            throw SelectorParseError(message: "found '\(vlit)', expected: identifier")
        }
        if (op == .greaterThan || op == .lessThan) && Int64(value) == nil {
            throw SelectorParseError(message: "unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer")
        }
        if let problem = LabelSyntax.valueError(value) {
            throw SelectorParseError(message: "unable to parse requirement: invalid label value: \"\(value)\": \(problem)")
        }
        return Requirement(key: key, op: op, values: [value])
    }
}

/// A selector string that could not be parsed.
public struct SelectorParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

private struct SelectorLexer {
    enum Token { case identifier, comma, not, equals, doubleEquals, notEquals, `in`, notIn, gt, lt, openParen, closeParen, end }
    let s: [Unicode.Scalar]
    var i = 0
    init(_ s: [Unicode.Scalar]) { self.s = s }

    func peek() -> (Token, String) {
        var copy = self
        return copy.next()
    }

    mutating func next() -> (Token, String) {
        while i < s.count, s[i] == " " || s[i] == "\t" { i += 1 }
        guard i < s.count else { return (.end, "") }
        let c = s[i]
        switch c {
        case ",": i += 1; return (.comma, ",")
        case "(": i += 1; return (.openParen, "(")
        case ")": i += 1; return (.closeParen, ")")
        case ">": i += 1; return (.gt, ">")
        case "<": i += 1; return (.lt, "<")
        case "!":
            if i + 1 < s.count, s[i + 1] == "=" { i += 2; return (.notEquals, "!=") }
            i += 1; return (.not, "!")
        case "=":
            if i + 1 < s.count, s[i + 1] == "=" { i += 2; return (.doubleEquals, "==") }
            i += 1; return (.equals, "=")
        default:
            var word = ""
            while i < s.count, !" \t,()!=<>".unicodeScalars.contains(s[i]) {
                word.unicodeScalars.append(s[i])
                i += 1
            }
            if word == "in" { return (.in, word) }
            if word == "notin" { return (.notIn, word) }
            return (.identifier, word)
        }
    }
}

/// Syntax rules for label keys and values (qualified names, DNS-1123 subdomain prefixes).
public enum LabelSyntax {
    static func isAlnum(_ c: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c)
    }

    /// Why `name` is not a valid label/annotation key, or nil.
    public static func keyError(_ key: String) -> String? {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        var name = key
        if parts.count == 2 {
            let prefix = String(parts[0])
            name = String(parts[1])
            if prefix.isEmpty { return "prefix part must be non-empty" }
            if let e = DNSNames.subdomainError(prefix) { return "prefix part \(e)" }
        } else if parts.count > 2 {
            return "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        }
        if name.isEmpty { return "name part must be non-empty" }
        if name.count > 63 { return "name part must be no more than 63 characters" }
        return valueShapeOK(name) ? nil : "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    }

    /// Why `value` is not a valid label value, or nil. The empty value is valid.
    public static func valueError(_ value: String) -> String? {
        if value.isEmpty { return nil }
        if value.count > 63 { return "must be no more than 63 characters" }
        return valueShapeOK(value) ? nil : "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    }

    static func valueShapeOK(_ v: String) -> Bool {
        let u = Array(v.unicodeScalars)
        guard let f = u.first, let l = u.last, isAlnum(f), isAlnum(l) else { return false }
        return u.allSatisfy { isAlnum($0) || $0 == "-" || $0 == "_" || $0 == "." }
    }
}

/// DNS-1123 name rules used for object names.
public enum DNSNames {
    /// Why `s` is not a DNS-1123 subdomain (object names of most kinds), or nil.
    public static func subdomainError(_ s: String) -> String? {
        if s.utf8.count > 253 { return "must be no more than 253 characters" }
        let ok = !s.isEmpty && s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { labelShapeOK(Substring($0)) }
        return ok ? nil : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    }

    /// Why `s` is not a DNS-1123 label (namespace names, network names), or nil.
    public static func labelError(_ s: String) -> String? {
        if s.utf8.count > 63 { return "must be no more than 63 characters" }
        return labelShapeOK(Substring(s)) ? nil : "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    }

    static func labelShapeOK(_ s: Substring) -> Bool {
        let u = Array(s.unicodeScalars)
        func lowerAlnum(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("0"..."9").contains(c) }
        guard let f = u.first, let l = u.last, lowerAlnum(f), lowerAlnum(l) else { return false }
        return u.allSatisfy { lowerAlnum($0) || $0 == "-" }
    }
}
