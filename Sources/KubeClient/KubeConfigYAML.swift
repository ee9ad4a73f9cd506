/// The YAML that kubeconfig files use, parsed without a YAML library.
///
/// KubeClient is linked into the node agent, whose resident memory is a product target; the
/// YAML library used before (Yams) imports corelibs Foundation, which brings CoreFoundation and
/// ICU into every program that links it. Kubeconfigs use a small part of YAML, and this parser
/// reads exactly that part:
/// - block mappings and sequences (including `- key: value` items and a sequence at the same
///   indentation as its key), flow mappings `{a: b}` and sequences `[a, b]` (may span lines);
/// - plain scalars (continued on more-indented lines), single- and double-quoted scalars (one
///   line, all escapes), literal `|` and folded `>` block scalars with chomping indicators;
/// - comments, a leading `---`, directives; the first document only.
/// Anchors, aliases, tags, complex keys and multi-line quoted scalars are reported as errors
/// naming the line, never guessed at.
enum KubeConfigYAML {
    /// Parses `text`; nil for a document with no content (an empty kubeconfig).
    static func parse(_ text: String) throws(YAMLSyntaxError) -> YAMLNode? {
        var parser = BlockParser(lines: try Self.lines(of: text))
        let node = try parser.parseNode(minIndent: 0)
        if let line = parser.current {
            throw YAMLSyntaxError(line: line.number, message: "unexpected content '\(line.text)'")
        }
        return node
    }

    /// Splits into lines without comments; stops at the end of the first document.
    static func lines(of text: String) throws(YAMLSyntaxError) -> [SourceLine] {
        var result: [SourceLine] = []
        var number = 0
        var sawContent = false
        // "\r\n" is one Character in Swift: split on both forms of line break.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            number += 1
            var raw = Substring(rawLine)
            if raw.hasSuffix("\r") { raw = raw.dropLast() }
            let indent = raw.prefix { $0 == " " }.count
            let afterIndent = raw.dropFirst(indent)
            if afterIndent.first == "\t" {
                // Tabs are allowed inside block scalars; elsewhere they are an error (checked when parsed).
                result.append(SourceLine(number: number, indent: indent, text: "", raw: String(raw), tabIndented: true))
                continue
            }
            let content = try stripComment(afterIndent, line: number)
            if indent == 0 {
                if content == "---" || content.hasPrefix("--- ") {
                    if sawContent { break }
                    let rest = content.dropFirst(3).drop { $0 == " " }
                    if !rest.isEmpty {
                        sawContent = true
                        result.append(SourceLine(number: number, indent: 4, text: String(rest), raw: String(raw)))
                    }
                    continue
                }
                if content == "..." { break }
                if content.hasPrefix("%") && !sawContent { continue }
            }
            if !content.isEmpty { sawContent = true }
            result.append(SourceLine(number: number, indent: indent, text: String(content), raw: String(raw)))
        }
        return result
    }

    /// The line without its comment (`#` at the start or after white space, outside quotes) and trailing blanks.
    static func stripComment(_ text: Substring, line: Int) throws(YAMLSyntaxError) -> Substring {
        var quote: Character?
        var previous: Character = " "
        var index = text.startIndex
        while index < text.endIndex {
            let c = text[index]
            if let q = quote {
                if c == "\\" && q == "\"" {
                    index = text.index(after: index)
                    if index < text.endIndex { index = text.index(after: index) }
                    previous = "x"
                    continue
                }
                if c == q { quote = nil }
            } else if c == "#" && (previous == " " || previous == "\t") {
                return trimTrailing(text[..<index])
            } else if (c == "\"" || c == "'") && " \t[{,:-".contains(previous) {
                quote = c
            }
            previous = c
            index = text.index(after: index)
        }
        return trimTrailing(text)
    }

    static func trimTrailing(_ text: Substring) -> Substring {
        var end = text.endIndex
        while end > text.startIndex {
            let before = text.index(before: end)
            guard text[before] == " " || text[before] == "\t" else { break }
            end = before
        }
        return text[..<end]
    }
}

/// A YAML syntax error (or a YAML feature kubeconfigs do not use).
struct YAMLSyntaxError: Error, CustomStringConvertible, Equatable {
    /// 1-based line number.
    var line: Int
    var message: String
    var description: String { "line \(line): \(message)" }
}

