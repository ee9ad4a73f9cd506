import Foundation
import JSON

/// Kubernetes JSONPath templates (the client-go `util/jsonpath` dialect kube-apiserver uses for CRD
/// printer columns): fields `.a`, escaped dots `a\.b`, `['key']`, indexes and slices `[n]`, `[-1]`,
/// `[a:b:c]`, wildcards `[*]` and `.*`, unions `[0,1]`, recursive descent `..`, filters
/// `[?(@.k == "v")]` with `==`, `!=`, `<`, `<=`, `>`, `>=` and existence `[?(@.k)]`, literals.
/// Missing keys give no result (`AllowMissingKeys(true)`, as the table convertor sets); evaluation
/// errors (index out of range, filtering a non-array, comparing different types) fail the whole path.
struct KubeJSONPath: Sendable {
    struct Slice: Sendable, Equatable {
        var start: Int?
        var end: Int?
        var endDerived = false
        var step: Int?
    }

    indirect enum Node: Sendable, Equatable {
        case list([Node])
        case text(String)
        case field(String)
        case slice(Slice)
        case filter(left: [Node], right: [Node], op: String)
        case int(Int)
        case float(Double)
        case bool(Bool)
        case wildcard
        case recursive
        case union([[Node]])
        case identifier(String)
    }

    struct PathError: Error, CustomStringConvertible, Sendable {
        var description: String
    }

    /// The template's top-level nodes: `.list` for each `{...}` action, `.text` for text between them.
    let nodes: [Node]

    /// Parses a template such as `{.status.conditions[?(@.type=="Ready")].status}`.
    init(template: String) throws(PathError) {
        var parser = Parser(Array(template.unicodeScalars))
        nodes = try parser.parseTemplate()
    }

    /// The results of each top-level node (client-go `FindResults`).
    func findResults(_ data: JSONValue) throws(PathError) -> [[JSONValue]] {
        var out: [[JSONValue]] = []
        for node in nodes { out.append(try Self.walk([data], node)) }
        return out
    }

    // MARK: - Parsing

    struct Parser {
        let input: [Unicode.Scalar]
        var pos = 0

        init(_ input: [Unicode.Scalar]) { self.input = input }

        func hasPrefix(_ s: String) -> Bool {
            let p = Array(s.unicodeScalars)
            guard pos + p.count <= input.count else { return false }
            return Array(input[pos..<(pos + p.count)]) == p
        }

        mutating func next() -> Unicode.Scalar? {
            guard pos < input.count else { return nil }
            defer { pos += 1 }
            return input[pos]
        }

        func peek() -> Unicode.Scalar? { pos < input.count ? input[pos] : nil }

        func text(_ from: Int, _ to: Int) -> String {
            var s = String.UnicodeScalarView()
            s.append(contentsOf: input[from..<to])
            return String(s)
        }

        mutating func parseTemplate() throws(PathError) -> [Node] {
            var root: [Node] = []
            var start = pos
            while true {
                if hasPrefix("{") {
                    if pos > start { root.append(.text(text(start, pos))) }
                    pos += 1
                    root.append(.list(try parseAction()))
                    start = pos
                    continue
                }
                if next() == nil { break }
            }
            if pos > start { root.append(.text(text(start, pos))) }
            return root
        }

        /// Parses `text` as the inside of one action (`{text}`).
        static func parseSub(_ text: String) throws(PathError) -> [Node] {
            var p = Parser(Array("{\(text)}".unicodeScalars))
            let root = try p.parseTemplate()
            guard case .list(let nodes)? = root.first else { throw PathError(description: "invalid sub-expression \(text)") }
            return nodes
        }

