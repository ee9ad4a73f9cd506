import AutomagicAPI
import Foundation
import JSON
import KubeCore
@testable import KubectlPlugin
import Resolver
import Testing
import Yams
import TestSupport

/// A cluster given as values (no server).
struct FakeCluster: ClusterReader {
    var mapList: [NetworkDeviceMap]
    var nodeDeviceList: [NodeDevice]
    var nodeList: [NodeSummary]?
    func maps() async throws(PluginError) -> [NetworkDeviceMap] { mapList }
    func nodeDevices() async throws(PluginError) -> [NodeDevice] { nodeDeviceList }
    func nodes() async throws(PluginError) -> [NodeSummary]? { nodeList }
}

@Suite("kubectl automagic without a server")
struct UnitTests {
    static let map = NetworkDeviceMap(name: "storage", spec: NetworkDeviceMapSpec(rules: [
        DeviceRule(expressions: [DeviceMatchExpression(key: "driver", operator: .in, values: ["ice"])]),
    ]))

    static func nodeDevice(_ node: String, device: String, reported: String?) -> NodeDevice {
        NodeDevice(name: node, status: NodeDeviceStatus(
            devices: [NetworkDevice(name: device, driver: "ice")],
            networks: reported.map { [NodeNetworkStatus(network: "storage", device: $0, rule: "rules[0]", message: "")] }))
    }

    @Test func manyNodesAreRowsAndCellsFlagStaleAndMissingReports() async throws {
        var devices = (1...7).map { Self.nodeDevice("n\($0)", device: "ens\($0)", reported: "ens\($0)") }
        devices[1] = Self.nodeDevice("n2", device: "ens2", reported: "old0")  // agent not caught up
        devices[2] = Self.nodeDevice("n3", device: "ens3", reported: nil)     // not reported yet
        let fake = FakeCluster(mapList: [Self.map], nodeDeviceList: devices, nodeList: (1...7).map { NodeSummary(name: "n\($0)", labels: [:]) })
        let console = CapturedConsole()
        let code = await KubectlAutomagic.run(["status"], console: console.console, reader: fake)
        #expect(code == 0, "\(console.stderr)")
        let lines = console.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(lines.first == ["NODE", "storage"], "more than \(StatusRenderer.maxNodeColumns) nodes: one row per node")
        #expect(lines.contains(["n1", "ens1"]))
        #expect(lines.contains(["n2", "old0*"]))
        #expect(lines.contains(["n3", "pending"]))
        #expect(console.stdout.contains("storage on n2: the agent reports old0 but the resolver now gives ens2"))
        #expect(console.stdout.contains("storage on n3: the agent has not reported this network yet (the resolver gives ens3)"))
    }

    @Test func devicesOnDifferentVLANsAreFlagged() async throws {
        let byName = NetworkDeviceMap(name: "provider-by-name", spec: NetworkDeviceMapSpec(rules: [
            DeviceRule(expressions: [DeviceMatchExpression(key: "name", operator: .in, values: ["eno3"])]),
        ]))
        func nd(_ node: String, vlan: Int) -> NodeDevice {
            NodeDevice(name: node, status: NodeDeviceStatus(
                devices: [NetworkDevice(name: "eno3", lldp: LLDPNeighbor(portID: "p", systemName: "tor", vlanIDs: [vlan]))],
                networks: [NodeNetworkStatus(network: "provider-by-name", device: "eno3", rule: "rules[0]", message: "")]))
        }
        let fake = FakeCluster(mapList: [byName], nodeDeviceList: [nd("w1", vlan: 100), nd("w3", vlan: 200)],
                               nodeList: [NodeSummary(name: "w1", labels: [:]), NodeSummary(name: "w3", labels: [:])])
        let console = CapturedConsole()
        #expect(await KubectlAutomagic.run(["status"], console: console.console, reader: fake) == 0)
        #expect(console.stdout.contains("provider-by-name: the devices are on different VLANs by LLDP, so probably on different networks: w1 eno3 [100]; w3 eno3 [200]"))
        let json = CapturedConsole()
        #expect(await KubectlAutomagic.run(["status", "-o", "json"], console: json.console, reader: fake) == 0)
        let report = try JSONDecoder().decode(StatusReport.self, from: Data(json.stdout.utf8))
        #expect(report.networks.first?.vlanMismatch == "w1 eno3 [100]; w3 eno3 [200]")
    }

