import AutomagicAPI
import Foundation
import JSON
import KubeCore
@testable import KubectlPlugin
import Resolver
import Testing
import TestSupport
import LabTesting

/// Issue 16: unknown fields named with their path and the nearest known field; maps that resolve nowhere.
@Suite("kubectl automagic: unknown fields and empty maps")
struct NewcomerTests {
    /// The schema compiled into the plugin is the one in crds/ (hack/gen-crd-schema.py keeps it so).
    @Test func theEmbeddedSchemaEqualsTheCRD() throws {
        let crd = try #require(try repositoryCRDs().first { $0["spec"]?["names"]?["kind"]?.stringValue == "NetworkDeviceMap" })
        let versions = try #require(crd["spec"]?["versions"]?.arrayValue)
        let v1alpha1 = try #require(versions.first { $0["name"]?.stringValue == "v1alpha1" })
        let fromCRD = try #require(v1alpha1["schema"]?["openAPIV3Schema"])
        #expect(UnknownFields.schema != .null, "the embedded schema does not parse")
        #expect(UnknownFields.schema == fromCRD, "Sources/KubectlPlugin/Generated/NetworkDeviceMapSchema.swift is out of date: run hack/gen-crd-schema.py")
    }

    static let typos = """
        apiVersion: automagic.dev/v1alpha1
        kind: NetworkDeviceMap
        metadata:
          name: storage
          lables: {team: a}
        spec:
          exclusiv: true
          selct: HighestSpeed
          nodeSelectr:
            matchLabels: {rack: r9}
          attachment: {type: macvlan, mdoe: bridge}
          rules:
            - name: ice
              devices:
                matchExpressions:
                  - {key: driver, operater: In, operator: In, values: [ice]}
          networkAttachmentDefinition:
            ipam: {type: whereabouts, anything: goes}
        """

    static let expected = [
        "metadata.lables: unknown field; did you mean metadata.labels?",
        "spec.attachment.mdoe: unknown field; did you mean spec.attachment.mode?",
        "spec.exclusiv: unknown field; did you mean spec.exclusive?",
        "spec.nodeSelectr: unknown field; did you mean spec.nodeSelector?",
        "spec.rules[0].devices.matchExpressions[0].operater: unknown field; did you mean spec.rules[0].devices.matchExpressions[0].operator?",
        "spec.selct: unknown field; did you mean spec.select?",
    ]

    @Test func everyUnknownFieldIsNamedWithItsPathAndNearestKnownField() throws {
        let entries = try MapFile.parseEntries(Array(Self.typos.utf8), path: "m.yaml")
        let entry = try #require(entries.first)
        #expect(entry.unknownFields.map(\.description).sorted() == Self.expected)
        // Free-form places (ipam, label values) are not checked; a far-off name gets no suggestion.
        let far = try MapFile.parseEntries(Array("""
            apiVersion: automagic.dev/v1alpha1
            kind: NetworkDeviceMap
            metadata: {name: x}
            spec:
              rules: [{devices: {matchExpressions: [{key: name, operator: Exists}]}}]
              zzzzzz: 1
            """.utf8), path: "f.yaml")
        #expect(far.first?.unknownFields.map(\.description) == ["spec.zzzzzz: unknown field"])
    }

    @Test func validateOnlyRefusesAFileWithUnknownFieldsAndListsEveryOne() async throws {
        let path = try temporaryFile(Self.typos)
        defer { removeTestFiles(path) }
        for args in [["preview", "--validate-only", "-f", path], ["preview", "-f", path]] {
            let console = CapturedConsole()
            let fake = FakeCluster(mapList: [], nodeDeviceList: [], nodeList: [])
            let code = await KubectlAutomagic.run(args, console: console.console, reader: fake)
            #expect(code == 1, "\(args): \(console.stdout)")
            #expect(!console.stdout.contains("valid"), "\(console.stdout)")
            #expect(console.stderr.hasPrefix("error: 6 unknown fields in '\(path)'"), "\(console.stderr)")
            for line in Self.expected {
                #expect(console.stderr.contains("\n  NetworkDeviceMap storage: \(line)"), "missing \(line) in \(console.stderr)")
            }
        }
    }

    /// A misspelled required field (`rule` for `rules`) is named as a typo, not only as a missing field.
    @Test func aMisspelledRequiredFieldIsNamed() async throws {
        let path = try temporaryFile("apiVersion: automagic.dev/v1alpha1\nkind: NetworkDeviceMap\nmetadata: {name: x}\nspec: {rule: [{devices: {matchExpressions: [{key: name, operator: Exists}]}}]}\n")
        defer { removeTestFiles(path) }
        let console = CapturedConsole()
        #expect(await KubectlAutomagic.run(["preview", "--validate-only", "-f", path], console: console.console, reader: FakeCluster(mapList: [], nodeDeviceList: [], nodeList: [])) == 1)
        #expect(console.stderr.contains("NetworkDeviceMap x: spec.rule: unknown field; did you mean spec.rules?"), "\(console.stderr)")
    }

    static let empty = """
        apiVersion: automagic.dev/v1alpha1
        kind: NetworkDeviceMap
        metadata: {name: nowhere}
        spec:
          nodeSelector: {matchLabels: {rack: r9}}
          rules: [{devices: {matchExpressions: [{key: driver, operator: In, values: [ice]}]}}]
        """

