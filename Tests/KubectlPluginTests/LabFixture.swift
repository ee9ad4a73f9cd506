import AutomagicAPI
import Foundation
import JSON
import KubeClient
import KubeCore
@testable import KubectlPlugin
import LabAPIServer
import LabTesting
import Resolver
import Synchronization
import Testing
import TestSupport

/// One lab API server for the whole suite (the tests only read from it), with the Automagic CRDs,
/// four Nodes, three NodeDevices (worker-4's agent is "not running") and four maps.
actor LabFixture {
    static let shared = LabFixture()

    struct Lab: Sendable {
        let lab: TestLab
        var kubeconfig: String { lab.kubeconfigPath }
        /// A user who may read NodeDevices and maps but not Nodes.
        let viewerKubeconfig: String
        var client: KubernetesClient { lab.client }
    }

    private var lab: Task<Lab, any Error>?

    /// The lab, started on first use (one server however many tests ask concurrently).
    func get() async throws -> Lab {
        if let lab { return try await lab.value }
        let task = Task { try await Self.make() }
        lab = task
        return try await task.value
    }

    static func make() async throws -> Lab {
        // "viewer" may read Automagic objects but not Nodes (the plugin must cope).
        let lab = try TestLab { options in
            options.rules = [AuthorizationRule(users: ["viewer"], verbs: ["get", "list"], apiGroups: ["automagic.dev"],
                                               resources: ["nodedevices", "networkdevicemaps"])]
        }
        let viewerKubeconfig = lab.directory + "/viewer.kubeconfig"
        try lab.server.writeKubeconfig(to: viewerKubeconfig, user: "viewer", groups: [])
        // The suite shares one server for the life of the test process: remove its files at exit.
        labDirectory.withLock { $0 = lab.directory }
        atexit {
            guard let dir = labDirectory.withLock({ $0 }) else { return }
            do { try FileManager.default.removeItem(atPath: dir) } catch { FileHandle.standardError.write(Data("failed to remove the lab directory '\(dir)': \(error)\n".utf8)) }
        }
        let client = lab.client
        // The repository's CRDs (crds/), so the fixture's objects also pass the real schemas.
        try await client.installRepositoryCRDs()
        for (name, labels) in Scenario.nodes {
            _ = try await client.resource(Node.self).create(Node(metadata: ObjectMeta(name: name, labels: labels)))
        }
        // Created in name order: whether creation timestamps tie (same second) or not, conflict
        // priority (older first, then by name) is the same: fast, mgmt, provider-vlan-100, storage.
        let maps = client.resource(NetworkDeviceMap.self)
        for map in Scenario.maps.sorted(by: { $0.network < $1.network }) { _ = try await maps.create(map) }
        // The agents resolve with the live maps (their creation timestamps set conflict priority).
        let live = try await maps.list().items
        let nodeDevices = client.resource(NodeDevice.self)
        for nd in Scenario.nodeDevices(maps: live) {
            let created = try await nodeDevices.create(NodeDevice(name: nd.metadata.name ?? ""))
            var withStatus = created
            withStatus.status = nd.status
            _ = try await nodeDevices.updateStatus(withStatus)
        }
        return Lab(lab: lab, viewerKubeconfig: viewerKubeconfig)
    }
}

/// The shared lab's certificate directory, removed at exit.
let labDirectory = Mutex<String?>(nil)

/// The story: three server generations whose NICs carry the same networks under different names.
enum Scenario {
    static let nodes: [(String, [String: String])] = [
        ("worker-1", ["kubernetes.io/hostname": "worker-1", "rack": "r1"]),
        ("worker-2", ["kubernetes.io/hostname": "worker-2", "rack": "r1"]),
        ("worker-3", ["kubernetes.io/hostname": "worker-3", "rack": "r2"]),
        ("worker-4", ["kubernetes.io/hostname": "worker-4", "rack": "r2"]),
    ]

    static func lldp(_ system: String, _ port: String, vlans: [Int], names: [String]? = nil) -> LLDPNeighbor {
        LLDPNeighbor(chassisID: "02:00:00:00:00:0\(system.hasSuffix("a") ? 1 : 2)", portID: port, systemName: system,
                     portDescription: "to \(port)", managementAddress: "10.0.0.1", vlanIDs: vlans, vlanNames: names,
                     lastHeard: "2026-11-28T22:00:00Z")
    }

