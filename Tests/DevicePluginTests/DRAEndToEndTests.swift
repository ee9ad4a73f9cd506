import Foundation
import JSON
import KubeClient
import KubeCore
import LabTesting
import MappingFile
import Testing
import TestSupport

/// Issue 17 on one node: the fake kubelet (Python, grpcio) registers the real
/// `automagic-device-plugin` through its registration socket and prepares a ResourceClaim that the
/// test allocated in the lab API server the way the scheduler does; then the real `automagic` CNI
/// plugin, called for that pod with the real host-device, attaches exactly the prepared device.
/// Root (network namespaces); the lab API server serves `resource.k8s.io/v1` in-process.
@Suite(.serialized, .enabled(if: RealCluster.isAbsent,
                             "the test writes claim allocations by hand, as only the lab (which has no scheduler) allows"))
struct DRAEndToEndTests {
    static let node = "worker-1"
    static let claims = ResourceType(group: "resource.k8s.io", version: "v1", resource: "resourceclaims", kind: "ResourceClaim", namespaced: true)


    /// The DRA flags of the plugin in the harness's folder.
    static func draArguments(_ h: Harness, lab: TestLab) -> [String] {
        ["--node-name", node, "--kubeconfig", lab.kubeconfigPath,
         "--dra-registration-socket", h.dir.path + "/registry/automagic.dev-reg.sock",
         "--dra-endpoint", h.dir.path + "/plugins/automagic.dev/dra.sock", "--dra-state-dir", h.dir.path + "/dra",
         "--poll-interval-ms", "100"]
    }

    /// `automagic` run in the harness's namespace as a runtime runs it for pod `podUID`.
    static func cni(_ command: String, h: Harness, podNetns: String, podUID: String, container: String = "ctr1") throws -> ProcessOutput {
        let conf: JSONValue = [
            "cniVersion": "1.0.0", "name": "fast", "type": "automagic", "network": "fast",
            "mappingFile": .string(h.mappingPath), "cacheDir": .string(h.dir.path + "/cache"), "draStateDir": .string(h.dir.path + "/dra"),
        ]
        let binary = try builtProduct("automagic")
        return try run("/usr/sbin/ip", ["netns", "exec", h.netns.name, binary], environment: [
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command, "CNI_CONTAINERID": container, "CNI_IFNAME": "net1",
            "CNI_NETNS": "/var/run/netns/" + podNetns, "CNI_PATH": "/usr/lib/cni",
            "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_UID=" + podUID,
        ], stdin: conf.serialized(), timeout: 30)
    }

