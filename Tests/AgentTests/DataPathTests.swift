import AutomagicAPI
import Foundation
import KubeClient
import KubeCore
import LabAPIServer
import LabTesting
import Logging
import MappingFile
import Testing
import TestSupport

@testable import Agent

/// The mapping file is the data path: a removed or altered file is restored at once, and
/// readiness says so while it cannot be.
@Suite(.serialized, .enabled(if: RealCluster.isAbsent, "needs the in-process lab API server"))
struct MappingFileRestoreTests {
    @Test func removedOrAlteredMappingFileIsRestoredAndReadinessSaysSoMeanwhile() async throws {
        let netns = try TestNetns()
        defer { netns.remove() }
        try netns.veth("keep0", "keep0p")
        let lab = try await LabFixture(nodeName: "node-r")
        defer { lab.cleanup() }
        _ = try await lab.maps.create(makeMap("keep", [DeviceMatchExpression(key: "name", operator: "In", values: ["keep0"])]))
        let dir = try makeTempDir("amrestore", inMemory: true)
        defer { removeTestFiles(dir) }
        let path = "\(dir)/mapping.json"
        let fixture = try AgentFixture(lab: lab, netns: netns, mappingPath: path)
        defer { fixture.task.cancel() }
        #expect(try await eventually { try fixture.mapping()?.networks["keep"]?.device == "keep0" })
        #expect(await eventually { fixture.agent.isReady })
        #expect(try await eventually { try await lab.nodeDevices.getIfExists("node-r")?.status != nil })
        let original = try AtomicFile.read(path: path)
        // Not there yet (removed, not written again) is "not restored"; any other read failure fails the test.
        func restored() throws -> Bool {
            do {
                return try AtomicFile.read(path: path) == original
            } catch .notFound {
                return false
            }
        }

        // Removed: back, byte for byte, within a second (the resync is 300 s here).
        var start = ContinuousClock.now
        #expect(unlink(path) == 0)
        #expect(try await eventually(timeout: .seconds(5), every: .milliseconds(5)) { try restored() })
        let afterRemoval = ContinuousClock.now - start
        #expect(afterRemoval < .seconds(1), "restored after \(afterRemoval)")

        // Overwritten with garbage in place: restored as well.
        start = ContinuousClock.now
        let garbage = try #require(FileHandle(forWritingAtPath: path))
        try garbage.write(contentsOf: Data("garbage, not a mapping".utf8))
        try garbage.truncate(atOffset: 22)
        try garbage.close()
        #expect(try await eventually(timeout: .seconds(5), every: .milliseconds(5)) { try restored() })
        let afterGarbage = ContinuousClock.now - start
        #expect(afterGarbage < .seconds(1), "restored after \(afterGarbage)")
        #expect(fixture.agent.metrics.value("automagic_agent_mapping_restores_total") >= 2)

        // A directory takes the file's place: the file cannot be restored, and both /readyz and
        // the NodeDevice's Ready condition say so, naming the file, until the way is clear.
        var blocked = false
        for _ in 0..<500 where !blocked {
            _ = unlink(path)
            blocked = mkdir(path, 0o755) == 0
        }
        try #require(blocked, "could not put a directory where the mapping file was")
        #expect(await eventually { !fixture.agent.isReady })
        let check = fixture.agent.health.run(readiness: true).first { $0.name == "mapping-file" }
        #expect(try #require(check?.failure).description.contains(path))
        #expect(try await eventually {
            let ready = try await lab.nodeDevices.getIfExists("node-r")?.status?.conditions?.first { $0.type == Planning.readyCondition }
            return ready?.status == "False" && ready?.message.contains(path) == true
        })
        start = ContinuousClock.now
        #expect(rmdir(path) == 0)
        #expect(try await eventually(timeout: .seconds(5), every: .milliseconds(5)) { try restored() })
        let afterDirectory = ContinuousClock.now - start
        #expect(afterDirectory < .seconds(1), "restored after \(afterDirectory)")
        #expect(await eventually { fixture.agent.isReady })
        #expect(try await eventually {
            try await lab.nodeDevices.getIfExists("node-r")?.status?.conditions?.first { $0.type == Planning.readyCondition }?.status == "True"
        })
        await fixture.stop()
    }
}

