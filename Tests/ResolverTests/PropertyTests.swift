import AutomagicAPI
import Foundation
import JSON
import PropertyBased
import Resolver
import SyntheticFleets
import Synchronization
import Testing
import TestSupport

/// A random world: a node, its devices and some maps, from one seed.
struct World: Sendable, CustomStringConvertible {
    let seed: UInt64
    let node: NodeInfo
    let devices: [NetworkDevice]
    let maps: [NetworkDeviceMap]

    init(seed: UInt64) {
        self.seed = seed
        var g = SyntheticFleet(seed: seed)
        node = g.node("node-\(seed % 1000)")
        devices = g.devices(g.below(13))
        maps = g.maps(1 + g.below(8))
    }

    var description: String { "World(seed: \(seed), \(devices.count) devices, \(maps.count) maps)" }
}

/// What a resolution decided, without the wording of messages.
struct Decision: Hashable {
    let network: String
    let outcome: NetworkResolution.Outcome
    let device: String?
    let rule: RuleRef?
    let candidates: [String]
    let available: [String]
    let conflicts: [ResolutionConflict]

    init(_ n: NetworkResolution) {
        network = n.network
        outcome = n.outcome
        device = n.device
        rule = n.rule
        candidates = n.candidates
        available = n.availableDevices
        conflicts = n.conflicts
    }
}

func shuffled<T>(_ items: [T], _ g: inout SyntheticFleet) -> [T] {
    var a = items
    if a.count > 1 {
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, g.below(i + 1)) }
    }
    return a
}

let worlds = Gen.int(in: 0...Int.max).map { World(seed: UInt64($0)) }

@Suite("Properties")
struct PropertyTests {
    @Test("the result does not depend on the order of devices or maps")
    func orderIndependent() async {
        await propertyCheck(count: 300, input: worlds) { w in
            let base = Resolver.resolve(node: w.node, devices: w.devices, maps: w.maps)
            var g = SyntheticFleet(seed: w.seed ^ 0x5eed)
            let permuted = Resolver.resolve(node: w.node, devices: shuffled(w.devices, &g), maps: shuffled(w.maps, &g))
            #expect(permuted == base, "\(w)")
        }
    }

    @Test("resolution is deterministic and full and summary detail decide the same")
    func deterministic() async {
        await propertyCheck(count: 300, input: worlds) { w in
            let a = Resolver.resolve(node: w.node, devices: w.devices, maps: w.maps)
            let b = Resolver.resolve(node: w.node, devices: w.devices, maps: w.maps)
            #expect(a == b, "\(w)")
            let s = Resolver.resolve(node: w.node, devices: w.devices, maps: w.maps, detail: .summary)
            #expect(s.networks.map(Decision.init) == a.networks.map(Decision.init), "\(w)")
            #expect(s.networks.map(\.message) == a.networks.map(\.message), "\(w)")
        }
    }

    @Test("adding a device that matches no rule changes no decision")
    func irrelevantDevice() async {
        let checked = Mutex(0)
        await propertyCheck(count: 300, input: worlds) { w in
            var g = SyntheticFleet(seed: w.seed ^ 0xde71ce)
            var extra = g.device(index: 9999)
            extra.name = "zz\(g.below(100))"
            // Keep only devices that no rule of any map matches on this node.
            let alone = Resolver.resolve(node: w.node, devices: [extra], maps: w.maps)
            guard alone.networks.allSatisfy({ $0.trace.allSatisfy { $0.matched.isEmpty } }) else { return }
            checked.withLock { $0 += 1 }
            let before = Resolver.resolve(node: w.node, devices: w.devices, maps: w.maps)
            let after = Resolver.resolve(node: w.node, devices: w.devices + [extra], maps: w.maps)
            #expect(after.networks.map(Decision.init) == before.networks.map(Decision.init), "\(w) + \(extra.name)")
        }
        // The property must not hold vacuously: enough generated devices matched no rule.
        #expect(checked.withLock { $0 } >= 30)
    }

    @Test("a chosen device is a candidate, and no device serves an exclusive network and another one")
    func invariants() async {
        await propertyCheck(count: 300, input: worlds) { w in
            let r = Resolver.resolve(node: w.node, devices: w.devices, maps: w.maps)
            let exclusive = Set(w.maps.filter { $0.spec.exclusive == true }.map(\.network))
            var users: [String: [String]] = [:]
            for n in r.networks {
                if let d = n.device {
                    #expect(n.candidates.contains(d), "\(w)")
                    #expect(n.outcome == .resolved)
                    users[d, default: []].append(n.network)
                }
                for c in n.conflicts { #expect(r[c.network]?.conflicts.contains { $0.device == c.device && $0.network == n.network } == true, "conflict reported on both sides: \(w)") }
            }
            for (device, networks) in users where networks.count > 1 {
                #expect(networks.allSatisfy { !exclusive.contains($0) }, "\(device) shared by \(networks) in \(w)")
            }
        }
    }
}

@Suite("Benchmark entry points")
struct BenchmarkSmokeTests {
    @Test("automagic-bench resolver runs at small sizes and resolves something")
    func small() throws {
        let out = try run(try builtProduct("automagic-bench"), [
            "resolver", "--maps", "10", "--devices", "16", "--iterations", "2", "--nodes", "20", "--fleet-devices", "8",
        ])
        #expect(out.status == 0, "\(out)")
        var byName: [String: JSONValue] = [:]
        for line in out.stdout.split(separator: "\n") {
            let v = try JSONValue.parse(String(line))
            byName[v["benchmark"]?.stringValue ?? ""] = v
        }
        let single = try #require(byName["resolver-single-node-summary"], "\(out)")
        #expect(single["results"]?.intValue == 20)
        #expect((single["resolved"]?.intValue ?? 0) > 0)
        let fleet = try #require(byName["resolver-fleet"], "\(out)")
        #expect(fleet["results"]?.intValue == 200)
        #expect(fleet["name"]?.stringValue?.contains("full resync: 20 nodes x 10 maps") == true, "\(fleet)")
    }
}

@Suite("IP address properties")
struct IPPropertyTests {
    @Test("every address prints in a form that parses back to itself; a CIDR contains exactly the addresses sharing its prefix")
    func roundTrip() async {
        await propertyCheck(count: 500, input: Gen.int(in: 0...Int.max), Gen.int(in: 0...Int.max), Gen.int(in: 0...128)) { a, b, length in
            var g = SyntheticFleet(seed: UInt64(a) ^ UInt64(b) << 1)
            // Bias towards zero groups so that "::" compression is exercised.
            var bits: UInt128 = 0
            for _ in 0..<8 { bits = bits << 16 | (g.below(3) == 0 ? 0 : UInt128(g.next() & 0xFFFF)) }
            let v6 = IPAddress(isIPv6: true, bits: bits)
            #expect(IPAddress(v6.description) == v6, "\(v6)")
            let v4 = IPAddress(isIPv6: false, bits: UInt128(UInt32(truncatingIfNeeded: g.next())))
            #expect(IPAddress(v4.description) == v4, "\(v4)")
            let other = IPAddress(isIPv6: true, bits: bits ^ (UInt128(1) << UInt128(g.below(128))))
            if let cidr = CIDR("\(v6)/\(length)") {
                #expect(cidr.contains(v6))
                let sharesPrefix = (bits ^ other.bits).leadingZeroBitCount >= length
                #expect(cidr.contains(other) == sharesPrefix, "\(cidr) \(other)")
                #expect(!cidr.contains(v4))
            } else {
                Issue.record("CIDR \(v6)/\(length) did not parse")
            }
        }
    }
}