    @Test func registersPreparesAndTheCNIPluginAttachesThePreparedDeviceAcrossARestart() async throws {
        let h = try Harness()
        defer { h.stop() }
        let lab = try TestLab()
        defer { lab.stop() }
        let pod = try TestNetns("drapod")
        defer { pod.remove() }
        // Two candidates of dra network "fast"; host-device needs them down-peered veths.
        let (a, b) = (try h.link("dra"), try h.link("drb"))
        try h.writeMapping([
            "fast": NetworkMapping(device: "dra", map: "fast", attachment: Attachment(type: "host-device"), exclusive: true,
                                   candidates: [a.candidate(), b.candidate()], dra: true),
        ])
        let deviceB = "mac-" + b.mac.filter { $0 != ":" }
        let uid = try await lab.allocate("web-0-nic", network: "fast", device: deviceB, pod: "pod-uid-1")
        let foreign = try await lab.allocate("gpu", network: "fast", device: "gpu-0", driver: "gpu.example.com", pod: "pod-uid-1")

        try h.startPlugin(Self.draArguments(h, lab: lab))
        let registry = h.dir.path + "/registry/automagic.dev-reg.sock"
        #expect(await eventually(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: registry) }, "\(h.pluginLog())")

        // The kubelet's plugin watcher: GetInfo, its checks, NotifyRegistrationStatus.
        let registration = try h.call(registry, [], verb: "dra register")
        let info = try #require(registration["info"] as? [String: Any], "\(registration)")
        #expect(info["type"] as? String == "DRAPlugin")
        #expect(info["name"] as? String == "automagic.dev")
        #expect(info["endpoint"] as? String == h.dir.path + "/plugins/automagic.dev/dra.sock")
        #expect(info["supportedVersions"] as? [String] == ["v1.DRAPlugin"])
        #expect(registration["registered"] as? Bool == true, "\(registration)")
        #expect(await eventually { h.pluginLog().contains("the kubelet registered DRA driver automagic.dev") })
        // A dra network is not a device-plugin resource.
        #expect(!FileManager.default.fileExists(atPath: h.pluginDir + "/automagic-fast.sock"))

        // The kubelet's DRA manager prepares both claims.
        let endpoint = h.dir.path + "/plugins/automagic.dev/dra.sock"
        let prepared = try h.call(endpoint, ["default/web-0-nic/\(uid)", "default/gpu/\(foreign)", "default/gone/uid-x"], verb: "dra prepare")
        let claims = try #require(prepared["claims"] as? [String: [String: Any]], "\(prepared)")
        let mine = try #require(claims[uid])
        #expect(mine["error"] as? String == "")
        let devices = try #require(mine["devices"] as? [[String: Any]])
        #expect(devices.count == 1)
        #expect(devices.first?["device"] as? String == deviceB)
        #expect(devices.first?["pool"] as? String == Self.node)
        #expect(devices.first?["requests"] as? [String] == ["nic"])
        #expect(devices.first?["cdi"] as? [String] == [])
        #expect((claims[foreign]?["devices"] as? [Any])?.isEmpty == true, "another driver's device is not ours to prepare")
        #expect((claims["uid-x"]?["error"] as? String)?.contains("ResourceClaim 'default/gone' does not exist") == true, "\(claims)")
        let record = try #require(try PreparedClaimStore(directory: h.dir.path + "/dra").read(uid: uid))
        #expect(record.podUIDs == ["pod-uid-1"] && record.devices.map(\.interface) == ["drb"])

        // The plugin restarts between prepare and the pod's ADD.
        h.stopPlugin()
        try h.startPlugin(Self.draArguments(h, lab: lab))
        #expect(await eventually(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: endpoint) })

        let add = try Self.cni("ADD", h: h, podNetns: pod.name, podUID: "pod-uid-1")
        #expect(add.status == 0, "\(add)")
        #expect(try pod.ip("-o", "link", "show", "net1").contains(b.mac), "the prepared device is in the pod")
        let host = try h.netns.linkNames()
        #expect(host.contains("dra") && !host.contains("drb"), "and no other: \(host)")
        // Another pod of the network, with nothing prepared: code 7, nothing moved.
        let other = try Self.cni("ADD", h: h, podNetns: pod.name, podUID: "pod-uid-2", container: "ctr2")
        let refused = try JSONValue.parse(Array(other.stdout.utf8))
        #expect(other.status != 0 && refused["code"]?.intValue == 7, "\(other)")
        #expect(refused["msg"]?.stringValue?.contains("no device is prepared for pod 'pod-uid-2' on network 'fast'") == true, "\(other)")
        #expect(try h.netns.linkNames().contains("dra"))

        // Prepared again after the restart (idempotent): the same device, though it left the node's namespace.
        let again = try h.call(endpoint, ["default/web-0-nic/\(uid)"], verb: "dra prepare")
        let againDevices = (again["claims"] as? [String: [String: Any]])?[uid]?["devices"] as? [[String: Any]]
        #expect(againDevices?.map { $0["device"] as? String } == [deviceB], "\(again)")
        // One claim: a GET over HTTPS and a record read (plus an fsync'd write the first time).
        let seconds = [prepared["seconds"] as? Double ?? 99, again["seconds"] as? Double ?? 99]
        #expect(seconds.allSatisfy { $0 < 1 }, "NodePrepareResources took \(seconds) s")

        // DEL, then unprepare: the record is gone; unprepare twice is fine.
        #expect(try Self.cni("DEL", h: h, podNetns: pod.name, podUID: "pod-uid-1").status == 0)
        #expect(try h.netns.linkNames().contains("drb"))
        for _ in 0..<2 {
            let un = try h.call(endpoint, ["default/web-0-nic/\(uid)"], verb: "dra unprepare")
            #expect((un["claims"] as? [String: [String: Any]])?[uid]?["error"] as? String == "", "\(un)")
        }
        #expect(try PreparedClaimStore(directory: h.dir.path + "/dra").read(uid: uid) == nil)
    }
}

extension TestLab {
    /// Creates claim `name` for request `nic` of DeviceClass `<network>.automagic.dev`, then writes
    /// its status as the scheduler does: the allocation and the pod it is reserved for.
    func allocate(_ name: String, network: String, device: String, driver: String = "automagic.dev",
                  pod: String) async throws -> String {
        let claims = client.dynamic(DRAEndToEndTests.claims, namespace: "default")
        var claim = try await claims.create(DynamicObject([
            "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
            "metadata": ["name": .string(name), "namespace": "default"],
            "spec": ["devices": ["requests": [["name": "nic", "exactly": ["deviceClassName": .string(network + ".automagic.dev")]]]]],
        ]))
        claim.json["status"] = [
            "allocation": [
                "devices": ["results": [["request": "nic", "driver": .string(driver), "pool": .string(DRAEndToEndTests.node),
                                         "device": .string(device)]]],
                "nodeSelector": ["nodeSelectorTerms": [["matchFields": [["key": "metadata.name", "operator": "In",
                                                                           "values": [.string(DRAEndToEndTests.node)]]]]]],
            ],
            "reservedFor": [["resource": "pods", "name": .string(name + "-pod"), "uid": .string(pod)]],
        ]
        let written = try await claims.updateStatus(claim)
        return try #require(written.metadata.uid)
    }
}