/// A `NodeDevice` is owned by its Node as it is now, also after the Node was deleted and
/// created again (a new UID).
@Suite(.serialized, .enabled(if: RealCluster.isAbsent, "switches the lab's garbage collector off"))
struct OwnershipTests {
    @Test func ownerReferenceFollowsARecreatedNode() async throws {
        let netns = try TestNetns()
        defer { netns.remove() }
        try netns.veth("own0", "own0p")
        // No garbage collector: the NodeDevice outlives the deleted Node with a stale owner UID,
        // as on a real cluster until its collector runs (which would then delete it).
        let lab = try await LabFixture(nodeName: "node-o", garbageCollection: false)
        defer { lab.cleanup() }
        let fixture = try AgentFixture(lab: lab, netns: netns)
        defer { fixture.cleanup() }
        let firstUID = lab.nodeUID
        #expect(try await eventually {
            try await lab.nodeDevices.getIfExists("node-o")?.metadata.ownerReferences?.first?.uid == firstUID
        })

        let nodes = lab.client.resource(Node.self)
        try await nodes.delete("node-o")
        #expect(try await eventually { try await nodes.getIfExists("node-o") == nil })
        let recreated = try await nodes.create(Node(metadata: ObjectMeta(name: "node-o")))
        let secondUID = try #require(recreated.metadata.uid)
        #expect(secondUID != firstUID)

        #expect(try await eventually {
            let owners = try await lab.nodeDevices.getIfExists("node-o")?.metadata.ownerReferences ?? []
            return owners.count == 1 && owners.first?.uid == secondUID
        })
        let owner = try #require(try await lab.nodeDevices.get("node-o").metadata.ownerReferences?.first)
        #expect(owner.kind == "Node" && owner.apiVersion == "v1" && owner.name == "node-o")
        await fixture.stop()
    }

    @Test func nodeDeviceCollectedWithItsNodeIsCreatedAgainForTheNewNode() async throws {
        let netns = try TestNetns()
        defer { netns.remove() }
        try netns.veth("gc0", "gc0p")
        let lab = try await LabFixture(nodeName: "node-g")
        defer { lab.cleanup() }
        let fixture = try AgentFixture(lab: lab, netns: netns)
        defer { fixture.cleanup() }
        #expect(try await eventually { try await lab.nodeDevices.getIfExists("node-g")?.status != nil })

        let nodes = lab.client.resource(Node.self)
        try await nodes.delete("node-g")
        // The collector removes the NodeDevice with its owner; the agent waits for the Node.
        #expect(try await eventually { try await lab.nodeDevices.getIfExists("node-g") == nil })
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await lab.nodeDevices.getIfExists("node-g") == nil)
        let recreated = try await nodes.create(Node(metadata: ObjectMeta(name: "node-g")))
        let uid = try #require(recreated.metadata.uid)
        // Within a second of the Node's return, not after a retry back-off.
        #expect(try await eventually(timeout: .seconds(1)) {
            let nd = try await lab.nodeDevices.getIfExists("node-g")
            return nd?.metadata.ownerReferences?.map(\.uid) == [uid] && nd?.status?.devices?.contains { $0.name == "gc0" } == true
        })
        await fixture.stop()
    }
}

