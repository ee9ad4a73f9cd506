/// Values of the API's enumerated string fields are open: a value written by a newer agent or
/// user that this build does not know decodes as-is (it never fails decoding) and is reported by
/// validation instead (`Resolver.validate`), so an old controller can still read and explain it.

/// An open enumeration: any string decodes and encodes as itself; the known values are static
/// members of the conforming type. Conformers declare only `rawValue` and `init(rawValue:)`.
public protocol OpenStringEnum: RawRepresentable<String>, Hashable, Sendable, Codable, ExpressibleByStringLiteral,
    CustomStringConvertible {
    init(rawValue: String)
}

extension OpenStringEnum {
    /// Wraps a literal, e.g. `let op: MatchOperator = "In"`.
    public init(stringLiteral value: String) { self.init(rawValue: value) }
    public init(from decoder: any Decoder) throws { self.init(rawValue: try decoder.singleValueContainer().decode(String.self)) }
    public func encode(to encoder: any Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(rawValue) }
    public var description: String { rawValue }
}

/// The kind of a network device as the node agent classifies it (`status.devices[].kind`).
public struct DeviceKind: OpenStringEnum {
    /// The string written in the object.
    public var rawValue: String
    /// Wraps any string; unknown values are kept as they are.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// A physical function / ordinary NIC port backed by a bus device.
    public static let physical: DeviceKind = "physical"
    /// An SR-IOV virtual function.
    public static let vf: DeviceKind = "vf"
    /// A bonding (or team) master.
    public static let bond: DeviceKind = "bond"
    /// A Linux bridge.
    public static let bridge: DeviceKind = "bridge"
    /// An 802.1Q VLAN sub-interface.
    public static let vlan: DeviceKind = "vlan"
    /// One end of a veth pair.
    public static let veth: DeviceKind = "veth"
    /// A macvlan interface.
    public static let macvlan: DeviceKind = "macvlan"
    /// An ipvlan interface.
    public static let ipvlan: DeviceKind = "ipvlan"
    /// Any other software device (tun, dummy, vxlan, …).
    public static let virtual: DeviceKind = "virtual"
    /// Every kind the CRD accepts, in schema order.
    public static let allKnown: [DeviceKind] = [.physical, .vf, .bond, .bridge, .vlan, .veth, .macvlan, .ipvlan, .virtual]
}

/// Operator of a device match expression (`spec.rules[].devices.matchExpressions[].operator`).
public struct MatchOperator: OpenStringEnum {
    /// The string written in the object.
    public var rawValue: String
    /// Wraps any string; unknown values are kept and rejected by validation.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Some value of the field equals one of `values`.
    public static let `in`: MatchOperator = "In"
    /// No value of the field equals any of `values` (also true when the field is absent).
    public static let notIn: MatchOperator = "NotIn"
    /// The field is present (a list field: non-empty). No `values`.
    public static let exists: MatchOperator = "Exists"
    /// The field is absent (a list field: empty). No `values`.
    public static let doesNotExist: MatchOperator = "DoesNotExist"
    /// Some value of the field is an integer greater than the single integer in `values`.
    public static let gt: MatchOperator = "Gt"
    /// Some value of the field is an integer less than the single integer in `values`.
    public static let lt: MatchOperator = "Lt"
    /// Some value of the field contains a match of one of the regular expressions in `values`.
    public static let matches: MatchOperator = "Matches"
    /// Some address of the field lies in one of the CIDRs in `values`.
    public static let inCIDR: MatchOperator = "InCIDR"
    /// Every operator the CRD accepts, in schema order.
    public static let allKnown: [MatchOperator] = [.in, .notIn, .exists, .doesNotExist, .gt, .lt, .matches, .inCIDR]
}

/// What to do when several devices match one rule (`spec.select`).
public struct SelectPolicy: OpenStringEnum {
    /// The string written in the object.
    public var rawValue: String
    /// Wraps any string; unknown values are kept and rejected by validation.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// The first device in natural name order (`eno2` before `eno10`). The default.
    public static let first: SelectPolicy = "First"
    /// The device with the highest `speedMbps` (unknown speed ranks lowest); ties by name order.
    public static let highestSpeed: SelectPolicy = "HighestSpeed"
    /// Several matching devices leave the node unresolved, naming them.
    public static let fail: SelectPolicy = "Fail"
    /// Every policy the CRD accepts.
    public static let allKnown: [SelectPolicy] = [.first, .highestSpeed, .fail]
}

/// The delegate CNI plugin that attaches pods to the resolved device (`spec.attachment.type`).
public struct AttachmentType: OpenStringEnum {
    /// The string written in the object.
    public var rawValue: String
    /// Wraps any string; unknown values are kept and rejected by validation.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// The `macvlan` reference plugin (`master` = the device).
    public static let macvlan: AttachmentType = "macvlan"
    /// The `ipvlan` reference plugin (`master` = the device).
    public static let ipvlan: AttachmentType = "ipvlan"
    /// The `host-device` reference plugin (`device` = the device; moves it into the pod; needs `exclusive`).
    public static let hostDevice: AttachmentType = "host-device"
    /// Every type the CRD accepts.
    public static let allKnown: [AttachmentType] = [.macvlan, .ipvlan, .hostDevice]

    /// The `mode` values this delegate accepts (empty: the delegate takes no mode).
    public var knownModes: [String] {
        switch self {
        case .macvlan: ["bridge", "private", "vepa", "passthru"]
        case .ipvlan: ["l2", "l3", "l3s"]
        default: []
        }
    }
}
