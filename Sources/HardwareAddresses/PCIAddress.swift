/// PCI function addresses as Linux names them: `domain:bus:device.function` in hexadecimal, for
/// example `0000:5e:00.1`. The one parser of PCI addresses: the probe checks sysfs names with it, the
/// mapping file matches device IDs with it, DRA encodes device names with it.
///
/// ```swift
/// PCIAddress.canonical("5E:00.1")         // "0000:5e:00.1" (the short form has domain 0000)
/// PCIAddress.canonical("10000:01:1f.7")   // "10000:01:1f.7" (VMD domains have five digits)
/// PCIAddress.canonical("0000:5e:20.0")    // nil: device numbers end at 0x1f
/// PCIAddress.isCanonical("0000:5E:00.1")  // false: the kernel writes lower case
/// ```
public enum PCIAddress {
    /// `[domain:]bus:device.function` in any case, with a domain of 1–8 hexadecimal digits (0000 when
    /// absent), a bus of 2, a device of 2 (at most 0x1f) and a function of 1 (at most 7), written the
    /// way the kernel writes it: lower case, the domain with at least 4 digits. Nil when `s` is not a
    /// PCI address.
    public static func canonical(_ s: String) -> String? {
        let parts = s.utf8.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        let domain: Substring.UTF8View.SubSequence, bus: Substring.UTF8View.SubSequence, rest: Substring.UTF8View.SubSequence
        switch parts.count {
        case 2: (domain, bus, rest) = ("0000".utf8[...], parts[0], parts[1])
        case 3: (domain, bus, rest) = (parts[0], parts[1], parts[2])
        default: return nil
        }
        let deviceFunction = rest.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard deviceFunction.count == 2,
              let domainNumber = number(domain, digits: 1...8),
              let busNumber = number(bus, digits: 2...2),
              let device = number(deviceFunction[0], digits: 2...2), device <= 0x1f,
              let function = number(deviceFunction[1], digits: 1...1), function <= 7
        else { return nil }
        return hex(domainNumber, width: 4) + ":" + hex(busNumber, width: 2) + ":" + hex(device, width: 2) + "." + hex(function, width: 1)
    }

    /// Whether `s` is a PCI address exactly as the kernel writes it (as sysfs names PCI functions).
    public static func isCanonical(_ s: String) -> Bool {
        canonical(s) == s
    }

    private static func number<S: Collection<UInt8>>(_ digits: S, digits count: ClosedRange<Int>) -> UInt32? {
        guard count.contains(digits.count) else { return nil }
        var value: UInt32 = 0
        for c in digits {
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    private static func hex(_ value: UInt32, width: Int) -> String {
        let digits = String(value, radix: 16)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
