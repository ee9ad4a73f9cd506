import AutomagicAPI
import Foundation
import JSON
import LabAPIServer
@testable import KubectlPlugin
import Testing
import Yams
import LabTesting
import TestSupport

/// The plugin against the lab API server over HTTPS (see LabFixture for the scenario).
@Suite("kubectl automagic against the lab API server")
struct IntegrationTests {
    @Test func statusTableIsPlainWhenNotATerminal() async throws {
        let r = try await runPlugin(["status"])
        #expect(r.code == 0, "\(r.stderr)")
        #expect(r.stderr.isEmpty)
        #expect(!r.stdout.contains("\u{1B}["), "no colour when stdout is not a terminal")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let header = try #require(lines.first)
        #expect(header.split(separator: " ").map(String.init) == ["NETWORK", "worker-1", "worker-2", "worker-3", "worker-4?"])
        func row(_ network: String) -> [String] {
            lines.first { $0.hasPrefix(network + " ") }.map { $0.split(separator: " ").map(String.init) } ?? []
        }
        #expect(row("storage") == ["storage", "ens5f1", "eno2", "none", "?"])
        #expect(row("mgmt") == ["mgmt", "eno1", "eno1", "enp1s0f0", "?"])
        // fast (exclusive, rack r1) takes ens5f0 on worker-1: provider-vlan-100 is left without a device there.
        #expect(row("fast") == ["fast", "ens5f0!", "none", "-", "-"])
        #expect(row("provider-vlan-100") == ["provider-vlan-100", "none!", "eno3", "none", "?"])
        #expect(r.stdout.contains("node worker-4 has no NodeDevice (is the agent running there?)"))
        #expect(r.stdout.contains("storage on worker-3: unresolved: no device matched any rule"))
        #expect(r.stdout.contains("conflict: device ens5f0 is held by exclusive network fast"))
        // Footer: the maps have no status (no controller in this test).
        #expect(r.stdout.contains("NETWORK             READY   DEGRADED   CONFLICT   NODES   MESSAGE"))
        #expect(r.stdout.contains("no status yet (is the controller running?)"))
    }

    @Test func statusIsColouredOnATerminalUnlessNoColor() async throws {
        let coloured = try await runPlugin(["status"], isTerminal: true)
        #expect(coloured.code == 0)
        #expect(coloured.stdout.contains("\u{1B}[32mens5f1\u{1B}[0m"), "resolved cells are green")
        #expect(coloured.stdout.contains("\u{1B}[31m✗\u{1B}[0m"), "unresolved cells are a red ✗")
        #expect(coloured.stdout.contains("\u{1B}[33mens5f0!\u{1B}[0m"), "conflicts are yellow")
        let noColorEnv = try await runPlugin(["status"], isTerminal: true, environment: ["NO_COLOR": "1"])
        #expect(!noColorEnv.stdout.contains("\u{1B}["))
        let noColorFlag = try await runPlugin(["status", "--no-color"], isTerminal: true)
        #expect(!noColorFlag.stdout.contains("\u{1B}["))
        #expect(noColorFlag.stdout.contains(" none"))
    }

    @Test func statusTransposesOnRequest() async throws {
        let r = try await runPlugin(["status", "--rows", "nodes"])
        #expect(r.code == 0)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.split(separator: " ").map(String.init) == ["NODE", "fast", "mgmt", "provider-vlan-100", "storage"])
        #expect(lines.contains { $0.split(separator: " ").map(String.init) == ["worker-2", "none", "eno1", "eno3", "eno2"] })
    }

    @Test func statusOfSomeNetworks() async throws {
        let r = try await runPlugin(["status", "storage", "mgmt"])
        #expect(r.code == 0, "\(r.stderr)")
        let rows = r.stdout.split(separator: "\n").prefix(3).map { $0.split(separator: " ").first.map(String.init) ?? "" }
        #expect(rows == ["NETWORK", "mgmt", "storage"])
        let bad = try await runPlugin(["status", "storage", "nope"])
        #expect(bad.code == 1)
        #expect(bad.stderr.hasPrefix("error: networkdevicemap 'nope' not found; available: "))
    }