    static let devices: [String: [NetworkDevice]] = [
        "worker-1": [
            NetworkDevice(name: "eno1", kind: .physical, mac: "3c:fd:fe:00:01:01", mtu: 1500, operState: "up", carrier: true, speedMbps: 1000,
                          driver: "igb", pciAddress: "0000:01:00.0", addresses: ["192.0.2.11/24"], hasDefaultRoute: true),
            NetworkDevice(name: "ens5f0", kind: .physical, mac: "3c:fd:fe:aa:bb:00", mtu: 1500, operState: "up", carrier: true, speedMbps: 25000,
                          driver: "ice", pciAddress: "0000:5e:00.0", lldp: lldp("tor-r1-a", "Ethernet1/5", vlans: [100], names: ["provider"])),
            NetworkDevice(name: "ens5f1", kind: .physical, mac: "3c:fd:fe:aa:bb:01", mtu: 9000, operState: "up", carrier: true, speedMbps: 25000,
                          driver: "ice", pciAddress: "0000:5e:00.1", addresses: ["198.51.100.11/24"], lldp: lldp("tor-r1-a", "Ethernet1/6", vlans: [300])),
        ],
        "worker-2": [
            NetworkDevice(name: "eno1", kind: .physical, mac: "3c:fd:fe:00:02:01", mtu: 1500, operState: "up", speedMbps: 1000,
                          driver: "igb", addresses: ["192.0.2.12/24"]),
            NetworkDevice(name: "eno2", kind: .physical, mac: "3c:fd:fe:00:02:02", mtu: 9000, operState: "up", speedMbps: 10000,
                          driver: "i40e", pciAddress: "0000:3b:00.1", addresses: ["198.51.100.12/24"]),
            NetworkDevice(name: "eno3", kind: .physical, mac: "3c:fd:fe:00:02:03", mtu: 1500, operState: "up", speedMbps: 10000,
                          driver: "i40e", pciAddress: "0000:3b:00.2", lldp: lldp("tor-r1-b", "Ethernet1/7", vlans: [100])),
        ],
        "worker-3": [
            NetworkDevice(name: "enp1s0f0", kind: .physical, mac: "3c:fd:fe:00:03:01", mtu: 1500, operState: "up", speedMbps: 10000,
                          driver: "mlx5_core", addresses: ["192.0.2.13/24"]),
            NetworkDevice(name: "enp1s0f1", kind: .physical, mac: "3c:fd:fe:00:03:02", mtu: 1500, operState: "up", speedMbps: 10000,
                          driver: "mlx5_core", addresses: ["198.51.100.13/24"]),
            NetworkDevice(name: "eno3", kind: .physical, mac: "3c:fd:fe:00:03:03", mtu: 1500, operState: "down", driver: "igb",
                          lldp: lldp("tor-r2-a", "Ethernet1/9", vlans: [200])),
        ],
    ]

    static func expr(_ key: String, _ op: MatchOperator, _ values: [String]? = nil) -> DeviceMatchExpression {
        DeviceMatchExpression(key: key, operator: op, values: values)
    }

    static let maps: [NetworkDeviceMap] = [
        NetworkDeviceMap(name: "storage", spec: NetworkDeviceMapSpec(rules: [
            DeviceRule(name: "storage-subnet-jumbo", expressions: [
                expr("addresses", .inCIDR, ["198.51.100.0/24"]), expr("mtu", .gt, ["8999"]),
            ]),
        ], attachment: AttachmentSpec(type: .macvlan, mode: "bridge"))),
        NetworkDeviceMap(name: "provider-vlan-100", spec: NetworkDeviceMapSpec(rules: [
            DeviceRule(name: "switch-port-in-vlan-100", expressions: [
                expr("lldp.systemName", .matches, ["^tor-r1-"]), expr("lldp.vlanIDs", .in, ["100"]),
            ]),
        ], attachment: AttachmentSpec(type: .macvlan, mode: "bridge"))),
        NetworkDeviceMap(name: "mgmt", spec: NetworkDeviceMapSpec(rules: [
            DeviceRule(name: "mgmt-subnet", expressions: [expr("addresses", .inCIDR, ["192.0.2.0/24"])]),
        ])),
        // Exclusive, for rack r1 only: takes an ice port away from the others.
        NetworkDeviceMap(name: "fast", spec: NetworkDeviceMapSpec(
            nodeSelector: LabelSelector(matchLabels: ["rack": "r1"]),
            rules: [DeviceRule(name: "ice", expressions: [expr("driver", .in, ["ice"])])],
            exclusive: true, attachment: AttachmentSpec(type: .hostDevice))),
    ]

    /// NodeDevices as the agents write them: devices plus this node's resolution from the shared resolver.
    static func nodeDevices(maps: [NetworkDeviceMap]) -> [NodeDevice] {
        var out: [NodeDevice] = []
        for (name, labels) in nodes {
            guard let devices = devices[name] else { continue }
            let r = Resolver.resolve(node: NodeInfo(name: name, labels: labels), devices: devices, maps: maps, detail: .summary)
            out.append(NodeDevice(name: name, status: NodeDeviceStatus(
                devices: devices, networks: r.networkStatuses, probedAt: "2026-11-28T22:00:00Z", agentVersion: "0.1.0")))
        }
        return out
    }
}

/// Runs the CLI in-process against the lab.
func runPlugin(_ arguments: [String], kubeconfig: Bool = true, isTerminal: Bool = false, environment: [String: String] = [:],
               stdin: [UInt8] = []) async throws -> (code: Int32, stdout: String, stderr: String) {
    let lab = try await LabFixture.shared.get()
    var env = environment
    if env["HOME"] == nil { env["HOME"] = "/nonexistent-home" }
    let console = CapturedConsole(isTerminal: isTerminal, environment: env, stdin: stdin)
    let args = kubeconfig ? arguments + ["--kubeconfig", lab.kubeconfig] : arguments
    let code = await KubectlAutomagic.run(args, console: console.console)
    return (code, console.stdout, console.stderr)
}

/// A temporary file removed by the caller.
func temporaryFile(_ text: String, suffix: String = ".yaml") throws -> String {
    let path = NSTemporaryDirectory() + "kubectl-automagic-test-\(UInt32.random(in: 0...UInt32.max))\(suffix)"
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    return path
}