        /// Parses nodes up to and including the closing `}`.
        mutating func parseAction() throws(PathError) -> [Node] {
            var cur: [Node] = []
            while true {
                if hasPrefix("}") { pos += 1; return cur }
                if hasPrefix("[?(") { try parseFilter(&cur); continue }
                if hasPrefix("..") {
                    if cur.last == .recursive { throw PathError(description: "invalid multiple recursive descent") }
                    pos += 2
                    cur.append(.recursive)
                    if let r = peek(), Self.isAlphaNumeric(r) { parseField(&cur) }
                    continue
                }
                let begin = pos
                guard let r = next(), r != "\r", r != "\n" else { throw PathError(description: "unclosed action") }
                switch r {
                case " ", "@", "$":
                    continue
                case "[":
                    try parseArray(&cur, begin: begin)
                case "\"", "'":
                    try parseQuote(&cur, begin: begin, quote: r)
                case ".":
                    parseField(&cur)
                case "+", "-", "0"..."9":
                    pos = begin
                    try parseNumber(&cur)
                default:
                    guard Self.isAlphaNumeric(r) else {
                        throw PathError(description: "unrecognized character in action: U+\(String(r.value, radix: 16, uppercase: true))")
                    }
                    pos = begin
                    while let c = peek(), !Self.isTerminator(c) { pos += 1 }
                    let word = text(begin, pos)
                    cur.append(word == "true" || word == "false" ? .bool(word == "true") : .identifier(word))
                }
            }
        }

        static func isTerminator(_ r: Unicode.Scalar) -> Bool {
            switch r {
            case " ", "\t", "\r", "\n", ".", ",", "[", "]", "$", "@", "{", "}": return true
            default: return false
            }
        }

        static func isAlphaNumeric(_ r: Unicode.Scalar) -> Bool {
            r == "_" || r.properties.isAlphabetic || r.properties.numericType == .decimal
        }

        mutating func parseField(_ cur: inout [Node]) {
            let start = pos
            while let r = peek() {
                if r == "\\" { pos = min(pos + 2, input.count); continue }
                if Self.isTerminator(r) { break }
                pos += 1
            }
            let value = text(start, pos)
            cur.append(value == "*" ? .wildcard : .field(value.replacingOccurrences(of: "\\", with: "")))
        }

        mutating func parseNumber(_ cur: inout [Node]) throws(PathError) {
            let start = pos
            if let r = peek(), r == "+" || r == "-" { pos += 1 }
            while let r = peek(), r == "." || ("0"..."9").contains(r) { pos += 1 }
            let value = text(start, pos)
            if let i = Int(value) { cur.append(.int(i)); return }
            if let d = Double(value) { cur.append(.float(d)); return }
            throw PathError(description: "cannot parse number \(value)")
        }

        mutating func parseQuote(_ cur: inout [Node], begin: Int, quote: Unicode.Scalar) throws(PathError) {
            while true {
                guard let r = next(), r != "\n" else { throw PathError(description: "unterminated quoted string") }
                if r == quote && input[pos - 2] != "\\" { break }
            }
            let raw = text(begin, pos)
            guard let s = Self.unquote(Array(raw.unicodeScalars)) else { throw PathError(description: "unquote string \(raw) error invalid syntax") }
            cur.append(.text(s))
        }

        /// Go `strconv.Unquote` extended to single quotes (the escapes JSONPath templates use).
        static func unquote(_ s: [Unicode.Scalar]) -> String? {
            guard s.count >= 2, let q = s.first, q == s.last else { return nil }
            var out = String.UnicodeScalarView()
            var i = 1
            while i < s.count - 1 {
                let c = s[i]
                if c == q { return nil }
                guard c == "\\" else { out.append(c); i += 1; continue }
                i += 1
                guard i < s.count - 1 else { return nil }
                switch s[i] {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "a": out.append("\u{07}")
                case "b": out.append("\u{08}")
                case "f": out.append("\u{0C}")
                case "v": out.append("\u{0B}")
                case "\\": out.append("\\")
                case "\"", "'":
                    // Only the enclosing quote may be escaped (Go strconv.UnquoteChar).
                    guard s[i] == q else { return nil }
                    out.append(s[i])
                case "u":
                    guard i + 4 < s.count - 1 else { return nil }
                    var hex = String.UnicodeScalarView()
                    hex.append(contentsOf: s[(i + 1)...(i + 4)])
                    guard let v = UInt32(String(hex), radix: 16), let scalar = Unicode.Scalar(v) else { return nil }
                    out.append(scalar)
                    i += 4
                default: return nil
                }
                i += 1
            }
            return String(out)
        }

