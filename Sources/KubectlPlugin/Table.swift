/// A styled piece of text in a table cell or line.
public struct Styled: Sendable, Hashable, ExpressibleByStringLiteral {
    /// The visible text.
    public var text: String
    /// Its style (applied only when colour is on).
    public var style: Style

    /// Text with a style.
    public init(_ text: String, _ style: Style = .plain) {
        self.text = text
        self.style = style
    }

    /// Plain text.
    public init(stringLiteral value: String) { self.init(value) }

    /// Columns the text occupies (one per character; the symbols used here are single-width).
    var width: Int { text.count }
}

/// A plain-text table in kubectl's style: upper-case headers, columns separated by three spaces,
/// left-aligned, no borders; colour codes do not count toward column widths.
public struct Table: Sendable {
    /// Column headers.
    public var headers: [String]
    /// Rows of cells (shorter rows are padded with empty cells).
    public var rows: [[Styled]]

    /// A table with the given headers and rows.
    public init(headers: [String], rows: [[Styled]] = []) {
        self.headers = headers
        self.rows = rows
    }

    /// The table as lines joined by newlines, with a trailing newline.
    public func render(color: Bool) -> String {
        let columns = max(headers.count, rows.map(\.count).max() ?? 0)
        var widths = Array(repeating: 0, count: columns)
        for (i, h) in headers.enumerated() { widths[i] = max(widths[i], h.count) }
        for row in rows { for (i, c) in row.enumerated() { widths[i] = max(widths[i], c.width) } }
        var out = ""
        func line(_ cells: [Styled]) {
            var text = ""
            for i in 0..<columns {
                let cell = i < cells.count ? cells[i] : Styled("")
                let last = i == columns - 1
                text += cell.style.apply(cell.text, color: color)
                if !last { text += String(repeating: " ", count: widths[i] - cell.width + 3) }
            }
            while text.hasSuffix(" ") { text.removeLast() }
            out += text + "\n"
        }
        line(headers.map { Styled($0, .bold) })
        for row in rows { line(row) }
        return out
    }
}