/// The agent asks the API server who it is before anything else (SelfSubjectReview).
@Suite(.serialized, .enabled(if: RealCluster.isAbsent, "needs the lab's token file with node-name extras"))
struct IdentityTests {
    static let boundToken = "bound-to-node-i"
    static let plainToken = "not-bound"
    static let tokens: [String: LabUser] = [
        boundToken: LabUser(name: "system:serviceaccount:automagic:automagic-agent", groups: ["system:serviceaccounts"],
                            uid: "5e1f", extra: [IdentityCheck.nodeNameExtra: ["node-i"]]),
        plainToken: LabUser(name: "system:serviceaccount:automagic:automagic-agent", groups: ["system:serviceaccounts"]),
    ]

    func client(_ lab: LabFixture, token: String) throws -> KubernetesClient {
        let path = "\(lab.certDir)/\(token).kubeconfig"
        try lab.server.writeKubeconfig(to: path, token: token)
        return try KubernetesClient(configuration: try KubeConfigLoader.load(explicitPath: path))
    }

    @Test func reviewDecidesByTheNodeNameExtra() async throws {
        let lab = try await LabFixture(nodeName: "node-i", tokens: Self.tokens)
        defer { lab.cleanup() }
        let bound = try client(lab, token: Self.boundToken)
        #expect(try await IdentityCheck.check(client: bound, nodeName: "node-i")
                == .confirmed(user: "system:serviceaccount:automagic:automagic-agent"))
        await #expect {
            _ = try await IdentityCheck.check(client: bound, nodeName: "node-other")
        } throws: { error in
            guard case .identity(let node, let message)? = error as? AgentError else { return false }
            return node == "node-other" && message.contains("bound to node 'node-i'") && message.contains("--node-name")
        }
        // No extra (a token not bound to a pod, or the admin's client certificate): nothing to compare.
        let plain = try client(lab, token: Self.plainToken)
        #expect(try await IdentityCheck.check(client: plain, nodeName: "node-other")
                == .noNodeName(user: "system:serviceaccount:automagic:automagic-agent"))
        #expect(try await IdentityCheck.check(client: lab.client, nodeName: "node-other") == .noNodeName(user: "kubernetes-admin"))
    }

    @Test func tokenFileExtrasReachKubectlAuthWhoami() async throws {
        let dir = try makeTempDir("amtok", inMemory: true)
        defer { removeTestFiles(dir) }
        let file = "\(dir)/tokens.csv"
        try """
        # token,user,uid,"groups",extras…
        t0k3n,system:serviceaccount:automagic-system:automagic-agent,5e1f,"system:serviceaccounts,system:serviceaccounts:automagic-system",authentication.kubernetes.io/node-name=worker-1,example.com/team=a,example.com/team=b
        plain,alice
        """.write(toFile: file, atomically: true, encoding: .utf8)
        let tokens = try LabServer.loadTokenFile(file)
        let bound = try #require(tokens["t0k3n"])
        #expect(bound.uid == "5e1f")
        #expect(bound.groups == ["system:serviceaccounts", "system:serviceaccounts:automagic-system"])
        #expect(bound.extra == [IdentityCheck.nodeNameExtra: ["worker-1"], "example.com/team": ["a", "b"]])
        #expect(tokens["plain"]?.extra == nil && tokens["plain"]?.uid == nil)

        let lab = try await LabFixture(nodeName: "worker-1", tokens: tokens)
        defer { lab.cleanup() }
        let kubeconfig = "\(dir)/bound.kubeconfig"
        try lab.server.writeKubeconfig(to: kubeconfig, token: "t0k3n")
        let whoami = try sh(["kubectl", "auth", "whoami", "--kubeconfig", kubeconfig, "-o", "json"])
        let review = try #require(try JSONSerialization.jsonObject(with: Data(whoami.utf8)) as? [String: Any])
        let info = try #require((review["status"] as? [String: Any])?["userInfo"] as? [String: Any])
        #expect(info["username"] as? String == "system:serviceaccount:automagic-system:automagic-agent")
        #expect(info["uid"] as? String == "5e1f")
        #expect((info["extra"] as? [String: [String]])?[IdentityCheck.nodeNameExtra] == ["worker-1"])
        #expect((info["groups"] as? [String])?.contains("system:authenticated") == true)

        // A field after the groups that is not key=value is refused, naming line and field.
        try "ok,bob\nt,u,,\"g\",no-equals-sign\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect {
            _ = try LabServer.loadTokenFile(file)
        } throws: { error in
            "\(error)".contains("line 2, field 5") && "\(error)".contains("no-equals-sign")
        }
    }

    @Test func serverWithoutSelfSubjectReviewIsAWarningAndTheAgentGoesOn() async throws {
        let netns = try TestNetns()
        defer { netns.remove() }
        try netns.veth("old0", "old0p")
        let lab = try await LabFixture(nodeName: "node-i", servesSelfSubjectReview: false)
        defer { lab.cleanup() }
        guard case .unavailable(let reason) = try await IdentityCheck.check(client: lab.client, nodeName: "node-i") else {
            Issue.record("a 404 must be reported as unavailable")
            return
        }
        #expect(reason.contains("404"))
        _ = try await lab.maps.create(makeMap("old", [DeviceMatchExpression(key: "name", operator: "In", values: ["old0"])]))
        let fixture = try AgentFixture(lab: lab, netns: netns)
        defer { fixture.cleanup() }
        #expect(try await eventually { try fixture.mapping()?.networks["old"]?.device == "old0" })
        await fixture.stop()
    }

    @Test func theBinaryRefusesToStartForAnotherNode() async throws {
        let netns = try TestNetns()
        defer { netns.remove() }
        try netns.veth("id0", "id0p")
        let lab = try await LabFixture(nodeName: "node-i", tokens: Self.tokens)
        defer { lab.cleanup() }
        _ = try await lab.client.resource(Node.self).create(Node(metadata: ObjectMeta(name: "node-other")))
        let dir = try makeTempDir("amid", inMemory: true)
        defer { removeTestFiles(dir) }
        let kubeconfig = "\(dir)/bound.kubeconfig"
        try lab.server.writeKubeconfig(to: kubeconfig, token: Self.boundToken)
        let mapping = "\(dir)/mapping.json"
        let agent = try BinaryTests.start([
            "--kubeconfig", kubeconfig, "--netns", netns.path, "--mapping-file", mapping,
            "--health-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--no-lldp",
        ], dir: dir, environment: ["NODE_NAME": "node-other"])
        defer { if agent.isRunning { agent.terminate() } }
        #expect(await BinaryTests.wait(agent, timeout: .seconds(20)))
        #expect(agent.terminationStatus == 1)
        let stderr = try String(contentsOfFile: "\(dir)/stderr", encoding: .utf8)
        #expect(stderr.contains("failed to confirm identity for node 'node-other'"), "\(stderr)")
        #expect(stderr.contains("bound to node 'node-i'"), "\(stderr)")
        // It wrote nothing: no mapping file, no NodeDevice for either node.
        #expect(!FileManager.default.fileExists(atPath: mapping))
        #expect(try await lab.nodeDevices.getIfExists("node-other") == nil)
        #expect(try await lab.nodeDevices.getIfExists("node-i") == nil)

        // The same binary with the matching node name runs.
        let good = try BinaryTests.start([
            "--kubeconfig", kubeconfig, "--netns", netns.path, "--mapping-file", mapping,
            "--health-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--no-lldp",
        ], dir: dir, environment: ["NODE_NAME": "node-i"])
        defer { if good.isRunning { good.terminate() } }
        #expect(try await eventually(timeout: .seconds(20)) { try await lab.nodeDevices.getIfExists("node-i")?.status != nil })
        #expect(good.isRunning)
        good.terminate()
        #expect(await BinaryTests.wait(good, timeout: .seconds(10)))
        #expect(try String(contentsOfFile: "\(dir)/stderr", encoding: .utf8).contains("identity confirmed"))
    }
}
