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

    /// Parses `"1.0.0"`; `nil` for anything else (`"1.0"`, `"v1"`, `""`).
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var numbers: [Int] = []
        for p in parts {
            guard !p.isEmpty, p.count <= 6, p.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(p) else { return nil }
            numbers.append(n)
        }
        self.init(numbers[0], numbers[1], numbers[2])
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
