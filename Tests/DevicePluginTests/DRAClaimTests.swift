import DevicePlugin
import Foundation
import JSON
import Logging
import MappingFile
import Testing
import TestSupport

/// The pure part of NodePrepareResources (claim + mapping file → record) and the preparer's
/// idempotence and restart behaviour over a real record folder, with claims served from memory.
@Suite struct DRAClaimTests {
    static let node = "worker-1"
    static let pci = DeviceCandidate(name: "ens3f0", mac: "3c:fd:fe:aa:bb:00", pciAddress: "0000:3B:00.0")
    static let veth = DeviceCandidate(name: "veth-x", mac: "02:AA:BB:CC:DD:01")

    static let mapping = NodeNetworkMapping(node: node, generation: 1, updatedAt: "t", networks: [
        "fast": NetworkMapping(device: "ens3f0", map: "fast", exclusive: true, candidates: [pci, veth], dra: true),
    ])

    /// A claim as the scheduler leaves it: spec requests, status.allocation results, reservedFor.
    static func claim(uid: String = "c-1", results: [JSONValue], requests: [JSONValue]? = nil,
                      pods: [String] = ["pod-1"], allocated: Bool = true) -> JSONValue {
        var claim: JSONValue = [
            "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
            "metadata": ["namespace": "default", "name": "web-0-nic", "uid": .string(uid)],
            "spec": ["devices": ["requests": .array(requests ?? [
                ["name": "nic", "exactly": ["deviceClassName": "fast.automagic.dev"]],
                ["name": "gpu", "exactly": ["deviceClassName": "gpu.example.com"]],
                ["name": "any", "firstAvailable": [["name": "fast", "deviceClassName": "fast.automagic.dev"]]],
            ])]],
            "status": [
                "reservedFor": .array(pods.map { ["resource": "pods", "name": "web-0", "uid": .string($0)] }
                    + [["apiGroup": "example.com", "resource": "pods", "name": "x", "uid": "not-a-pod"]]),
            ],
        ]
        if allocated { claim[path: ["status", "allocation"]] = ["devices": ["results": .array(results)]] }
        return claim
    }

    static func result(_ request: String, _ device: String, driver: String = "automagic.dev", pool: String = node) -> JSONValue {
        ["request": .string(request), "driver": .string(driver), "pool": .string(pool), "device": .string(device)]
    }

