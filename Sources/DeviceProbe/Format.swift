import Glibc

/// Lower-case colon-separated hex, as `ip link` prints hardware addresses.
func formatMAC(_ bytes: some Collection<UInt8>) -> String {
    let hex: [Character] = Array("0123456789abcdef")
    var s = ""
    s.reserveCapacity(bytes.count * 3)
    for (i, b) in bytes.enumerated() {
        if i > 0 { s.append(":") }
        s.append(hex[Int(b >> 4)])
        s.append(hex[Int(b & 0xF)])
    }
    return s
}

/// Text form of an IPv4 (4 bytes) or IPv6 (16 bytes) address (inet_ntop, RFC 5952 for IPv6).
func formatIP(_ bytes: [UInt8]) -> String? {
    let family: Int32
    switch bytes.count {
    case 4: family = AF_INET
    case 16: family = AF_INET6
    default: return nil
    }
    var out = [CChar](repeating: 0, count: 64)
    let ok = bytes.withUnsafeBytes { src in
        out.withUnsafeMutableBufferPointer { dst in
            inet_ntop(family, src.baseAddress, dst.baseAddress, socklen_t(dst.count)) != nil
        }
    }
    guard ok else { return nil }
    return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// True for fe80::/10.
func isIPv6LinkLocal(_ bytes: [UInt8]) -> Bool {
    bytes.count == 16 && bytes[0] == 0xFE && (bytes[1] & 0xC0) == 0x80
}