    @Test func footerShowsTheControllersConditions() async throws {
        var degraded = Self.map
        degraded.metadata.generation = 3
        degraded.status = NetworkDeviceMapStatus(
            observedGeneration: 2, nodes: NodeCounts(matched: 1, unmatched: 1, total: 2),
            conflicts: [DeviceConflict(node: "n1", device: "ens1", network: "other", winner: "other", message: "ens1 is held by other")],
            conditions: [
                Condition(type: "Ready", status: "False", lastTransitionTime: "2026-11-28T22:00:00Z", reason: "NodesUnmatched", message: "1 of 2 nodes unmatched"),
                Condition(type: "Degraded", status: "True", lastTransitionTime: "2026-11-28T22:00:00Z", reason: "NodesUnmatched", message: "n2: no device"),
                Condition(type: "Conflict", status: "False", lastTransitionTime: "2026-11-28T22:00:00Z", reason: "NoConflict", message: ""),
            ])
        let fake = FakeCluster(mapList: [degraded], nodeDeviceList: [Self.nodeDevice("n1", device: "ens1", reported: "ens1")],
                               nodeList: [NodeSummary(name: "n1", labels: [:])])
        let console = CapturedConsole()
        #expect(await KubectlAutomagic.run(["status"], console: console.console, reader: fake) == 0)
        let lines = console.stdout.split(separator: "\n").map(String.init)
        let footerHeader = try #require(lines.firstIndex { $0.hasPrefix("NETWORK ") && $0.contains("READY") })
        #expect(lines[footerHeader + 1].hasPrefix("storage   False   True       False      1/2     (status is for an older generation) Ready: 1 of 2 nodes unmatched; Degraded: n2: no device"))
        // The controller's conflict is flagged on its cell.
        #expect(lines[1].split(separator: " ").map(String.init) == ["storage", "ens1!"])
        #expect(console.stdout.contains("storage on n1: conflict: ens1 is held by other"))
        let coloured = CapturedConsole(isTerminal: true)
        #expect(await KubectlAutomagic.run(["status"], console: coloured.console, reader: fake) == 0)
        #expect(coloured.stdout.contains("\u{1B}[31mFalse\u{1B}[0m"), "Ready=False is red")
        #expect(coloured.stdout.contains("\u{1B}[33mTrue\u{1B}[0m"), "Degraded=True is yellow")
    }

    @Test func invalidMapsAndNoMaps() async throws {
        let bad = NetworkDeviceMap(name: "bad", spec: NetworkDeviceMapSpec(rules: []))
        let fake = FakeCluster(mapList: [bad], nodeDeviceList: [Self.nodeDevice("n1", device: "e1", reported: nil)], nodeList: nil)
        let console = CapturedConsole()
        #expect(await KubectlAutomagic.run(["status"], console: console.console, reader: fake) == 0)
        #expect(console.stdout.contains("invalid"))
        #expect(console.stdout.contains("invalid spec: spec.rules: must have at least 1 rule"))
        #expect(console.stderr == "warning: you may not list Nodes: node selectors are matched against no labels\n")
        let empty = CapturedConsole()
        #expect(await KubectlAutomagic.run(["status"], console: empty.console, reader: FakeCluster(mapList: [], nodeDeviceList: [], nodeList: [])) == 0)
        #expect(empty.stdout.hasPrefix("No NetworkDeviceMaps found."))
    }