        mutating func parseArray(_ cur: inout [Node], begin: Int) throws(PathError) {
            while true {
                guard let r = next(), r != "\n" else { throw PathError(description: "unterminated array") }
                if r == "]" { break }
            }
            var inner = text(begin + 1, pos - 1)
            if inner == "*" { inner = ":" }
            let parts = inner.split(separator: ",", omittingEmptySubsequences: false)
            if parts.count > 1 {
                var union: [[Node]] = []
                for part in parts {
                    union.append(try Self.parseSub("[\(part.trimmingCharacters(in: CharacterSet(charactersIn: " ")))]"))
                }
                cur.append(.union(union))
                return
            }
            if inner.count >= 2, inner.hasPrefix("'"), inner.hasSuffix("'") {
                let key = String(inner.dropFirst().dropLast())
                if !key.contains("'") {
                    cur.append(contentsOf: try Self.parseSub(".\(key)"))
                    return
                }
            }
            cur.append(.slice(try Self.parseSlice(inner)))
        }

        /// `^(-?\d*)(:-?\d*)?(:-?\d*)?$`
        static func parseSlice(_ text: String) throws(PathError) -> Slice {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            func valid(_ p: String) -> Bool {
                let digits = p.hasPrefix("-") ? p.dropFirst() : Substring(p)
                return digits.allSatisfy { $0.isASCII && $0.isNumber }
            }
            guard parts.count <= 3, parts.allSatisfy(valid) else { throw PathError(description: "invalid array index \(text)") }
            func number(_ p: String) throws(PathError) -> Int {
                guard let n = Int(p) else { throw PathError(description: "array index \(p) is not a number") }
                return n
            }
            var slice = Slice()
            if !parts[0].isEmpty { slice.start = try number(parts[0]) }
            if parts.count == 1 {
                slice.end = (slice.start ?? 0) + 1
                slice.endDerived = true
            } else if !parts[1].isEmpty {
                slice.end = try number(parts[1])
            }
            if parts.count == 3, !parts[2].isEmpty { slice.step = try number(parts[2]) }
            return slice
        }

        mutating func parseFilter(_ cur: inout [Node]) throws(PathError) {
            pos += 3
            let start = pos
            var begin = false, end = false
            var pair: Unicode.Scalar = "\""
            loop: while true {
                guard let r = next(), r != "\n" else { throw PathError(description: "unterminated filter") }
                switch r {
                case "\"", "'":
                    if !begin { begin = true; pair = r; continue }
                    if input[pos - 2] != "\\" && r == pair { end = true }
                case ")":
                    if begin == end { break loop }
                default: break
                }
            }
            guard next() == "]" else { throw PathError(description: "unclosed array expect ]") }
            let expr = Array(input[start..<(pos - 2)])
            let ops: Set<Unicode.Scalar> = ["!", "<", ">", "="]
            var i = 0
            while i < expr.count, !ops.contains(expr[i]) { i += 1 }
            var j = i
            while j < expr.count, ops.contains(expr[j]) { j += 1 }
            // A right side is required: the regular expression backtracks one operator character for it.
            if j == expr.count, j - i >= 2 { j -= 1 }
            func str(_ s: ArraySlice<Unicode.Scalar>) -> String { var v = String.UnicodeScalarView(); v.append(contentsOf: s); return String(v) }
            if i == 0 || i == expr.count || j == expr.count {
                cur.append(.filter(left: try Self.parseSub(str(expr[...])), right: [], op: "exists"))
            } else {
                cur.append(.filter(left: try Self.parseSub(str(expr[..<i])), right: try Self.parseSub(str(expr[j...])), op: str(expr[i..<j])))
            }
        }
    }

    // MARK: - Evaluation

    static func walk(_ input: [JSONValue], _ node: Node) throws(PathError) -> [JSONValue] {
        switch node {
        case .list(let nodes): return try evalList(input, nodes)
        case .text(let s): return [.string(s)]
        case .field(let name):
            var out: [JSONValue] = []
            for v in input { if case .object(let o) = v, let child = o[name] { out.append(child) } }
            return out
        case .slice(let slice): return try evalSlice(input, slice)
        case .filter(let left, let right, let op): return try evalFilter(input, left: left, right: right, op: op)
        case .int(let i): return Array(repeating: .int(Int64(i)), count: input.count)
        case .float(let d): return Array(repeating: .double(d), count: input.count)
        case .bool(let b): return Array(repeating: .bool(b), count: input.count)
        case .wildcard:
            var out: [JSONValue] = []
            for v in input { out.append(contentsOf: children(v)) }
            return out
        case .recursive:
            return recursive(input)
        case .union(let lists):
            var out: [JSONValue] = []
            for l in lists { out.append(contentsOf: try evalList(input, l)) }
            return out
        case .identifier(let name):
            throw PathError(description: "unrecognized identifier \(name)")
        }
    }

