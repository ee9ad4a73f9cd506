extension JSONValue {
    /// The JSON text of this value as UTF-8 bytes. Object keys are sorted, so equal values
    /// always serialize identically (as kube-apiserver does for unstructured objects).
    /// `pretty` indents with two spaces, in the layout of Go's `json.MarshalIndent`.
    public func serialized(pretty: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(into: &out, pretty: pretty, indent: 0)
        return out
    }

    /// The JSON text of this value as a string (see `serialized(pretty:)`).
    public func jsonString(pretty: Bool = false) -> String {
        String(decoding: serialized(pretty: pretty), as: UTF8.self)
    }

    /// Appends the JSON text of this value to `out`. `htmlSafe` escapes strings as Go's
    /// encoding/json does by default (see ``writeString(_:htmlSafe:into:)``).
    public func write(into out: inout [UInt8], pretty: Bool = false, indent: Int = 0, htmlSafe: Bool = false) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let v): out.append(contentsOf: (v ? "true" : "false").utf8)
        case .int(let v): JSONValue.writeInt(v, into: &out)
        case .double(let v): out.append(contentsOf: JSONValue.format(v).utf8)
        case .string(let s): JSONValue.writeString(s, htmlSafe: htmlSafe, into: &out)
        case .array(let a):
            if a.isEmpty { out.append(contentsOf: [0x5B, 0x5D]); return }
            out.append(0x5B)
            for (n, v) in a.enumerated() {
                if n > 0 { out.append(0x2C) }
                if pretty { newline(&out, indent + 1) }
                v.write(into: &out, pretty: pretty, indent: indent + 1, htmlSafe: htmlSafe)
            }
            if pretty { newline(&out, indent) }
            out.append(0x5D)
        case .object(let o):
            if o.isEmpty { out.append(contentsOf: [0x7B, 0x7D]); return }
            out.append(0x7B)
            // Member positions sorted by key: each value is read at its position (no second lookup).
            // (Collected by hand: `Array(o.indices)` instantiates `DefaultIndices<[String: JSONValue]>`,
            // whose metadata costs the CNI plugin a run-time conformance scan at start-up.)
            var members: [Dictionary<String, JSONValue>.Index] = []
            members.reserveCapacity(o.count)
            var position = o.startIndex
            while position != o.endIndex {
                members.append(position)
                o.formIndex(after: &position)
            }
            members.sort { o.keys[$0] < o.keys[$1] }
            for (n, index) in members.enumerated() {
                if n > 0 { out.append(0x2C) }
                if pretty { newline(&out, indent + 1) }
                JSONValue.writeString(o.keys[index], htmlSafe: htmlSafe, into: &out)
                out.append(0x3A)
                if pretty { out.append(0x20) }
                o.values[index].write(into: &out, pretty: pretty, indent: indent + 1, htmlSafe: htmlSafe)
            }
            if pretty { newline(&out, indent) }
            out.append(0x7D)
        }
    }

    private func newline(_ out: inout [UInt8], _ indent: Int) {
        out.append(0x0A)
        for _ in 0..<indent { out.append(0x20); out.append(0x20) }
    }

    /// Formats a double exactly as Go's encoding/json does: the shortest digits that round-trip,
    /// written positionally when 1e-6 ≤ |v| < 1e21 (`strconv.FormatFloat(v, 'f', -1, 64)`:
    /// 1e20 → "100000000000000000000", 1e-5 → "0.00001"), otherwise in exponent form with Go's
    /// clean-up of one-digit negative exponents (1e-7 → "1e-7", 1e21 → "1e+21"). Non-finite values,
    /// which JSON cannot carry, are written as `null`; -0 as "0".
    public static func format(_ v: Double) -> String {
        guard v.isFinite else { return "null" }
        let magnitude = abs(v)
        if v.rounded() == v, magnitude < 9.0e15 { return String(Int64(v)) }  // exact, far from Int64's edge
        let shortest = String(v)  // Swift's description: the same shortest round-tripping digits
        if magnitude >= 1e-6 && magnitude < 1e21 { return positional(shortest) }
        // Swift writes at least two exponent digits ("1e-07"), as Go's 'e' format does before
        // encoding/json cleans "e-0X" up to "e-X".
        let tail = shortest.utf8.suffix(4)
        if tail.count == 4, Array(tail.prefix(3)) == Array("e-0".utf8) {
            return String(shortest.dropLast(2)) + String(shortest.suffix(1))
        }
        return shortest
    }

    /// Rewrites a decimal description ("1.2345e+19", "1e-05", "0.25") in positional notation
    /// without an exponent ("12345000000000000000", "0.00001", "0.25"); integral values get no ".0".
    static func positional(_ text: String) -> String {
        var mantissa = Substring(text)
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            exponent = Int(text[text.index(after: e)...]) ?? 0
        }
        var negative = false
        if mantissa.first == "-" { negative = true; mantissa = mantissa.dropFirst() }
        // The value is 0.digits × 10^point once leading zeros are gone.
        var digits: [Character] = []
        var point = exponent
        var seenPoint = false
        for c in mantissa {
            if c == "." { seenPoint = true; continue }
            if digits.isEmpty && c == "0" {
                if seenPoint { point -= 1 }
                continue
            }
            digits.append(c)
            if !seenPoint { point += 1 }
        }
        while digits.last == "0" && digits.count > max(point, 0) { digits.removeLast() }
        guard !digits.isEmpty else { return "0" }
        var out = negative ? "-" : ""
        if point <= 0 {
            out += "0." + String(repeating: "0", count: -point) + String(digits)
        } else if point >= digits.count {
            out += String(digits) + String(repeating: "0", count: point - digits.count)
        } else {
            out += String(digits[..<point]) + "." + String(digits[point...])
        }
        return out
    }

    /// Appends `s` as a quoted JSON string, escaping only what JSON requires (`<`, `>`, `&` stay
    /// literal).
    public static func writeString(_ s: String, into out: inout [UInt8]) {
        writeString(s, htmlSafe: false, into: &out)
    }

    /// Appends `s` as a quoted JSON string. With `htmlSafe`, also escapes `<`, `>`, `&`, U+2028 and
    /// U+2029 as Go's encoding/json does by default (what kube-apiserver writes).
    ///
    /// Works on the UTF-8 bytes and copies runs that need no escape at once (a plain index loop:
    /// fast in debug builds too, where iterator calls are not inlined).
    @inline(__always)
    public static func writeString(_ s: String, htmlSafe: Bool, into out: inout [UInt8]) {
        out.append(0x22)
        var s = s
        s.withUTF8 { b in
            let n = b.count
            var start = 0
            var i = 0
            while i < n {
                let c = b[i]
                if c >= 0x20 && c != 0x22 && c != 0x5C
                    && (!htmlSafe || (c != 0x3C && c != 0x3E && c != 0x26 && c != 0xE2)) { i += 1; continue }
                var scalar = UInt32(c)
                var width = 1
                if c == 0xE2 {
                    // U+2028 and U+2029 are E2 80 A8 / E2 80 A9; any other E2 sequence is copied.
                    guard i + 2 < n, b[i + 1] == 0x80, b[i + 2] == 0xA8 || b[i + 2] == 0xA9 else { i += 1; continue }
                    scalar = b[i + 2] == 0xA8 ? 0x2028 : 0x2029
                    width = 3
                }
                if start < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<i])) }
                appendEscape(scalar, into: &out)
                i += width
                start = i
            }
            if start < n { out.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<n])) }
        }
        out.append(0x22)
    }

    /// The escape of one scalar: the short forms JSON has, else `\uXXXX` in lower-case hex.
    static func appendEscape(_ v: UInt32, into out: inout [UInt8]) {
        switch v {
        case 0x22: out.append(0x5C); out.append(0x22)
        case 0x5C: out.append(0x5C); out.append(0x5C)
        case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
        case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
        case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
        default:
            let hex: StaticString = "0123456789abcdef"
            out.append(0x5C); out.append(UInt8(ascii: "u"))
            for shift in stride(from: 12, through: 0, by: -4) { out.append(hex.utf8Start[Int((v >> UInt32(shift)) & 0xF)]) }
        }
    }

    /// Appends the decimal digits of `v` (what `String(v)` gives), without making a string.
    public static func writeInt(_ v: Int64, into out: inout [UInt8]) {
        if v >= 0 && v < 10 { out.append(0x30 &+ UInt8(v)); return }
        if v == Int64.min { out.append(contentsOf: String(v).utf8); return }
        if v < 0 { out.append(UInt8(ascii: "-")) }
        var m = v < 0 ? -v : v
        let start = out.count
        while m > 0 { out.append(0x30 &+ UInt8(m % 10)); m /= 10 }
        out[start...].reverse()
    }
}