    @Test func usageErrorsAreOneLineAndExitOne() async throws {
        let fake = FakeCluster(mapList: [], nodeDeviceList: [], nodeList: [])
        let missing = CapturedConsole()
        #expect(await KubectlAutomagic.run(["devices"], console: missing.console, reader: fake) == 1)
        #expect(missing.stderr == "error: Missing expected argument '<node>' (see 'kubectl automagic devices --help')\n")
        let format = CapturedConsole()
        #expect(await KubectlAutomagic.run(["status", "-o", "xml"], console: format.console, reader: fake) == 1)
        #expect(format.stderr.hasPrefix("error: The value 'xml' is invalid for '-o <format>'"))
        #expect(format.stderr.split(separator: "\n").count == 1)
        let unknown = CapturedConsole()
        #expect(await KubectlAutomagic.run(["stauts"], console: unknown.console, reader: fake) == 1)
        #expect(unknown.stderr == "error: unknown command 'stauts' for 'kubectl automagic' (commands: status, explain, devices, preview; see 'kubectl automagic --help')\n")
        let help = CapturedConsole()
        #expect(await KubectlAutomagic.run(["explain", "--help"], console: help.console, reader: fake) == 0)
        #expect(help.stdout.contains("USAGE: kubectl automagic explain"))
        #expect(help.stdout.contains("--kubeconfig <path>"))
    }