    static func evalList(_ input: [JSONValue], _ nodes: [Node]) throws(PathError) -> [JSONValue] {
        var cur = input
        for n in nodes { cur = try walk(cur, n) }
        return cur
    }

    /// Map values (in key order; Go's order is random), array elements, or a string's bytes.
    static func children(_ v: JSONValue) -> [JSONValue] {
        switch v {
        case .object(let o): return o.keys.sorted().compactMap { o[$0] }
        case .array(let a): return a
        case .string(let s): return s.utf8.map { .int(Int64($0)) }
        default: return []
        }
    }

    static func recursive(_ input: [JSONValue]) -> [JSONValue] {
        var out: [JSONValue] = []
        for v in input {
            let c = children(v)
            guard !c.isEmpty else { continue }
            out.append(v)
            out.append(contentsOf: recursive(c))
        }
        return out
    }

    static func evalSlice(_ input: [JSONValue], _ slice: Slice) throws(PathError) -> [JSONValue] {
        var out: [JSONValue] = []
        for v in input {
            if v.isNull { continue }
            guard case .array(let a) = v else { throw PathError(description: "\(SchemaValidation.jsonType(v)) is not array or slice") }
            let n = a.count
            var start = slice.start ?? 0
            if start < 0 { start += n }
            var end = slice.end ?? n
            if end < 0 || (end == 0 && slice.endDerived) { end += n }
            // Requesting zero elements ends the evaluation with what was found so far (as client-go does).
            guard end != start else { return out }
            if start >= n || start < 0 { throw PathError(description: "array index out of bounds: index \(start), length \(n)") }
            if end > n || end < 0 { throw PathError(description: "array index out of bounds: index \(end - 1), length \(n)") }
            if start > end { throw PathError(description: "starting index \(start) is greater than ending index \(end)") }
            let step = slice.step ?? 1
            if step <= 0 { throw PathError(description: "step must be > 0") }
            var i = start
            while i < end { out.append(a[i]); i += step }
        }
        return out
    }

    static func evalFilter(_ input: [JSONValue], left: [Node], right: [Node], op: String) throws(PathError) -> [JSONValue] {
        var out: [JSONValue] = []
        for v in input {
            guard case .array(let elements) = v else { throw PathError(description: "\(SchemaValidation.jsonType(v)) is not array or slice and cannot be filtered") }
            for element in elements {
                if op == "exists" {
                    let lefts = try? evalList([element], left)
                    if let lefts, !lefts.isEmpty { out.append(element) }
                    continue
                }
                let lefts = try evalList([element], left)
                if lefts.isEmpty { continue }
                if lefts.count > 1 { throw PathError(description: "can only compare one element at a time") }
                let rights = try evalList([element], right)
                if rights.isEmpty { continue }
                if rights.count > 1 { throw PathError(description: "can only compare one element at a time") }
                if try compare(lefts[0], rights[0], op) { out.append(element) }
            }
        }
        return out
    }

    enum Kind { case bool, int, float, string }

    static func kind(_ v: JSONValue) throws(PathError) -> Kind {
        switch v {
        case .bool: return .bool
        case .int: return .int
        case .double: return .float
        case .string: return .string
        default: throw PathError(description: "invalid type for comparison")
        }
    }

    /// Go text/template's eq/ne/lt/le/gt/ge: same basic kinds only, no ordering of booleans.
    static func compare(_ a: JSONValue, _ b: JSONValue, _ op: String) throws(PathError) -> Bool {
        let ka = try kind(a), kb = try kind(b)
        guard ka == kb else { throw PathError(description: "incompatible types for comparison") }
        func equal() -> Bool { a == b }
        func less() throws(PathError) -> Bool {
            switch (a, b) {
            case (.int(let x), .int(let y)): return x < y
            case (.double(let x), .double(let y)): return x < y
            case (.string(let x), .string(let y)): return Array(x.utf8).lexicographicallyPrecedes(Array(y.utf8))
            default: throw PathError(description: "invalid type for comparison")
            }
        }
        switch op {
        case "==": return equal()
        case "!=": return !equal()
        case "<": return try less()
        case "<=": return try less() || equal()
        case ">": return !(try less() || equal())
        case ">=": return !(try less())
        default: throw PathError(description: "unrecognized filter operator \(op)")
        }
    }
}

