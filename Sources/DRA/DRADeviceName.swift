import HardwareAddresses

/// The DRA device name of a NIC (a DNS label, stable across interface renames) and the stable ID
/// it encodes: the PCI address when the NIC has one, else its MAC address — the same stable ID the
/// device plugin advertises.
///
/// ```swift
/// DRADeviceName.name(pciAddress: "0000:3B:00.0", mac: nil)          // "pci-0000-3b-00-0"
/// DRADeviceName.name(pciAddress: nil, mac: "02:AA:BB:CC:DD:01")     // "mac-02aabbccdd01"
/// DRADeviceName.parse("pci-0000-3b-00-0")                             // .pci("0000:3b:00.0")
/// DRADeviceName.parse("mac-02aabbccdd01")                             // .mac("02:aa:bb:cc:dd:01")
/// ```
public enum DRADeviceName {
    /// The stable ID a device name encodes.
    public enum StableID: Hashable, Sendable, CustomStringConvertible {
        /// A PCI address, lower-case `dddd:bb:dd.f`.
        case pci(String)
        /// A MAC address, lower-case, colon-separated octets.
        case mac(String)

        /// The ID as the device plugin writes it (`0000:3b:00.0`, `02:aa:bb:cc:dd:01`).
        public var description: String {
            switch self {
            case .pci(let a), .mac(let a): a
            }
        }
    }

    /// Most characters of a device name (a DNS label).
    public static let maxLength = 63

    /// The name for a NIC: `pci-<address with ':' and '.' → '-'>` when `pciAddress` is a PCI
    /// address (`[domain:]bus:device.function`, hex), else `mac-<hex digits>` when `mac` is a MAC
    /// address (colon-separated hex octets, 6 for Ethernet, up to 20 for InfiniBand); nil when
    /// neither is usable (such a device is not published).
    public static func name(pciAddress: String?, mac: String?) -> String? {
        if let pciAddress, let canonical = PCIAddress.canonical(pciAddress) {
            return "pci-" + String(canonical.map { $0 == ":" || $0 == "." ? "-" : $0 })
        }
        if let mac, let octets = macOctets(mac) {
            return "mac-" + octets.joined()
        }
        return nil
    }

    /// The stable ID `name` encodes, or nil when `name` is not a device name this driver writes.
    public static func parse(_ name: String) -> StableID? {
        if name.hasPrefix("pci-") {
            let parts = name.dropFirst(4).split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 4 else { return nil }
            let address = "\(parts[0]):\(parts[1]):\(parts[2]).\(parts[3])"
            guard let canonical = PCIAddress.canonical(address), canonical == address else { return nil }
            return .pci(canonical)
        }
        if name.hasPrefix("mac-") {
            let hex = Array(name.dropFirst(4).utf8)
            guard hex.count >= 12, hex.count <= 40, hex.count % 2 == 0, hex.allSatisfy(isLowerHex) else { return nil }
            var octets: [String] = []
            var i = 0
            while i < hex.count {
                octets.append(String(decoding: hex[i..<(i + 2)], as: UTF8.self))
                i += 2
            }
            return .mac(octets.joined(separator: ":"))
        }
        return nil
    }

    /// The lower-case octets of a colon-separated MAC address of 6…20 octets, or nil.
    static func macOctets(_ s: String) -> [String]? {
        let octets = s.lowercased().split(separator: ":", omittingEmptySubsequences: false)
        guard (6...20).contains(octets.count),
              octets.allSatisfy({ $0.utf8.count == 2 && $0.utf8.allSatisfy(isLowerHex) }) else { return nil }
        return octets.map(String.init)
    }

    static func isLowerHex(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) }
}