    static func cluster() -> FakeCluster {
        FakeCluster(mapList: [], nodeDeviceList: [UnitTests.nodeDevice("n1", device: "ens1", reported: nil)],
                    nodeList: [NodeSummary(name: "n1", labels: ["rack": "r1"])])
    }

    @Test func previewWarnsAboutAMapThatSelectsNoNodeAndFailOnEmptyExits3() async throws {
        let path = try temporaryFile(Self.empty)
        defer { removeTestFiles(path) }
        let plain = CapturedConsole()
        #expect(await KubectlAutomagic.run(["preview", "-f", path], console: plain.console, reader: Self.cluster()) == 0, "\(plain.stderr)")
        #expect(plain.stdout.contains("would resolve on 0 nodes"), "\(plain.stdout)")
        #expect(plain.stdout.contains("warning: spec.nodeSelector selects none of the 1 node: no pod could get this network"), "\(plain.stdout)")

        let strict = CapturedConsole()
        let code = await KubectlAutomagic.run(["preview", "--fail-on-empty", "-f", path], console: strict.console, reader: Self.cluster())
        #expect(code == KubectlAutomagic.emptyMapExitCode && code == 3)
        #expect(strict.stdout.contains("warning: spec.nodeSelector selects none"), "the preview is still printed: \(strict.stdout)")
        #expect(strict.stderr == "error: NetworkDeviceMap nowhere would resolve on no node (--fail-on-empty)\n", "\(strict.stderr)")

        // JSON output carries the warning too, and the same exit code.
        let json = CapturedConsole()
        #expect(await KubectlAutomagic.run(["preview", "--fail-on-empty", "-o", "json", "-f", path], console: json.console, reader: Self.cluster()) == 3)
        let report = try JSONValue.parse(json.stdout)
        #expect(report["maps"]?[0]?["selected"] == .int(0))
        #expect(report["maps"]?[0]?["warning"]?.stringValue?.contains("selects none") == true, "\(json.stdout)")
    }

    @Test func failOnEmptyPassesWhenTheMapResolvesAndWarnsWhenNothingMatches() async throws {
        let resolves = try temporaryFile(Self.empty.replacingOccurrences(of: "r9", with: "r1"))
        let noDevice = try temporaryFile(Self.empty.replacingOccurrences(of: "r9", with: "r1").replacingOccurrences(of: "[ice]", with: "[mlx5_core]"))
        defer { removeTestFiles(resolves); removeTestFiles(noDevice) }
        let ok = CapturedConsole()
        #expect(await KubectlAutomagic.run(["preview", "--fail-on-empty", "-f", resolves], console: ok.console, reader: Self.cluster()) == 0, "\(ok.stdout)\(ok.stderr)")
        #expect(!ok.stdout.contains("warning"), "\(ok.stdout)")
        let none = CapturedConsole()
        #expect(await KubectlAutomagic.run(["preview", "--fail-on-empty", "-f", noDevice], console: none.console, reader: Self.cluster()) == 3)
        #expect(none.stdout.contains("warning: it would resolve on none of the 1 selected node: no pod could get this network"), "\(none.stdout)")
        // --fail-on-empty needs the cluster.
        let both = CapturedConsole()
        #expect(await KubectlAutomagic.run(["preview", "--fail-on-empty", "--validate-only", "-f", resolves], console: both.console, reader: Self.cluster()) == 1)
        #expect(both.stderr.contains("cannot be combined with --validate-only"), "\(both.stderr)")
    }

    /// The footer's MESSAGE says a text shared by Ready and Degraded once.
    @Test func theStatusFooterDoesNotRepeatAMessage() async throws {
        var map = UnitTests.map
        map.metadata.generation = 1
        let text = "no node is selected by spec.nodeSelector: no pod can get storage"
        map.status = NetworkDeviceMapStatus(
            observedGeneration: 1, nodes: NodeCounts(matched: 0, unmatched: 0, total: 0),
            conditions: [
                Condition(type: "Ready", status: "False", lastTransitionTime: "2026-12-06T00:00:00Z", reason: "NoNodesSelected", message: text),
                Condition(type: "Degraded", status: "True", lastTransitionTime: "2026-12-06T00:00:00Z", reason: "NoNodesSelected", message: text),
                Condition(type: "Conflict", status: "False", lastTransitionTime: "2026-12-06T00:00:00Z", reason: "NoConflict", message: ""),
            ])
        let fake = FakeCluster(mapList: [map], nodeDeviceList: [UnitTests.nodeDevice("n1", device: "ens1", reported: nil)],
                               nodeList: [NodeSummary(name: "n1", labels: [:])])
        let console = CapturedConsole()
        #expect(await KubectlAutomagic.run(["status"], console: console.console, reader: fake) == 0)
        let lines = console.stdout.split(separator: "\n").map(String.init)
        let header = try #require(lines.firstIndex { $0.hasPrefix("NETWORK ") && $0.contains("MESSAGE") })
        let row = try #require(lines.indices.contains(header + 1) ? lines[header + 1] : nil)
        #expect(row.hasSuffix("Ready/Degraded: \(text)"), "\(row)")
        #expect(row.components(separatedBy: text).count == 2, "the message is repeated: \(row)")
    }
}