    @Test func recordsOurDevicesOnThisNodeAndIgnoresOtherDrivers() throws {
        let claim = Self.claim(results: [
            Self.result("nic", "pci-0000-3b-00-0"),
            Self.result("gpu", "gpu-0", driver: "gpu.example.com", pool: "elsewhere"),
            Self.result("any/fast", "mac-02aabbccdd01"),
        ])
        let record = try DRAClaims.prepare(claim: claim, node: Self.node, mapping: Self.mapping).get()
        #expect(record.uid == "c-1" && record.namespace == "default" && record.name == "web-0-nic")
        #expect(record.podUIDs == ["pod-1"], "only core pods count")
        #expect(record.devices == [
            PreparedDevice(request: "nic", pool: Self.node, device: "pci-0000-3b-00-0", network: "fast", interface: "ens3f0",
                           pciAddress: "0000:3B:00.0", mac: "3c:fd:fe:aa:bb:00"),
            PreparedDevice(request: "any/fast", pool: Self.node, device: "mac-02aabbccdd01", network: "fast", interface: "veth-x",
                           mac: "02:AA:BB:CC:DD:01"),
        ])
    }

    @Test(arguments: [
        (claim(results: [], allocated: false), "is not allocated"),
        (claim(results: [result("nic", "pci-0000-3b-00-0", pool: "worker-2")]), "of pool 'worker-2', but this is node 'worker-1'"),
        (claim(results: [result("gpu", "pci-0000-3b-00-0")]), "uses DeviceClass 'gpu.example.com', not one of Automagic's"),
        (claim(results: [result("nope", "pci-0000-3b-00-0")]), "names request 'nope', which spec.devices.requests does not define"),
        (claim(results: [result("nic", "pci-0000-99-00-0")]), "device 'pci-0000-99-00-0' is not a device of network 'fast' on node 'worker-1' (its devices: pci-0000-3b-00-0 (ens3f0), mac-02aabbccdd01 (veth-x))"),
        (claim(results: [result("nic", "")]), "has no request or device"),
    ])
    func refusesWhatItCannotPrepare(claim: JSONValue, problem: String) throws {
        let error = try #require(throws: DRAPrepareError.self) {
            try DRAClaims.prepare(claim: claim, node: Self.node, mapping: Self.mapping).get()
        }
        #expect(error.message.hasPrefix("ResourceClaim 'default/web-0-nic': "), "\(error)")
        #expect(error.message.contains(problem), "\(error)")
    }

    @Test func aNetworkMissingFromTheMappingIsNamed() throws {
        let claim = Self.claim(results: [Self.result("nic", "pci-0000-3b-00-0")])
        let none = try #require(throws: DRAPrepareError.self) { try DRAClaims.prepare(claim: claim, node: Self.node, mapping: nil).get() }
        #expect(none.message.contains("mapping file does not exist yet"), "\(none)")
        let empty = NodeNetworkMapping(node: Self.node, generation: 1, updatedAt: "t", networks: [:])
        let missing = try #require(throws: DRAPrepareError.self) { try DRAClaims.prepare(claim: claim, node: Self.node, mapping: empty).get() }
        #expect(missing.message.contains("network 'fast' (DeviceClass 'fast.automagic.dev') is not in the mapping file"), "\(missing)")
    }

    @Test func deviceNamesFollowTheContract() {
        #expect(DRAClaims.draDeviceName(Self.pci) == "pci-0000-3b-00-0")
        #expect(DRAClaims.draDeviceName(Self.veth) == "mac-02aabbccdd01")
        #expect(DRAClaims.draDeviceName(DeviceCandidate(name: "lo0")) == "lo0")
    }

    // MARK: the preparer over a real folder

    final class MemoryClaims: ResourceClaimReader, @unchecked Sendable {
        private let lock = NSLock()
        private var claims: [String: JSONValue] = [:]
        private var failing = false
        func set(_ claim: JSONValue?, name: String = "web-0-nic") { lock.withLock { claims[name] = claim } }
        func fail(_ on: Bool) { lock.withLock { failing = on } }
        func claim(namespace: String, name: String) async throws -> JSONValue? {
            try lock.withLock { () throws -> JSONValue? in
                if failing { throw TestFailure("connection refused") }
                return claims[name]
            }
        }
    }

    @Test func prepareIsIdempotentSurvivesARestartAndUnprepareRemovesTheRecord() async throws {
        let dir = try TempDir("amdra")
        defer { dir.cleanup() }
        try MappingFile.write(Self.mapping, to: dir.path + "/mapping.json")
        let config = DRAPluginConfiguration(nodeName: Self.node, stateDirectory: dir.path + "/dra", mappingFile: dir.path + "/mapping.json")
        let claims = MemoryClaims()
        claims.set(Self.claim(results: [Self.result("nic", "pci-0000-3b-00-0")]))
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        var preparer = DRAClaimPreparer(configuration: config, reader: claims, logger: logger)

        let first = try await preparer.prepare(namespace: "default", name: "web-0-nic", uid: "c-1").get()
        #expect(first.devices.map(\.interface) == ["ens3f0"])
        let store = PreparedClaimStore(directory: dir.path + "/dra")
        #expect(try store.read(uid: "c-1") == first)
        #expect(store.devices(pod: "pod-1", network: "fast").found.map(\.device.interface) == ["ens3f0"])

        // The device leaves the mapping (given to the pod): preparing again still answers it.
        try MappingFile.write(NodeNetworkMapping(node: Self.node, generation: 2, updatedAt: "t", networks: [:]), to: dir.path + "/mapping.json")
        #expect(try await preparer.prepare(namespace: "default", name: "web-0-nic", uid: "c-1").get() == first)

        // A new process, and the API server unreachable: the record answers.
        preparer = DRAClaimPreparer(configuration: config, reader: claims, logger: logger)
        claims.fail(true)
        #expect(try await preparer.prepare(namespace: "default", name: "web-0-nic", uid: "c-1").get() == first)
        // …but a claim without a record cannot be prepared blind.
        let blind = try await #require(throws: DRAPrepareError.self) {
            try await preparer.prepare(namespace: "default", name: "other", uid: "c-2").get()
        }
        #expect(blind.message.contains("failed to read it from the API server"), "\(blind)")
        claims.fail(false)

        // A replaced claim (same name, new UID) is refused.
        let replaced = try await #require(throws: DRAPrepareError.self) {
            try await preparer.prepare(namespace: "default", name: "web-0-nic", uid: "c-old").get()
        }
        #expect(replaced.message.contains("has UID 'c-1', the kubelet asked for 'c-old'"), "\(replaced)")

        #expect(await preparer.unprepare(namespace: "default", name: "web-0-nic", uid: "c-1") == nil)
        #expect(try store.read(uid: "c-1") == nil)
        #expect(await preparer.unprepare(namespace: "default", name: "web-0-nic", uid: "c-1") == nil, "twice is fine")
        let bad = await preparer.unprepare(namespace: "default", name: "x", uid: "../etc")
        #expect(bad?.message.contains("is not a UID") == true, "\(String(describing: bad))")
    }
}