    @Test func globalOptionsMayPrecedeTheSubcommand() {
        #expect(KubectlAutomagic.hoistGlobalOptions(["--context", "lab", "-o", "json", "explain", "storage"])
            == ["explain", "--context", "lab", "-o", "json", "storage"])
        #expect(KubectlAutomagic.hoistGlobalOptions(["--kubeconfig=/k", "--no-color", "-ojson", "status"])
            == ["status", "--kubeconfig=/k", "--no-color", "-ojson"])
        #expect(KubectlAutomagic.hoistGlobalOptions(["status", "--context", "lab"]) == ["status", "--context", "lab"])
    }

    @Test func tableWidthsIgnoreColourCodes() {
        let table = Table(headers: ["A", "B"], rows: [[Styled("green", .green), Styled("x")], [Styled("r", .red), Styled("y")]])
        let plain = table.render(color: false)
        #expect(plain == "A       B\ngreen   x\nr       y\n")
        let coloured = table.render(color: true)
        let stripped = coloured.replacing(/\u{1B}\[[0-9;]*m/, with: "")
        #expect(stripped == plain)
    }

    @Test func yamlQuotesStringsThatWouldReadBackAsOtherTypes() throws {
        let value: JSONValue = ["s": ["true", "100", "0000:3b:00.1", "", "null", "a: b", "plain"], "n": 100, "b": true, "z": .null]
        let yaml = try Machine.render(value, format: .yaml, what: "test")
        let back = try MapFile.json(try #require(try Yams.compose(yaml: yaml)), path: "$")
        #expect(back == value)
        #expect(yaml.contains("- plain\n"))
        #expect(yaml.contains("- \"true\"\n"))
    }

    @Test func mapFilesInYAMLJSONAndLists() throws {
        let yaml = """
            apiVersion: automagic.dev/v1alpha1
            kind: NetworkDeviceMap
            metadata: {name: a}
            spec:
              rules: [{devices: {matchExpressions: [{key: lldp.vlanIDs, operator: In, values: ["100"]}]}}]
            ---
            apiVersion: automagic.dev/v1alpha1
            kind: NetworkDeviceMap
            metadata: {name: b}
            spec: {rules: [{devices: {matchExpressions: [{key: name, operator: Exists}]}}]}
            """
        let maps = try MapFile.parse(Array(yaml.utf8), path: "m.yaml")
        #expect(maps.map(\.network) == ["a", "b"])
        #expect(maps[0].spec.rules[0].devices.matchExpressions[0].values == ["100"])
        // An unquoted YAML integer in values is not a string (the API server refuses it too): the error names the field.
        do {
            _ = try MapFile.parse(Array(yaml.replacingOccurrences(of: "values: [\"100\"]", with: "values: [100]").utf8), path: "m.yaml")
            Issue.record("an integer in values must be refused")
        } catch {
            #expect("\(error)".hasPrefix("failed to parse map file 'm.yaml': document 1: spec.rules[0].devices.matchExpressions[0].values[0]: expected String"))
        }
        let list = """
            {"apiVersion": "v1", "kind": "List", "items": [
              {"apiVersion": "automagic.dev/v1alpha1", "kind": "NetworkDeviceMap", "metadata": {"name": "c"},
               "spec": {"rules": [{"devices": {"matchExpressions": [{"key": "name", "operator": "Exists"}]}}]}}]}
            """
        #expect(try MapFile.parse(Array(list.utf8), path: "l.json").map(\.network) == ["c"])
        do {
            _ = try MapFile.parse(Array("apiVersion: automagic.dev/v1\nkind: NetworkDeviceMap\nspec: {}\n".utf8), path: "v.yaml")
            Issue.record("a wrong apiVersion must be refused")
        } catch {
            #expect("\(error)" == "failed to parse map file 'v.yaml': apiVersion is 'automagic.dev/v1', expected automagic.dev/v1alpha1")
        }
        do {
            _ = try MapFile.parse(Array("apiVersion: automagic.dev/v1alpha1\nkind: NetworkDeviceMap\nspec: {rules: 3}\n".utf8), path: "t.yaml")
            Issue.record("rules must be a list")
        } catch {
            #expect("\(error)".hasPrefix("failed to parse map file 't.yaml': spec.rules: expected"))
        }
        do {
            _ = try MapFile.parse(Array("\n# nothing\n".utf8), path: "e.yaml")
            Issue.record("an empty file must be refused")
        } catch {
            #expect("\(error)" == "failed to parse map file 'e.yaml': no NetworkDeviceMap in the file (it is empty)")
        }
    }

    /// The repository's example maps pass the resolver's validation through `preview --validate-only` (no cluster).
    @Test func repositoryExampleMapsAreValid() async throws {
        let files = try (repositoryFiles(in: "manifests/examples", extensions: ["yaml"]) + repositoryFiles(in: "hack/lab/maps", extensions: ["yaml"]))
            .map(repositoryPath)
        #expect(files.count >= 2)
        for file in files {
            let console = CapturedConsole(environment: ["HOME": "/nonexistent-home"])
            let code = await KubectlAutomagic.run(["preview", "--validate-only", "-f", file], console: console.console)
            #expect(code == 0, "\(file): \(console.stderr)")
            #expect(console.stdout.hasPrefix("NetworkDeviceMap "), "\(file)")
            #expect(console.stdout.hasSuffix(": valid\n"), "\(file)")
        }
    }

    @Test func speedsAndVLANsAreShortAndReadable() {
        #expect(describeSpeed(25000) == "25G")
        #expect(describeSpeed(2500) == "2500M")
        #expect(describeSpeed(nil) == "-")
        #expect(describeVLANs(LLDPNeighbor(vlanIDs: [100, 200], vlanNames: ["a", "b"])) == "100 (a), 200 (b)")
        #expect(describeVLANs(LLDPNeighbor(vlanIDs: [100], vlanNames: ["a", "b"])) == "100 (names: a, b)")
        #expect(describeVLANs(LLDPNeighbor()) == nil)
        #expect(describeNeighbour(LLDPNeighbor(chassisID: "00:11:22:33:44:55", portID: "xe-0/0/3")) == "00:11:22:33:44:55 port xe-0/0/3")
    }

    @Test func colourNeedsATerminalAndNoNOCOLOR() {
        #expect(Console(writeOut: { _ in }, writeErr: { _ in }, isTerminal: true).useColor(noColorFlag: false))
        #expect(!Console(writeOut: { _ in }, writeErr: { _ in }, isTerminal: false).useColor(noColorFlag: false))
        #expect(!Console(writeOut: { _ in }, writeErr: { _ in }, isTerminal: true).useColor(noColorFlag: true))
        #expect(!Console(writeOut: { _ in }, writeErr: { _ in }, isTerminal: true, environment: ["NO_COLOR": "1"]).useColor(noColorFlag: false))
        #expect(Console(writeOut: { _ in }, writeErr: { _ in }, isTerminal: true, environment: ["NO_COLOR": ""]).useColor(noColorFlag: false))
    }
}
