// automagic-lab-switch: the lab's simulated top-of-rack switch. It announces LLDP
// (chassis, port, system name, port VLAN ID, VLAN names) out of its ports so that the
// agents of simulated nodes learn which switch port and VLAN each of their NICs is on,
// exactly as they would from a real switch. Lab and tests only.
import ArgumentParser
import DeviceProbe
#if canImport(Glibc)
import Glibc
#endif

@main
struct LabSwitch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "automagic-lab-switch",
        abstract: "Announce LLDP from the ports of a simulated switch (Automagic lab).")

    @Option(help: "Network namespace the switch ports live in (e.g. /var/run/netns/amlab-fabric).")
    var netns: String?

    @Option(help: "Switch system name (LLDP system name TLV).")
    var systemName: String

    @Option(
        name: .customLong("port"),
        help: "A port to announce on: IFNAME[=PORTID]:VLAN[:VLANNAME]. Repeatable.")
    var ports: [String]

    @Option(help: "Seconds between announcements.")
    var interval: Double = 5

    @Option(help: "TTL announced, in seconds.")
    var ttl: Int = 30

    @Flag(help: "Send one round and exit.")
    var once = false

    struct Port {
        var interface: String
        var portID: String
        var vlan: Int
        var vlanName: String?
    }

    static func parsePort(_ text: String) throws -> Port {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3, let vlan = Int(parts[1]), (1...4094).contains(vlan) else {
            throw ValidationError("invalid --port '\(text)': expected IFNAME[=PORTID]:VLAN[:VLANNAME] with VLAN 1-4094")
        }
        let names = parts[0].split(separator: "=", maxSplits: 1).map(String.init)
        guard let interface = names.first, !interface.isEmpty else {
            throw ValidationError("invalid --port '\(text)': missing interface name")
        }
        return Port(interface: interface, portID: names.count == 2 ? names[1] : interface, vlan: vlan, vlanName: parts.count == 3 ? parts[2] : nil)
    }

    func run() throws {
        let parsed = try ports.map(Self.parsePort)
        guard !parsed.isEmpty else { throw ValidationError("at least one --port is required") }
        let sender = try FrameSender(netnsPath: netns)
        // A stable, locally administered chassis MAC derived from the system name.
        var h: UInt32 = 2166136261
        for b in systemName.utf8 { h = (h ^ UInt32(b)) &* 16777619 }
        let chassis: [UInt8] = [0x02, 0xAA, UInt8(h >> 24 & 0xFF), UInt8(h >> 16 & 0xFF), UInt8(h >> 8 & 0xFF), UInt8(h & 0xFF)]
        while true {
            for (n, p) in parsed.enumerated() {
                var src = chassis
                src[5] = src[5] &+ UInt8(truncatingIfNeeded: n + 1)
                var b = LLDPFrameBuilder(source: src, chassisID: .mac(chassis), portID: .interfaceName(p.portID))
                b.ttl = UInt16(clamping: ttl)
                b.systemName = systemName
                b.portDescription = "\(systemName) \(p.portID)"
                b.portVLANID = UInt16(p.vlan)
                if let name = p.vlanName { b.vlanNames = [LLDPVLANName(vlanID: p.vlan, name: name)] }
                do {
                    try sender.send(b.frame(), on: p.interface)
                } catch {
                    // A port may be down or gone for a moment (the lab re-plugs links); keep announcing the others.
                    let line = Array("automagic-lab-switch: failed to send LLDP on '\(p.interface)': \(error)\n".utf8)
                    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
                }
            }
            if once { return }
            usleep(useconds_t(max(0.2, interval) * 1_000_000))
        }
    }
}
