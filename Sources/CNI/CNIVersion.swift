/// A CNI spec version (`major.minor.patch`), ordered.
public struct CNIVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Major version.
    public var major: Int
    /// Minor version.
    public var minor: Int
    /// Patch version.
    public var patch: Int

    /// Creates a version.
    public init(_ major: Int, _ minor: Int, _ patch: Int) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses `"1.0.0"`; `nil` for anything else (`"1.0"`, `"v1"`, `""`): three dot-separated
    /// runs of 1–6 ASCII digits. Works on the UTF-8 bytes (no `Character` processing).
    public init?(_ text: String) {
        var numbers = (0, 0, 0)
        var index = 0, digits = 0, value = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, index < 2 else { return nil }
                if index == 0 { numbers.0 = value } else { numbers.1 = value }
                index += 1
                digits = 0
                value = 0
            } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                guard digits < 6 else { return nil }
                digits += 1
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            } else {
                return nil
            }
        }
        guard index == 2, digits > 0 else { return nil }
        numbers.2 = value
        self.init(numbers.0, numbers.1, numbers.2)
    }

    public var description: String { "\(major).\(minor).\(patch)" }

    public static func < (a: CNIVersion, b: CNIVersion) -> Bool {
        (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
    }

    /// 0.4.0: CHECK and prevResult on DEL.
    public static let v0_4_0 = CNIVersion(0, 4, 0)
    /// 1.0.0: no `version` in ips.
    public static let v1_0_0 = CNIVersion(1, 0, 0)
    /// 1.1.0: STATUS, GC, new result fields.
    public static let v1_1_0 = CNIVersion(1, 1, 0)

    /// The versions this implementation speaks, oldest first.
    public static let supported: [CNIVersion] = [.v0_4_0, .v1_0_0, .v1_1_0]
    /// The newest supported version.
    public static let latest: CNIVersion = .v1_1_0

    /// The version to speak to a peer that supports `peer` when the caller speaks `wanted`:
    /// `wanted` itself if the peer knows it, else the newest common version below it,
    /// else the oldest common version above it; `nil` when there is none.
    public static func negotiate(wanted: CNIVersion, peer: [CNIVersion]) -> CNIVersion? {
        let common = supported.filter { peer.contains($0) }
        if common.contains(wanted) { return wanted }
        if let below = common.filter({ $0 < wanted }).max() { return below }
        return common.filter { $0 > wanted }.min()
    }
}