/// A parsed YAML node.
indirect enum YAMLNode: Equatable, Sendable {
    case scalar(YAMLScalar)
    case mapping(YAMLMapping)
    case sequence([YAMLNode])

    /// The mapping, if this is one.
    var mapping: YAMLMapping? {
        if case .mapping(let m) = self { return m }
        return nil
    }

    /// The items, if this is a sequence.
    var sequence: [YAMLNode]? {
        if case .sequence(let s) = self { return s }
        return nil
    }
}

/// A scalar and how it was written (`null`, `~` and empty count as null only when plain).
struct YAMLScalar: Equatable, Sendable {
    enum Style: Equatable, Sendable { case plain, singleQuoted, doubleQuoted, literal, folded }
    var string: String
    var style: Style
}

/// A mapping with string keys, in document order; the first of duplicate keys wins.
struct YAMLMapping: Equatable, Sendable {
    var entries: [(key: String, value: YAMLNode)]

    init(_ entries: [(key: String, value: YAMLNode)]) { self.entries = entries }

    subscript(key: String) -> YAMLNode? {
        entries.first { $0.key == key }?.value
    }

    static func == (a: YAMLMapping, b: YAMLMapping) -> Bool {
        a.entries.count == b.entries.count && zip(a.entries, b.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

/// One line: indentation (spaces), content without the comment, and the raw text (for block scalars).
struct SourceLine {
    var number: Int
    var indent: Int
    var text: String
    var raw: String
    var tabIndented = false
}

/// Recursive descent over lines for the block structure; flow collections and quoted scalars
/// go through ``FlowParser``.
struct BlockParser {
    var lines: [SourceLine]
    var index = 0

    init(lines: [SourceLine]) { self.lines = lines }

    /// The next line with content.
    var current: SourceLine? {
        mutating get {
            while index < lines.count && lines[index].text.isEmpty && !lines[index].tabIndented { index += 1 }
            return index < lines.count ? lines[index] : nil
        }
    }

    static let null = YAMLNode.scalar(YAMLScalar(string: "", style: .plain))

    static func isSequenceItem(_ text: String) -> Bool { text == "-" || text.hasPrefix("- ") }

    /// Parses the node starting at the next content line if it is indented at least `minIndent`; nil otherwise.
    mutating func parseNode(minIndent: Int) throws(YAMLSyntaxError) -> YAMLNode? {
        guard let line = current, line.indent >= minIndent else { return nil }
        if line.tabIndented { throw YAMLSyntaxError(line: line.number, message: "tab characters must not be used for indentation") }
        if Self.isSequenceItem(line.text) { return try parseSequence(indent: line.indent) }
        if try Self.splitKey(line.text, line: line.number) != nil { return try parseMapping(indent: line.indent) }
        index += 1
        return try parseValue(line.text, line: line.number, parentIndent: minIndent - 1)
    }

    mutating func parseSequence(indent: Int) throws(YAMLSyntaxError) -> YAMLNode {
        var items: [YAMLNode] = []
        while let line = current, line.indent == indent, Self.isSequenceItem(line.text) {
            let rest = line.text.dropFirst()
            let spaces = rest.prefix { $0 == " " }.count
            if rest.count == spaces {
                index += 1
                items.append(try parseNode(minIndent: indent + 1) ?? Self.null)
            } else {
                // "- key: value" or "- value": the rest is a node indented past the dash.
                lines[index].indent = indent + 1 + spaces
                lines[index].text = String(rest.dropFirst(spaces))
                items.append(try parseNode(minIndent: indent + 1) ?? Self.null)
            }
        }
        if let line = current, line.indent > indent {
            throw YAMLSyntaxError(line: line.number, message: "bad indentation of a sequence item")
        }
        return .sequence(items)
    }

    mutating func parseMapping(indent: Int) throws(YAMLSyntaxError) -> YAMLNode {
        var entries: [(key: String, value: YAMLNode)] = []
        while let line = current, line.indent == indent {
            if line.tabIndented { throw YAMLSyntaxError(line: line.number, message: "tab characters must not be used for indentation") }
            guard let (key, rest) = try Self.splitKey(line.text, line: line.number) else {
                throw YAMLSyntaxError(line: line.number, message: "expected 'key: value', found '\(line.text)'")
            }
            index += 1
            let value: YAMLNode
            if rest.isEmpty {
                if let next = current, next.indent > indent {
                    value = try parseNode(minIndent: indent + 1) ?? Self.null
                } else if let next = current, next.indent == indent, Self.isSequenceItem(next.text) {
                    value = try parseSequence(indent: indent)
                } else {
                    value = Self.null
                }
            } else {
                value = try parseValue(rest, line: line.number, parentIndent: indent)
            }
            entries.append((key, value))
        }
        if let line = current, line.indent > indent {
            throw YAMLSyntaxError(line: line.number, message: "bad indentation of a mapping entry")
        }
        return .mapping(YAMLMapping(entries))
    }

    /// A value written after `key:` or `- ` (or alone): flow collection, quoted, block or plain
    /// scalar. Continuation lines must be indented more than `parentIndent`.
    mutating func parseValue(_ text: String, line: Int, parentIndent: Int) throws(YAMLSyntaxError) -> YAMLNode {
        guard let first = text.first else { return Self.null }
        switch first {
        case "[", "{":
            var source = text
            var lastLine = line
            while !FlowParser.isBalanced(source) {
                guard index < lines.count else {
                    throw YAMLSyntaxError(line: lastLine, message: "unterminated flow collection (missing '\(first == "[" ? "]" : "}")')")
                }
                let next = lines[index]
                index += 1
                if next.tabIndented || next.text.isEmpty { continue }
                source += " " + next.text
                lastLine = next.number
            }
            var parser = FlowParser(text: Array(source), line: line)
            let node = try parser.parseValue()
            parser.skipSpaces()
            if !parser.atEnd {
                throw YAMLSyntaxError(line: lastLine, message: "unexpected '\(String(parser.rest))' after a flow collection")
            }
            return node
        case "\"", "'":
            var parser = FlowParser(text: Array(text), line: line)
            let scalar = try parser.parseQuoted()
            parser.skipSpaces()
            if !parser.atEnd {
                throw YAMLSyntaxError(line: line, message: "unexpected '\(String(parser.rest))' after a quoted string")
            }
            return .scalar(scalar)
        case "|", ">":
            return .scalar(try parseBlockScalar(header: text, line: line, parentIndent: parentIndent))
        case "&", "*":
            throw YAMLSyntaxError(line: line, message: "anchors and aliases are not supported in kubeconfig files")
        case "!":
            throw YAMLSyntaxError(line: line, message: "tags are not supported in kubeconfig files")
        default:
            var value = text
            // A plain scalar continues on following lines indented more than its parent.
            while let next = current, next.indent > parentIndent, !next.tabIndented, !Self.isSequenceItem(next.text),
                  try Self.splitKey(next.text, line: next.number) == nil {
                value += " " + next.text
                index += 1
            }
            return .scalar(YAMLScalar(string: value, style: .plain))
        }
    }

    /// `|` / `>` with optional chomping (`-`, `+`) and indentation digit; the content is the
    /// following raw lines indented more than `parentIndent` (and blank lines).
    mutating func parseBlockScalar(header: String, line: Int, parentIndent: Int) throws(YAMLSyntaxError) -> YAMLScalar {
        let folded = header.first == ">"
        var chomp: Character = " "
        var explicitIndent: Int?
        for c in header.dropFirst() {
            if c == "-" || c == "+", chomp == " " { chomp = c } else if let d = c.wholeNumberValue, d > 0, explicitIndent == nil {
                explicitIndent = d
            } else {
                throw YAMLSyntaxError(line: line, message: "bad block scalar header '\(header)'")
            }
        }
        var body: [Substring] = []
        var contentIndent = explicitIndent.map { max(parentIndent, 0) + $0 }
        while index < lines.count {
            let raw = Substring(lines[index].raw)
            let spaces = raw.prefix { $0 == " " }.count
            let blank = raw.allSatisfy { $0 == " " }
            if !blank {
                if contentIndent == nil {
                    guard spaces > parentIndent else { break }
                    contentIndent = spaces
                }
                guard let ci = contentIndent, spaces >= ci else { break }
                body.append(raw.dropFirst(ci))
            } else {
                body.append("")
            }
            index += 1
        }
        // Trailing blank lines belong to the chomping, not the content.
        var trailing = 0
        while let last = body.last, last.isEmpty {
            body.removeLast()
            trailing += 1
        }
        var text = ""
        if folded {
            // Line breaks between two ordinary lines become spaces; empty lines stay line breaks,
            // as do the breaks around more-indented lines.
            for (i, lineText) in body.enumerated() {
                if i > 0 {
                    let previous = body[i - 1]
                    let moreIndented = lineText.first == " " || lineText.first == "\t"
                    let previousMoreIndented = previous.first == " " || previous.first == "\t"
                    if lineText.isEmpty {
                        text += "\n"
                    } else if previous.isEmpty {
                        // the empty lines before already gave the breaks
                    } else {
                        text += moreIndented || previousMoreIndented ? "\n" : " "
                    }
                }
                text += lineText
            }
        } else {
            text = body.joined(separator: "\n")
        }
        switch chomp {
        case "-": break
        case "+": if !body.isEmpty || trailing > 0 { text += String(repeating: "\n", count: (body.isEmpty ? 0 : 1) + trailing) }
        default: if !body.isEmpty { text += "\n" }
        }
        return YAMLScalar(string: text, style: folded ? .folded : .literal)
    }

    /// `key: rest` (rest may be empty) when `text` starts with a mapping key; nil otherwise.
    static func splitKey(_ text: String, line: Int) throws(YAMLSyntaxError) -> (String, String)? {
        let chars = Array(text)
        guard let first = chars.first, first != "[", first != "{", first != "-" || (chars.count > 1 && chars[1] != " ") else {
            return nil
        }
        if first == "?" && (chars.count == 1 || chars[1] == " ") {
            throw YAMLSyntaxError(line: line, message: "complex mapping keys ('? ') are not supported in kubeconfig files")
        }
        var keyEnd: Int
        var key: String
        if first == "\"" || first == "'" {
            var parser = FlowParser(text: chars, line: line)
            guard let scalar = try? parser.parseQuoted() else { return nil }
            parser.skipSpaces()
            guard parser.position < chars.count, chars[parser.position] == ":" else { return nil }
            keyEnd = parser.position
            key = scalar.string
        } else {
            var i = 0
            while i < chars.count {
                if chars[i] == ":" && (i + 1 == chars.count || chars[i + 1] == " " || chars[i + 1] == "\t") { break }
                i += 1
            }
            guard i < chars.count else { return nil }
            keyEnd = i
            key = String(KubeConfigYAML.trimTrailing(Substring(String(chars[0..<i]))))
            if key.first == "&" || key.first == "*" || key.first == "!" {
                throw YAMLSyntaxError(line: line, message: "anchors, aliases and tags are not supported in kubeconfig files")
            }
        }
        let rest = String(chars[(keyEnd + 1)...]).drop { $0 == " " || $0 == "\t" }
        return (key, String(rest))
    }
}

/// Flow collections and quoted scalars, over one (possibly joined) line of characters.
struct FlowParser {
    let text: [Character]
    let line: Int
    var position = 0

    init(text: [Character], line: Int) {
        self.text = text
        self.line = line
    }

    var atEnd: Bool { position >= text.count }
    var rest: ArraySlice<Character> { text[min(position, text.count)...] }

    mutating func skipSpaces() {
        while position < text.count, text[position] == " " || text[position] == "\t" { position += 1 }
    }

    func error(_ message: String) -> YAMLSyntaxError { YAMLSyntaxError(line: line, message: message) }

    /// Whether every `[`/`{` outside quotes is closed.
    static func isBalanced(_ source: String) -> Bool {
        var depth = 0
        var quote: Character?
        var escaped = false
        var previous: Character = " "
        for c in source {
            if let q = quote {
                if escaped { escaped = false } else if c == "\\" && q == "\"" { escaped = true } else if c == q { quote = nil }
            } else if (c == "\"" || c == "'") && " \t[{,:".contains(previous) {
                quote = c
            } else if c == "[" || c == "{" {
                depth += 1
            } else if c == "]" || c == "}" {
                depth -= 1
            }
            previous = c
        }
        return depth <= 0 && quote == nil
    }

    mutating func parseValue() throws(YAMLSyntaxError) -> YAMLNode {
        skipSpaces()
        guard position < text.count else { throw error("unexpected end of a flow collection") }
        switch text[position] {
        case "[":
            position += 1
            var items: [YAMLNode] = []
            while true {
                skipSpaces()
                guard position < text.count else { throw error("unterminated flow sequence (missing ']')") }
                if text[position] == "]" { position += 1; break }
                items.append(try parseValue())
                skipSpaces()
                guard position < text.count else { throw error("unterminated flow sequence (missing ']')") }
                if text[position] == "," { position += 1; continue }
                if text[position] == "]" { position += 1; break }
                throw error("expected ',' or ']' in a flow sequence, found '\(text[position])'")
            }
            return .sequence(items)
        case "{":
            position += 1
            var entries: [(key: String, value: YAMLNode)] = []
            while true {
                skipSpaces()
                guard position < text.count else { throw error("unterminated flow mapping (missing '}')") }
                if text[position] == "}" { position += 1; break }
                let key: YAMLScalar
                switch text[position] {
                case "\"", "'": key = try parseQuoted()
                case "[", "{": throw error("complex mapping keys are not supported in kubeconfig files")
                default: key = try parsePlain(isKey: true)
                }
                skipSpaces()
                var value = BlockParser.null
                if position < text.count, text[position] == ":" {
                    position += 1
                    skipSpaces()
                    if position < text.count, text[position] != ",", text[position] != "}" {
                        value = try parseValue()
                    }
                }
                entries.append((key.string, value))
                skipSpaces()
                guard position < text.count else { throw error("unterminated flow mapping (missing '}')") }
                if text[position] == "," { position += 1; continue }
                if text[position] == "}" { position += 1; break }
                throw error("expected ',' or '}' in a flow mapping, found '\(text[position])'")
            }
            return .mapping(YAMLMapping(entries))
        case "\"", "'":
            return .scalar(try parseQuoted())
        case "&", "*", "!":
            throw error("anchors, aliases and tags are not supported in kubeconfig files")
        default:
            return .scalar(try parsePlain(isKey: false))
        }
    }

    /// A plain scalar inside a flow collection: up to `,`, `]`, `}` or (keys) `: `.
    mutating func parsePlain(isKey: Bool) throws(YAMLSyntaxError) -> YAMLScalar {
        let start = position
        while position < text.count {
            let c = text[position]
            if c == "," || c == "]" || c == "}" || c == "[" || c == "{" { break }
            if c == ":" {
                let next: Character? = position + 1 < text.count ? text[position + 1] : nil
                if next == nil || next == " " || next == "\t" || next == "," || next == "}" || next == "]" { break }
            }
            position += 1
        }
        let value = String(text[start..<position]).trimmingWhitespace()
        if value.isEmpty && !isKey { throw error("expected a value in a flow collection") }
        return YAMLScalar(string: value, style: .plain)
    }

    /// A single- or double-quoted scalar that ends on this line.
    mutating func parseQuoted() throws(YAMLSyntaxError) -> YAMLScalar {
        let quote = text[position]
        position += 1
        var out = ""
        while true {
            guard position < text.count else {
                throw error("unterminated quoted string (multi-line quoted strings are not supported in kubeconfig files)")
            }
            let c = text[position]
            position += 1
            if quote == "'" {
                if c == "'" {
                    if position < text.count, text[position] == "'" {
                        out.append("'")
                        position += 1
                        continue
                    }
                    return YAMLScalar(string: out, style: .singleQuoted)
                }
                out.append(c)
                continue
            }
            if c == "\"" { return YAMLScalar(string: out, style: .doubleQuoted) }
            guard c == "\\" else {
                out.append(c)
                continue
            }
            guard position < text.count else { throw error("unterminated escape in a double-quoted string") }
            let e = text[position]
            position += 1
            switch e {
            case "0": out.append("\u{0}")
            case "a": out.append("\u{7}")
            case "b": out.append("\u{8}")
            case "t", "\t": out.append("\t")
            case "n": out.append("\n")
            case "v": out.append("\u{B}")
            case "f": out.append("\u{C}")
            case "r": out.append("\r")
            case "e": out.append("\u{1B}")
            case " ": out.append(" ")
            case "\"": out.append("\"")
            case "/": out.append("/")
            case "\\": out.append("\\")
            case "N": out.append("\u{85}")
            case "_": out.append("\u{A0}")
            case "L": out.append("\u{2028}")
            case "P": out.append("\u{2029}")
            case "x", "u", "U":
                let count = e == "x" ? 2 : e == "u" ? 4 : 8
                guard position + count <= text.count,
                      let value = UInt32(String(text[position..<position + count]), radix: 16),
                      let scalar = Unicode.Scalar(value) else {
                    throw error("bad escape '\\\(e)' in a double-quoted string")
                }
                out.unicodeScalars.append(scalar)
                position += count
            default:
                throw error("unknown escape '\\\(e)' in a double-quoted string")
            }
        }
    }
}