    @Test func statusJSONAndYAMLParseBack() async throws {
        let json = try await runPlugin(["status", "-o", "json"])
        #expect(json.code == 0, "\(json.stderr)")
        let report = try JSONDecoder().decode(StatusReport.self, from: Data(json.stdout.utf8))
        #expect(report.nodes.map(\.name) == ["worker-1", "worker-2", "worker-3", "worker-4"])
        #expect(report.nodes.map(\.hasNodeDevice) == [true, true, true, false])
        let storage = try #require(report.networks.first { $0.name == "storage" })
        #expect(storage.cells.map(\.state) == [.resolved, .resolved, .unresolved, .noNodeDevice])
        #expect(storage.cells.map(\.device) == ["ens5f1", "eno2", nil, nil])
        #expect(storage.cells[0].rule == "storage-subnet-jumbo")
        let fast = try #require(report.networks.first { $0.name == "fast" })
        #expect(fast.exclusive)
        #expect(fast.cells[0].conflicts?.isEmpty == false)

        let yaml = try await runPlugin(["status", "-o", "yaml"])
        #expect(yaml.code == 0)
        let fromYAML = try MapFile.json(try #require(try Yams.compose(yaml: yaml.stdout)), path: "$")
        let fromJSON = try JSONValue.parse(json.stdout)
        #expect(fromYAML == fromJSON, "YAML and JSON carry the same data")
        if fromYAML != fromJSON { print(yaml.stdout) }
    }

    @Test func explainNamesEachFailingExpression() async throws {
        let r = try await runPlugin(["explain", "storage", "--node", "worker-3"])
        #expect(r.code == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Node worker-3: unresolved"))
        #expect(r.stdout.contains("rules[0] (storage-subnet-jumbo): addresses InCIDR [198.51.100.0/24], mtu Gt 8999"))
        #expect(r.stdout.contains("mtu Gt 8999: device enp1s0f1 has 1500"))
        #expect(r.stdout.contains("addresses InCIDR [198.51.100.0/24]: device enp1s0f0 has [192.0.2.13/24]"))
        #expect(r.stdout.contains("addresses InCIDR [198.51.100.0/24]: device eno3 has no addresses"))
        #expect(r.stdout.contains("agent reports no device (agrees)"))
        #expect(!r.stdout.contains("Node worker-1"), "--node limits the explanation to one node")
    }

    @Test func explainShowsChosenDeviceNeighbourAndVLAN() async throws {
        let r = try await runPlugin(["explain", "provider-vlan-100"])
        #expect(r.code == 0, "\(r.stderr)")
        // worker-2: eno3 on tor-r1-b, VLAN 100.
        #expect(r.stdout.contains("Node worker-2: eno3 (rule switch-port-in-vlan-100)"))
        #expect(r.stdout.contains("neighbour: tor-r1-b port Ethernet1/7 (chassis 02:00:00:00:00:02, \"to Ethernet1/7\", mgmt 10.0.0.1, heard 2026-11-28T22:00:00Z)"))
        #expect(r.stdout.contains("VLANs: 100\n"))
        // worker-1: the matching port is held by the exclusive network fast.
        #expect(r.stdout.contains("✓ ens5f0  (held by fast)"))
        #expect(r.stdout.contains("conflict: device ens5f0 is held by exclusive network fast"))
        #expect(r.stdout.contains("lldp.vlanIDs In [100]: device ens5f1 has [300]"))
        // worker-3: the switch is in rack r2.
        #expect(r.stdout.contains("lldp.systemName Matches [^tor-r1-]: device eno3 has tor-r2-a"))
        #expect(r.stdout.contains("Node worker-4: no NodeDevice"))

        let storage = try await runPlugin(["explain", "storage", "--node", "worker-1"])
        #expect(storage.stdout.contains("neighbour: tor-r1-a port Ethernet1/6"))
        #expect(storage.stdout.contains("VLANs: 300\n"))
        let named = try await runPlugin(["explain", "fast", "--node", "worker-1"])
        #expect(named.stdout.contains("VLANs: 100 (provider)"))
        // An exclusive network lists what its device plugin offers; a shared one does not.
        #expect(named.stdout.contains("  candidates: ens5f0 (exclusive: the device plugin gives each pod one of them)\n"), "\(named.stdout)")
        #expect(!storage.stdout.contains("candidates:"))
        let json = try await runPlugin(["explain", "fast", "--node", "worker-1", "-o", "json"])
        let report = try JSONDecoder().decode(ExplainReport.self, from: Data(json.stdout.utf8))
        #expect(report.nodes.first?.candidates == ["ens5f0"])
        let status = try await runPlugin(["status", "fast", "-o", "json"])
        #expect(status.stdout.contains(#""candidates""#), "\(status.stdout)")
    }

    @Test func explainJSONCarriesRulesAndNeighbour() async throws {
        let r = try await runPlugin(["explain", "storage", "-o", "json"])
        #expect(r.code == 0)
        let report = try JSONDecoder().decode(ExplainReport.self, from: Data(r.stdout.utf8))
        #expect(report.network == "storage")
        let w1 = try #require(report.nodes.first { $0.node == "worker-1" })
        #expect(w1.device == "ens5f1")
        #expect(w1.neighbour?.vlanIDs == [300])
        #expect(w1.rules.first?.matched == ["ens5f1"])
        #expect(w1.rules.first?.rejected.map(\.device) == ["eno1", "ens5f0"])
        #expect(w1.agentAgrees == true)
        let w3 = try #require(report.nodes.first { $0.node == "worker-3" })
        #expect(w3.outcome == "Unresolved")
        #expect(w3.rules.first?.rejected.first { $0.device == "enp1s0f1" }?.reasons == ["mtu Gt 8999: device enp1s0f1 has 1500"])
    }

    @Test(arguments: [["explain", "provider-vlan-100"], ["explain", "storage", "--node", "worker-1"], ["devices", "worker-1"], ["status", "fast"]])
    func yamlAndJSONAgree(_ command: [String]) async throws {
        let json = try await runPlugin(command + ["-o", "json"])
        let yaml = try await runPlugin(command + ["-o", "yaml"])
        #expect(json.code == 0 && yaml.code == 0, "\(json.stderr)\(yaml.stderr)")
        #expect(!yaml.stdout.hasPrefix("{"))
        let fromYAML = try MapFile.json(try #require(try Yams.compose(yaml: yaml.stdout)), path: "$")
        #expect(fromYAML == (try JSONValue.parse(json.stdout)))
    }

    @Test func previewYAMLAgreesWithJSON() async throws {
        let path = try temporaryFile(Self.jumboMap)
        defer { removeTestFiles(path) }
        let json = try await runPlugin(["preview", "-f", path, "-o", "json"])
        let yaml = try await runPlugin(["preview", "-f", path, "-o", "yaml"])
        #expect(json.code == 0 && yaml.code == 0)
        let fromYAML = try MapFile.json(try #require(try Yams.compose(yaml: yaml.stdout)), path: "$")
        #expect(fromYAML == (try JSONValue.parse(json.stdout)))
    }

    @Test func explainMissingNetworkListsTheAvailableOnes() async throws {
        let r = try await runPlugin(["explain", "nope"])
        #expect(r.code == 1)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr == "error: networkdevicemap 'nope' not found; available: fast, mgmt, provider-vlan-100, storage\n")
    }

    @Test func explainMissingNodeSaysTheAgentMayNotRun() async throws {
        let noAgent = try await runPlugin(["explain", "storage", "--node", "worker-4"])
        #expect(noAgent.code == 1)
        #expect(noAgent.stderr == "error: node 'worker-4' has no NodeDevice (is the agent running there?); nodes with a NodeDevice: worker-1, worker-2, worker-3\n")
        let noNode = try await runPlugin(["explain", "storage", "--node", "worker-9"])
        #expect(noNode.code == 1)
        #expect(noNode.stderr.hasPrefix("error: node 'worker-9' has no NodeDevice (is the agent running there?); there is no Node of that name either"))
        #expect(noNode.stderr.split(separator: "\n").count == 1, "errors are one line")
    }

    @Test func devicesTableShowsNeighbourAndVLANs() async throws {
        let r = try await runPlugin(["devices", "worker-1"])
        #expect(r.code == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.split(separator: " ").map(String.init)
            == ["NAME", "KIND", "DRIVER", "PCI", "MAC", "MTU", "STATE", "SPEED", "ADDRESSES", "NEIGHBOUR", "VLANS", "NETWORKS"])
        #expect(lines.contains { $0.split(separator: " ").map(String.init)
            == ["ens5f0", "physical", "ice", "0000:5e:00.0", "3c:fd:fe:aa:bb:00", "1500", "up", "25G", "-", "tor-r1-a/Ethernet1/5", "100", "fast"] })
        #expect(lines.contains { $0.split(separator: " ").map(String.init)
            == ["ens5f1", "physical", "ice", "0000:5e:00.1", "3c:fd:fe:aa:bb:01", "9000", "up", "25G", "198.51.100.11/24", "tor-r1-a/Ethernet1/6", "300", "storage"] })
        #expect(lines.contains { $0.hasPrefix("eno1 ") && $0.contains("192.0.2.11/24") && $0.hasSuffix("mgmt") })
        #expect(r.stdout.contains("node worker-1: probed at 2026-11-28T22:00:00Z, agent 0.1.0"))
    }

    @Test func devicesJSONAndYAML() async throws {
        let r = try await runPlugin(["devices", "worker-2", "-o", "json"])
        #expect(r.code == 0)
        let report = try JSONDecoder().decode(DevicesReport.self, from: Data(r.stdout.utf8))
        #expect(report.devices.map(\.name) == ["eno1", "eno2", "eno3"])
        #expect(report.devices[2].lldp?.systemName == "tor-r1-b")
        #expect(report.networks.first { $0.network == "storage" }?.device == "eno2")
        let y = try await runPlugin(["devices", "worker-2", "-o", "yaml"])
        #expect(y.code == 0)
        let fromYAML = try MapFile.json(try #require(try Yams.compose(yaml: y.stdout)), path: "$")
        #expect(fromYAML == (try JSONValue.parse(r.stdout)))
        // The PCI function "0000:3b:00.1" and the MAC stay strings in YAML.
        #expect(fromYAML[path: ["devices"]]?[1]?["pciAddress"]?.stringValue == "0000:3b:00.1")
    }

    @Test func devicesOfANodeWithoutAgent() async throws {
        let r = try await runPlugin(["devices", "worker-4"])
        #expect(r.code == 1)
        #expect(r.stderr.hasPrefix("error: node 'worker-4' has no NodeDevice (is the agent running there?)"))
        #expect(!r.stderr.contains("no Node of that name"), "worker-4's Node exists")
    }

    static let jumboMap = """
        # Storage by jumbo MTU only, on rack r1.
        apiVersion: automagic.dev/v1alpha1
        kind: NetworkDeviceMap
        metadata:
          name: jumbo
        spec:
          nodeSelector:
            matchLabels: {rack: r1}
          rules:
            - name: jumbo
              devices:
                matchExpressions:
                  - {key: mtu, operator: Gt, values: ["8999"]}
          exclusive: true
          attachment: {type: host-device}
        """

    @Test func previewOfAMapFile() async throws {
        let path = try temporaryFile(Self.jumboMap)
        defer { removeTestFiles(path) }
        let r = try await runPlugin(["preview", "-f", path])
        #expect(r.code == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("NetworkDeviceMap jumbo (new map): valid; would resolve on 0 nodes, unresolved on 2\n"))
        // The new exclusive map is the newest: storage keeps ens5f1 and eno2, so jumbo gets nothing.
        #expect(r.stdout.contains("worker-1: conflict: device ens5f1 is held by network storage"))
        #expect(r.stdout.contains("worker-2: conflict: device eno2 is held by network storage"))
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.split(separator: " ").prefix(3).map(String.init) == ["worker-3", "-", "-"] })

        let json = try await runPlugin(["preview", "-f", path, "-o", "json"])
        let report = try JSONDecoder().decode(PreviewReport.self, from: Data(json.stdout.utf8))
        let jumbo = try #require(report.maps.first)
        #expect(jumbo.network == "jumbo" && !jumbo.replacesExisting)
        #expect(jumbo.nodes.map(\.outcome) == ["Unresolved", "Unresolved", "NotSelected", "NotSelected"])
    }

    @Test func previewOfAReplacementFromStdinShowsChanges() async throws {
        // storage by MTU alone, as JSON on stdin: worker-3 still has no jumbo device; mgmt is unaffected.
        let json = """
            {"apiVersion": "automagic.dev/v1alpha1", "kind": "NetworkDeviceMap", "metadata": {"name": "storage"},
             "spec": {"rules": [{"devices": {"matchExpressions": [{"key": "driver", "operator": "In", "values": ["mlx5_core", "ice"]}]}}]}}
            """
        let r = try await runPlugin(["preview", "-f", "-"], stdin: Array(json.utf8))
        #expect(r.code == 0, "\(r.stderr)")
        #expect(r.stdout.contains("NetworkDeviceMap storage (replacing the existing map)"))
        let lines = r.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(lines.first { $0.first == "NODE" } == ["NODE", "DEVICE", "RULE", "NOW", "DETAIL"])
        // worker-1: ens5f0 is held by the exclusive fast network, so the replacement falls back to ens5f1 (same as now).
        #expect(lines.contains { $0.prefix(4) == ["worker-1", "ens5f1!", "rules[0]", "same"] })
        #expect(lines.contains { $0.prefix(2) == ["worker-2", "none"] && $0.contains("eno2") })
        #expect(lines.contains { $0.prefix(4) == ["worker-3", "enp1s0f0", "rules[0]", "none"] })
    }

    @Test func previewRejectsAnInvalidMapWithFieldPaths() async throws {
        let path = try temporaryFile("""
            apiVersion: automagic.dev/v1alpha1
            kind: NetworkDeviceMap
            metadata: {name: broken}
            spec:
              rules:
                - devices:
                    matchExpressions:
                      - {key: speed, operator: Gt, values: ["fast"]}
              attachment: {type: macvlan, mtu: 20}
            """)
        defer { removeTestFiles(path) }
        let r = try await runPlugin(["preview", "-f", path])
        #expect(r.code == 1)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.hasPrefix("error: invalid NetworkDeviceMap 'broken' in '\(path)' (3 problems): "))
        #expect(r.stderr.contains("spec.rules[0].devices.matchExpressions[0].key: unsupported value 'speed'"))
        #expect(r.stderr.contains("spec.rules[0].devices.matchExpressions[0].values[0]: 'fast' is not an integer"))
        #expect(r.stderr.contains("spec.attachment.mtu: 20 is out of range"))
        #expect(r.stderr.split(separator: "\n").count == 1)
    }

    @Test func previewRejectsFilesThatAreNotMaps() async throws {
        let notAMap = try temporaryFile("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
        let notYAML = try temporaryFile("spec: [unclosed\n")
        defer {
            removeTestFiles(notAMap)
            removeTestFiles(notYAML)
        }
        let a = try await runPlugin(["preview", "-f", notAMap])
        #expect(a.code == 1)
        #expect(a.stderr == "error: failed to parse map file '\(notAMap)': kind is 'ConfigMap', expected NetworkDeviceMap\n")
        let b = try await runPlugin(["preview", "-f", notYAML])
        #expect(b.code == 1)
        #expect(b.stderr.hasPrefix("error: failed to parse map file '\(notYAML)': invalid YAML"))
        let c = try await runPlugin(["preview", "-f", "/nonexistent/map.yaml"])
        #expect(c.code == 1)
        #expect(c.stderr == "error: failed to read map file '/nonexistent/map.yaml': no such file\n")
    }

    @Test func kubeconfigRules() async throws {
        let lab = try await LabFixture.shared.get()
        // $KUBECONFIG (with a missing file in the list, as kubectl allows) instead of --kubeconfig.
        let viaEnv = try await runPlugin(["status", "-o", "json"], kubeconfig: false,
                                         environment: ["KUBECONFIG": "/nonexistent/config:" + lab.kubeconfig])
        #expect(viaEnv.code == 0, "\(viaEnv.stderr)")
        // --context picks the context; an unknown one is an error naming it.
        let named = try await runPlugin(["status", "--context", "automagic-lab"])
        #expect(named.code == 0, "\(named.stderr)")
        let unknown = try await runPlugin(["status", "--context", "nope"])
        #expect(unknown.code == 1)
        #expect(unknown.stderr.hasPrefix("error: failed to load the kubeconfig: "))
        #expect(unknown.stderr.contains("nope"))
        // Global flags before the subcommand work too.
        let console = CapturedConsole(environment: ["HOME": "/nonexistent-home"])
        let code = await KubectlAutomagic.run(["--kubeconfig", lab.kubeconfig, "-o", "json", "devices", "worker-3"], console: console.console)
        #expect(code == 0, "\(console.stderr)")
        #expect(console.stdout.hasPrefix("{"))
        // No kubeconfig at all.
        let none = CapturedConsole(environment: ["HOME": "/nonexistent-home"])
        #expect(await KubectlAutomagic.run(["status"], console: none.console) == 1)
        #expect(none.stderr.hasPrefix("error: failed to load the kubeconfig: kubeconfig /nonexistent-home/.kube/config: file not found"))
    }

    @Test func aUserWhoMayNotListNodesGetsAWarning() async throws {
        let lab = try await LabFixture.shared.get()
        let r = try await runPlugin(["status", "--kubeconfig", lab.viewerKubeconfig], kubeconfig: false)
        #expect(r.code == 0, "\(r.stderr)")
        #expect(r.stderr == "warning: you may not list Nodes: node selectors are matched against no labels\n")
        // Without labels, fast (rack r1) selects no node; the rest still shows.
        let lines = r.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(lines.first == ["NETWORK", "worker-1", "worker-2", "worker-3"], "nodes come from NodeDevices only")
        #expect(lines.contains(["storage", "ens5f1", "eno2", "none"]))
        #expect(lines.contains(["fast", "ens5f0*", "none*", "-"]), "the agents' reports differ from a label-less resolution")
    }

    @Test func missingCRDsAreNamed() async throws {
        let server = try TestLab()
        defer { server.stop() }
        let console = CapturedConsole(environment: ["HOME": "/nonexistent-home"])
        let code = await KubectlAutomagic.run(["status", "--kubeconfig", server.kubeconfigPath], console: console.console)
        #expect(code == 1)
        #expect(console.stderr.hasPrefix("error: failed to list "))
        #expect(console.stderr.contains("(are the Automagic CRDs installed? kubectl apply -f crds/)"))
        #expect(console.stderr.split(separator: "\n").count == 1)
    }

    @Test func unreachableServerIsOneActionableLine() async throws {
        let path = try temporaryFile("""
            apiVersion: v1
            kind: Config
            clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
            users: [{name: u, user: {token: t}}]
            contexts: [{name: x, context: {cluster: c, user: u}}]
            current-context: x
            """)
        defer { removeTestFiles(path) }
        let console = CapturedConsole(environment: ["HOME": "/nonexistent-home"])
        let code = await KubectlAutomagic.run(["status", "--kubeconfig", path], console: console.console)
        #expect(code == 1)
        #expect(console.stderr.hasPrefix("error: failed to list "))
        #expect(console.stderr.contains("(is the API server up? check --kubeconfig / --context)"))
        #expect(console.stderr.split(separator: "\n").count == 1)
    }

    /// kubectl finds `kubectl-automagic` on PATH and runs it as `kubectl automagic`.
    @Test func theBuiltBinaryRunsAsAKubectlPlugin() async throws {
        let lab = try await LabFixture.shared.get()
        let binary = try builtProduct("kubectl-automagic")
        let kubectl = try #require(["/usr/bin/kubectl", "/usr/local/bin/kubectl"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                   "kubectl is not installed")
        let dir = (binary as NSString).deletingLastPathComponent
        let env = ["PATH": dir + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
        let r = try await runCommand(kubectl, ["automagic", "status", "--kubeconfig", lab.kubeconfig], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("NETWORK "))
        #expect(r.stdout.contains("storage "))
        #expect(!r.stdout.contains("\u{1B}["), "piped output is plain")
        let bad = try await runCommand(kubectl, ["automagic", "explain", "nope", "--kubeconfig", lab.kubeconfig], environment: env)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("networkdevicemap 'nope' not found"))
    }
}
