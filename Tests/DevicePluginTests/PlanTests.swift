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

    @Test func onlyExclusiveNetworksAreServedAndASharedDeviceIsOfferedByEach() throws {
        let a = Self.candidate("ens1", mac: "02:00:00:00:00:01", pci: "0000:05:00.0")
        let b = Self.candidate("ens2", mac: "02:00:00:00:00:02")
        let plan = ResourcePlan(mapping: Self.mapping([
            "zeta": NetworkMapping(device: "ens1", map: "zeta", exclusive: true, candidates: [a]),
            "alpha": NetworkMapping(device: "ens1", map: "alpha", exclusive: true, candidates: [a, b, a]),
            "shared": NetworkMapping(device: "ens2", map: "shared"),
        ]))
        #expect(plan.resources.map(\.resourceName) == ["automagic.dev/alpha", "automagic.dev/zeta"])
        let alpha = try #require(plan.resource(network: "alpha"))
        #expect(alpha.devices.map(\.deviceID) == ["0000:05:00.0", "02:00:00:00:00:02"], "a repeated candidate is listed once")
        let zeta = try #require(plan.resource(network: "zeta"))
        #expect(zeta.devices.map(\.deviceID) == ["0000:05:00.0"], "both networks offer ens1; claims give it to one pod at a time")
        #expect(plan.shared == ["0000:05:00.0": ["alpha", "zeta"]])
        #expect(ResourcePlan.network(resourceName: "automagic.dev/alpha") == "alpha")
        #expect(ResourcePlan.network(resourceName: "example.com/gpu") == nil)
        #expect(ResourcePlan.network(resourceName: "automagic.dev/") == nil)
    }

    /// A device alpha and zeta both offer: Allocate claims it, the other network reports it
    /// Unhealthy and cannot allocate it, and the claim ends as the pod resources API says.
    @Test func aClaimedDeviceIsUnhealthyForTheOtherNetworkUntilThePodIsGone() throws {
        let x = Self.candidate("ens1", mac: "02:00:00:00:00:01", pci: "0000:05:00.0")
        let y = Self.candidate("ens2", mac: "02:00:00:00:00:02")
        let alpha = ServedResource(network: "alpha", devices: [x])
        let zeta = ServedResource(network: "zeta", devices: [x, y])
        let links = LinkTable([LinkState(name: "ens1", operState: "up"), LinkState(name: "ens2", operState: "up")])
        let t0 = ContinuousClock.now
        var claims = DeviceClaims()
        #expect(claims.allocate(network: "alpha", ids: ["0000:05:00.0"], at: t0).isEmpty)
        #expect(claims.holder(of: "0000:05:00.0") == "alpha")
        #expect(links.advertise(alpha, claims: claims).map(\.health) == [.healthy], "its own network still lists it Healthy")
        #expect(links.advertise(zeta, claims: claims).map(\.health) == [.unhealthy, .healthy])

        // zeta's Allocate of it (and of a free device in the same request) is refused; nothing is claimed.
        let refused = claims.allocate(network: "zeta", ids: ["02:00:00:00:00:02", "0000:05:00.0"], at: t0)
        #expect(refused.map { $0.0 } == ["0000:05:00.0"])
        #expect(refused.first?.1.network == "alpha")
        #expect(claims.holder(of: "02:00:00:00:00:02") == nil)
        // alpha allocating it again (a container restarting) is fine.
        #expect(claims.allocate(network: "alpha", ids: ["0000:05:00.0"], at: t0).isEmpty)

        // A List that started before the pod could show up keeps the claim; one that started
        // `settle` after the Allocate and shows no pod ends it (the admission failed).
        claims.observe(held: [], listStarted: t0 + .seconds(1), settle: .seconds(5))
        #expect(claims.holder(of: "0000:05:00.0") == "alpha")
        claims.observe(held: [], listStarted: t0 + .seconds(6), settle: .seconds(5))
        #expect(claims.holder(of: "0000:05:00.0") == nil)

        // The kubelet's record is the truth, also after a restart (no Allocate seen): the pod holds it...
        let pod = DeviceClaims.Held(network: "zeta", deviceID: "0000:05:00.0", pod: "ns1/p1")
        claims.observe(held: [pod], listStarted: t0 + .seconds(7), settle: .seconds(5))
        #expect(claims.claims["0000:05:00.0"] == DeviceClaims.Claim(network: "zeta", pod: "ns1/p1"))
        #expect(links.advertise(alpha, claims: claims).map(\.health) == [.unhealthy])
        #expect(claims.allocate(network: "alpha", ids: ["0000:05:00.0"], at: t0 + .seconds(7)).first?.1.pod == "ns1/p1")
        // ...until the pod is gone.
        claims.observe(held: [], listStarted: t0 + .seconds(8), settle: .seconds(5))
        #expect(claims.claims.isEmpty)
        #expect(links.advertise(alpha, claims: claims).map(\.health) == [.healthy])
    }

    /// Without the pod resources API: the claim ends when the device's link left the host (into
    /// the pod) and came back, not before.
    @Test func withoutPodResourcesAClaimEndsWhenTheLinkComesBack() {
        let t0 = ContinuousClock.now
        var claims = DeviceClaims()
        _ = claims.allocate(network: "alpha", ids: ["x"], at: t0)
        claims.observe(present: { _ in true })
        #expect(claims.holder(of: "x") == "alpha", "still in the host: the pod's ADD has not run yet")
        claims.observe(present: { _ in false })
        #expect(claims.holder(of: "x") == "alpha", "in the pod")
        claims.observe(present: { _ in false })
        #expect(claims.holder(of: "x") == "alpha")
        claims.observe(present: { _ in true })
        #expect(claims.holder(of: "x") == nil, "back in the host: the pod's network is gone")
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
        #expect(plan.allocatedThroughDRA == ["0000:05:00.0": "alpha"])
        #expect(plan.shared.isEmpty, "a device the scheduler allocates is not shared with a device-plugin network")
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
