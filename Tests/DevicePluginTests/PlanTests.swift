import DevicePlugin
import MappingFile
import Testing

/// The pure parts: which resources a mapping file gives, NUMA preference, health from links.
@Suite struct PlanTests {
    static func candidate(_ name: String, mac: String, pci: String? = nil, numa: Int? = nil) -> DeviceCandidate {
        DeviceCandidate(name: name, mac: mac, pciAddress: pci, numaNode: numa)
    }

    static func mapping(_ networks: [String: NetworkMapping]) -> NodeNetworkMapping {
        NodeNetworkMapping(node: "n1", generation: 1, updatedAt: "2026-12-06T00:00:00Z", networks: networks)
    }

    @Test func onlyExclusiveNetworksAreServedAndADeviceHasOneOwner() throws {
        let a = Self.candidate("ens1", mac: "02:00:00:00:00:01", pci: "0000:05:00.0")
        let b = Self.candidate("ens2", mac: "02:00:00:00:00:02")
        let plan = ResourcePlan(mapping: Self.mapping([
            "zeta": NetworkMapping(device: "ens1", map: "zeta", exclusive: true, candidates: [a]),
            "alpha": NetworkMapping(device: "ens1", map: "alpha", exclusive: true, candidates: [a, b]),
            "shared": NetworkMapping(device: "ens2", map: "shared"),
        ]))
        #expect(plan.resources.map(\.resourceName) == ["automagic.dev/alpha", "automagic.dev/zeta"])
        let alpha = try #require(plan.resource(network: "alpha"))
        #expect(alpha.devices.map(\.deviceID) == ["0000:05:00.0", "02:00:00:00:00:02"])
        let zeta = try #require(plan.resource(network: "zeta"))
        #expect(zeta.devices.isEmpty, "ens1 is alpha's: offering it to zeta too could give it to two pods")
        #expect(plan.withheld.map(\.description) == ["device 0000:05:00.0 is not offered to network 'zeta': network 'alpha' offers it"])
    }

    @Test func draNetworksAreNotServed() throws {
        let a = Self.candidate("ens1", mac: "02:00:00:00:00:01", pci: "0000:05:00.0")
        let b = Self.candidate("ens2", mac: "02:00:00:00:00:02")
        let plan = ResourcePlan(mapping: Self.mapping([
            "alpha": NetworkMapping(device: "ens1", map: "alpha", exclusive: true, candidates: [a], dra: true),
            "beta": NetworkMapping(device: "ens1", map: "beta", exclusive: true, candidates: [a, b]),
        ]))
        #expect(plan.resources.map(\.resourceName) == ["automagic.dev/beta"], "the scheduler allocates alpha's devices through DRA")
        let beta = try #require(plan.resource(network: "beta"))
        #expect(beta.devices.map(\.deviceID) == ["02:00:00:00:00:02"], "ens1 is allocated by the scheduler: never by both")
        #expect(plan.withheld.map(\.description) == ["device 0000:05:00.0 is not offered to network 'beta': network 'alpha' allocates it through DRA"])
    }

    @Test func namesOfSocketsAndVariables() {
        #expect(ResourcePlan.socketName(network: "fast-net") == "automagic-fast-net.sock")
        #expect(ResourcePlan.socketName(network: "a/b") == "automagic-a_b.sock")
        #expect(ResourcePlan.environmentVariable(network: "fast-net.v2") == "AUTOMAGIC_FAST_NET_V2_DEVICES")
    }

    @Test func preferredAllocationKeepsToOneNUMANode() {
        let devices = [
            Self.candidate("a", mac: "a", numa: 0), Self.candidate("b", mac: "b", numa: 1),
            Self.candidate("c", mac: "c", numa: 0), Self.candidate("d", mac: "d", numa: 1),
            Self.candidate("e", mac: "e", numa: 1),
        ]
        let all = devices.map(\.deviceID)
        // Two devices: node 0 holds exactly two, node 1 three; the smaller node that fits is used.
        #expect(preferredAllocation(available: all, mustInclude: [], size: 2, devices: devices) == ["a", "c"])
        // A device that must be included pins its node.
        #expect(preferredAllocation(available: all, mustInclude: ["d"], size: 2, devices: devices) == ["d", "b"])
        // Three: only node 1 fits.
        #expect(preferredAllocation(available: all, mustInclude: [], size: 3, devices: devices) == ["b", "d", "e"])
        // Four: no node fits; the fullest first, then the next.
        #expect(preferredAllocation(available: all, mustInclude: [], size: 4, devices: devices) == ["b", "d", "e", "a"])
        // Unknown and unavailable IDs are never returned.
        #expect(preferredAllocation(available: ["a", "zz"], mustInclude: ["zz"], size: 2, devices: devices) == ["a"])
        #expect(preferredAllocation(available: all, mustInclude: [], size: 0, devices: devices) == [])
    }

    @Test func healthIsTheLinksStateAndAMissingLinkIsUnhealthy() {
        let resource = ServedResource(network: "fast", devices: [
            Self.candidate("up0", mac: "02:00:00:00:00:01", numa: 1),
            Self.candidate("down0", mac: "02:00:00:00:00:02"),
            Self.candidate("gone0", mac: "02:00:00:00:00:03"),
            Self.candidate("dummy0", mac: "02:00:00:00:00:04"),
            Self.candidate("old-name", mac: "02:00:00:00:00:05"),
        ])
        let table = LinkTable([
            LinkState(name: "up0", mac: "02:00:00:00:00:01", operState: "up", carrier: true),
            LinkState(name: "down0", mac: "02:00:00:00:00:02", operState: "down", carrier: false),
            LinkState(name: "dummy0", mac: "02:00:00:00:00:04", operState: "unknown", carrier: true),
            LinkState(name: "renamed", mac: "02:00:00:00:00:05", operState: "up", carrier: true),
        ])
        #expect(table.advertise(resource) == [
            AdvertisedDevice(id: "02:00:00:00:00:01", health: .healthy, numaNode: 1),
            AdvertisedDevice(id: "02:00:00:00:00:02", health: .unhealthy, numaNode: nil),
            AdvertisedDevice(id: "02:00:00:00:00:03", health: .unhealthy, numaNode: nil),
            AdvertisedDevice(id: "02:00:00:00:00:04", health: .healthy, numaNode: nil),
            AdvertisedDevice(id: "02:00:00:00:00:05", health: .healthy, numaNode: nil),
        ])
    }
}
