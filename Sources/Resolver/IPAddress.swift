/// An IPv4 or IPv6 address, parsed without Foundation networking.
///
/// Accepted text: dotted-quad IPv4 (`192.168.60.11`, no leading zeros) and RFC 4291 IPv6
/// (`2001:db8::11`, `::`, `::ffff:10.0.0.1`); an IPv6 zone (`fe80::1%eth0`) is ignored.
/// IPv4 and IPv6 are different families: `::ffff:10.0.0.1` is not in `10.0.0.0/8`.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// Whether this is an IPv6 address.
    public let isIPv6: Bool
    /// The address bits, right-aligned (an IPv4 address uses the low 32 bits).
    public let bits: UInt128

    /// Number of bits in this family: 32 or 128.
    public var bitWidth: Int { isIPv6 ? 128 : 32 }

    /// Parses an address; returns nil when `text` is not one.
    public init?(_ text: some StringProtocol) {
        var utf8 = Array(text.utf8)
        if let percent = utf8.firstIndex(of: UInt8(ascii: "%")) { utf8.removeSubrange(percent...) }
        if utf8.contains(UInt8(ascii: ":")) {
            guard let v6 = Self.parseIPv6(utf8[...]) else { return nil }
            isIPv6 = true
            bits = v6
        } else {
            guard let v4 = Self.parseIPv4(utf8[...]) else { return nil }
            isIPv6 = false
            bits = UInt128(v4)
        }
    }

    /// An address from its family and bits.
    public init(isIPv6: Bool, bits: UInt128) {
        self.isIPv6 = isIPv6
        self.bits = isIPv6 ? bits : bits & 0xFFFF_FFFF
    }

    /// Dotted quad for IPv4; for IPv6 the eight groups in lower-case hex with the longest zero run compressed.
    public var description: String {
        if !isIPv6 {
            let v = UInt32(truncatingIfNeeded: bits)
            return "\(v >> 24).\((v >> 16) & 0xFF).\((v >> 8) & 0xFF).\(v & 0xFF)"
        }
        let groups = (0..<8).map { UInt16(truncatingIfNeeded: bits >> UInt128(112 - 16 * $0)) }
        var bestStart = -1, bestLength = 0, i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > bestLength && j - i >= 2 { bestStart = i; bestLength = j - i }
                i = j
            } else { i += 1 }
        }
        func hex(_ range: Range<Int>) -> String { range.map { String(groups[$0], radix: 16) }.joined(separator: ":") }
        if bestStart < 0 { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }

    static func parseIPv4(_ s: ArraySlice<UInt8>) -> UInt32? {
        var result: UInt32 = 0
        var parts = 0
        var value = 0
        var digits = 0
        var leadingZero = false
        for c in s {
            if c == UInt8(ascii: ".") {
                guard digits > 0, parts < 3 else { return nil }
                result = result << 8 | UInt32(value)
                parts += 1
                value = 0
                digits = 0
                leadingZero = false
            } else if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                if leadingZero { return nil }
                if digits == 0 && c == UInt8(ascii: "0") { leadingZero = true }
                value = value * 10 + Int(c - UInt8(ascii: "0"))
                digits += 1
                guard value <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard parts == 3, digits > 0 else { return nil }
        return result << 8 | UInt32(value)
    }

    static func parseIPv6(_ s: ArraySlice<UInt8>) -> UInt128? {
        // Split on "::" at most once.
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawDoubleColon = false
        var i = s.startIndex
        let end = s.endIndex
        if s.count >= 2 && s[i] == UInt8(ascii: ":") && s[i + 1] == UInt8(ascii: ":") {
            sawDoubleColon = true
            i += 2
            if i == end { return 0 }
        } else if s.first == UInt8(ascii: ":") {
            return nil
        }
        while i < end {
            // One group: hex digits, or an embedded IPv4 address at the very end.
            var j = i
            while j < end && s[j] != UInt8(ascii: ":") { j += 1 }
            let group = s[i..<j]
            if group.isEmpty { return nil }
            if j == end && group.contains(UInt8(ascii: ".")) {
                guard let v4 = parseIPv4(group) else { return nil }
                let hi = UInt16(v4 >> 16), lo = UInt16(v4 & 0xFFFF)
                if sawDoubleColon { tail += [hi, lo] } else { head += [hi, lo] }
                i = j
                break
            }
            guard group.count <= 4 else { return nil }
            var value: UInt16 = 0
            for c in group {
                guard let d = hexValue(c) else { return nil }
                value = value << 4 | UInt16(d)
            }
            if sawDoubleColon { tail.append(value) } else { head.append(value) }
            i = j
            if i < end {
                // At a ':'; "::" starts the tail.
                i += 1
                if i < end && s[i] == UInt8(ascii: ":") {
                    guard !sawDoubleColon else { return nil }
                    sawDoubleColon = true
                    i += 1
                } else if i == end {
                    return nil  // trailing single ':'
                }
            }
        }
        let count = head.count + tail.count
        if sawDoubleColon { guard count <= 7 else { return nil } } else { guard count == 8 else { return nil } }
        let groups = head + Array(repeating: 0, count: 8 - count) + tail
        var result: UInt128 = 0
        for g in groups { result = result << 16 | UInt128(g) }
        return result
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// An IP network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`).
///
/// Host bits after the prefix are allowed and ignored (`192.168.60.5/24` is `192.168.60.0/24`),
/// as in Kubernetes and `ip route`.
public struct CIDR: Sendable, Hashable, CustomStringConvertible {
    /// The network address with host bits cleared.
    public let network: IPAddress
    /// Prefix length: 0…32 for IPv4, 0…128 for IPv6.
    public let prefixLength: Int

    /// Parses `address/length`; returns nil when `text` is not a CIDR.
    public init?(_ text: some StringProtocol) {
        guard let slash = text.firstIndex(of: "/") else { return nil }
        guard let address = IPAddress(text[..<slash]) else { return nil }
        let lengthText = text[text.index(after: slash)...]
        guard !lengthText.isEmpty, lengthText.count <= 3, lengthText.allSatisfy({ $0.isASCII && $0.isNumber }),
            let length = Int(lengthText), length <= address.bitWidth
        else { return nil }
        if lengthText.count > 1 && lengthText.first == "0" { return nil }
        prefixLength = length
        network = IPAddress(isIPv6: address.isIPv6, bits: address.bits & Self.mask(length, width: address.bitWidth))
    }

    /// Whether `address` lies in this network (same family, same leading `prefixLength` bits).
    public func contains(_ address: IPAddress) -> Bool {
        guard address.isIPv6 == network.isIPv6 else { return false }
        return address.bits & Self.mask(prefixLength, width: network.bitWidth) == network.bits
    }

    /// `network/prefixLength`.
    public var description: String { "\(network)/\(prefixLength)" }

    static func mask(_ length: Int, width: Int) -> UInt128 {
        if length == 0 { return 0 }
        let all: UInt128 = width == 128 ? .max : 0xFFFF_FFFF
        return all & ~((UInt128(1) << UInt128(width - length)) - 1)
    }
}

extension IPAddress {
    /// Parses an interface address as the agent writes it: an address with an optional prefix
    /// length (`192.168.60.11/24` or `192.168.60.11`); the prefix length is ignored.
    public init?(interfaceAddress text: some StringProtocol) {
        if let slash = text.firstIndex(of: "/") {
            guard CIDR(text) != nil else { return nil }
            self.init(text[..<slash])
        } else {
            self.init(text)
        }
    }
}
