/// The error text of Go's `time.Parse` with metav1.MicroTime's layout `2006-01-02T15:04:05.000000Z07:00`,
/// which kube-apiserver returns when a MicroTime field does not decode (traces 172, 173): the element
/// of the layout that failed and the text left at that point, e.g.
/// `parsing time "2026-11-28T23:02:57Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" as ".000000"`.
enum GoMicroTime {
    static let layout = "2006-01-02T15:04:05.000000Z07:00"

    /// One element of the layout: a literal to skip, or a field to read.
    private enum Element {
        case literal(Character)
        case year, month, day, hour, minute, second, fraction, zone

        var text: String {
            switch self {
            case .literal(let c): return String(c)
            case .year: return "2006"
            case .month: return "01"
            case .day: return "02"
            case .hour: return "15"
            case .minute: return "04"
            case .second: return "05"
            case .fraction: return ".000000"
            case .zone: return "Z07:00"
            }
        }
    }

    private static let elements: [Element] = [.year, .literal("-"), .month, .literal("-"), .day, .literal("T"), .hour, .literal(":"),
                                              .minute, .literal(":"), .second, .fraction, .zone]

    /// Go's `quote`: the string in double quotes with `"` and `\` escaped.
    private static func quote(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// nil when `value` parses; otherwise Go's `ParseError.Error()`.
    static func parseError(_ value: String) -> String? {
        let full = quote(value)
        func cannotParse(_ rest: Substring, _ element: Element) -> String {
            "parsing time \(full) as \(quote(layout)): cannot parse \(quote(String(rest))) as \(quote(element.text))"
        }
        func outOfRange(_ what: String) -> String { "parsing time \(full): \(what) out of range" }
        /// Go's `getnum`: one or two digits (exactly two when `fixed`).
        func number(_ s: inout Substring, fixed: Bool) -> Int? {
            guard let first = s.first, first.isASCII, first.isNumber else { return nil }
            let two = s.dropFirst().first.map { $0.isASCII && $0.isNumber } ?? false
            if !two && fixed { return nil }
            let digits = s.prefix(two ? 2 : 1)
            s = s.dropFirst(digits.count)
            return Int(digits)
        }
        var rest = Substring(value)
        var year = 0, month = 0, day = 0
        for element in elements {
            let hold = rest
            switch element {
            case .literal(let c):
                guard rest.first == c else { return cannotParse(rest, element) }
                rest = rest.dropFirst()
            case .year:
                let digits = rest.prefix(4)
                guard digits.count == 4, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let y = Int(digits) else { return cannotParse(hold, element) }
                year = y
                rest = rest.dropFirst(4)
            case .month:
                guard let m = number(&rest, fixed: true) else { return cannotParse(hold, element) }
                if m < 1 || m > 12 { return outOfRange("month") }
                month = m
            case .day:
                guard let d = number(&rest, fixed: true) else { return cannotParse(hold, element) }
                day = d
            case .hour:
                guard let h = number(&rest, fixed: false) else { return cannotParse(hold, element) }
                if h > 23 { return outOfRange("hour") }
            case .minute:
                guard let m = number(&rest, fixed: true) else { return cannotParse(hold, element) }
                if m > 59 { return outOfRange("minute") }
            case .second:
                guard let s = number(&rest, fixed: true) else { return cannotParse(hold, element) }
                if s > 59 { return outOfRange("second") }
            case .fraction:
                let part = rest.prefix(7)
                guard part.count == 7, part.first == "." || part.first == ",",
                      part.dropFirst().allSatisfy({ $0.isASCII && $0.isNumber }) else { return cannotParse(hold, element) }
                rest = rest.dropFirst(7)
            case .zone:
                if rest.first == "Z" { rest = rest.dropFirst(); continue }
                let part = Array(rest.prefix(6))
                guard part.count == 6, part[3] == ":", part[0] == "+" || part[0] == "-" else { return cannotParse(hold, element) }
                var hours = Substring(String(part[1...2])), minutes = Substring(String(part[4...5]))
                guard number(&hours, fixed: true) != nil, number(&minutes, fixed: true) != nil else { return cannotParse(hold, element) }
                rest = rest.dropFirst(6)
            }
        }
        if !rest.isEmpty { return "parsing time \(full): extra text: \(quote(String(rest)))" }
        let daysInMonth = [31, (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        if day < 1 || day > daysInMonth[month - 1] { return outOfRange("day") }
        return nil
    }
}