/// Printer-column cells the way apiextensions-apiserver's table convertor renders them: the first
/// result of the column's JSONPath, converted to the column type (a value of another type is empty).
enum PrinterCells {
    /// The path of a printer column, parsed once (`nil` when it does not parse: the column stays empty).
    static func compile(_ jsonPath: String) -> KubeJSONPath? {
        try? KubeJSONPath(template: "{\(jsonPath)}")
    }

    static func cell(_ path: KubeJSONPath?, type: String, object: JSONValue, now: Date = Date()) -> JSONValue {
        guard let path, let results = try? path.findResults(object), let first = results.first?.first else { return .null }
        switch type {
        case "string":
            return .string(text(first))
        case "integer":
            switch first {
            case .int: return first
            case .double(let d): return d.isFinite ? .int(Int64(max(-9.2e18, min(9.2e18, d.rounded(.towardZero))))) : .null
            default: return .null
            }
        case "number":
            switch first {
            case .int(let i): return .double(Double(i))
            case .double: return first
            default: return .null
            }
        case "boolean":
            if case .bool = first { return first }
            return .null
        case "date":
            guard case .string(let s) = first else { return .null }
            if s.isEmpty || s == "null" { return "<unknown>" }
            guard SchemaValidation.parseRFC3339(s) != nil else { return "<invalid>" }
            return .string(Tables.humanAge(s, now: now))
        default:
            return .null
        }
    }

    /// What client-go's JSONPath printer writes for one value: JSON for maps and lists, Go's `%v` otherwise.
    static func text(_ v: JSONValue) -> String {
        switch v {
        case .null: return "<no value>"
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .double(let d): return goFloat(d)
        case .array, .object: return String(decoding: Wire.encode(v, order: .sorted), as: UTF8.self)
        }
    }

    /// Go's `%v` for a float64: `strconv` 'g' with the shortest digits, exponent form when the
    /// decimal exponent is below -4 or at least 6 (`1e+06`, `1.5e-05`, `123456`).
    static func goFloat(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d > 0 ? "+Inf" : "-Inf" }
        if d == 0 { return d.sign == .minus ? "-0" : "0" }
        // Shortest round-trip digits and decimal exponent from Swift's description.
        var desc = "\(abs(d))"
        var exp10 = 0
        if let e = desc.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exp10 = Int(desc[desc.index(after: e)...]) ?? 0
            desc = String(desc[..<e])
        }
        let intPart = desc.split(separator: ".", omittingEmptySubsequences: false).first.map(String.init) ?? desc
        let fracPart = desc.contains(".") ? String(desc.split(separator: ".", omittingEmptySubsequences: false)[1]) : ""
        var digits = intPart + fracPart
        var dp = intPart.count + exp10
        while digits.hasPrefix("0") && digits.count > 1 { digits.removeFirst(); dp -= 1 }
        while digits.hasSuffix("0") && digits.count > 1 { digits.removeLast() }
        let sign = d < 0 ? "-" : ""
        let exp = dp - 1
        if exp < -4 || exp >= 6 {
            var m = String(digits.first ?? "0")
            if digits.count > 1 { m += "." + digits.dropFirst() }
            let e = abs(exp) < 10 ? "0\(abs(exp))" : "\(abs(exp))"
            return "\(sign)\(m)e\(exp < 0 ? "-" : "+")\(e)"
        }
        if dp <= 0 { return "\(sign)0.\(String(repeating: "0", count: -dp))\(digits)" }
        if dp >= digits.count { return sign + digits + String(repeating: "0", count: dp - digits.count) }
        let idx = digits.index(digits.startIndex, offsetBy: dp)
        return "\(sign)\(digits[..<idx]).\(digits[idx...])"
    }
}
