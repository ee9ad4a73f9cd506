import Foundation
import JSON
import Testing
import TestSupport

/// The directories of example maps users apply.
let exampleDirectories = ["manifests/examples", "hack/lab/maps"]

/// Defaults the NetworkDeviceMap schema adds to a spec that leaves them out (the only fields the
/// server may add to a spec): `select: First`, `exclusive: false`.
let networkDeviceMapSpecDefaults: [String: JSONValue] = ["select": "First", "exclusive": false, "dra": false]

/// An example file as kubectl reads it (YAML → JSON on the client, no server involved).
func clientSideObject(_ lab: Lab, file: String) async throws -> JSONValue {
    try await lab.kubectlJSON(["create", "--dry-run=client", "-f", file])
}

/// Single-object files as kubectl reads them, in one kubectl run: file → object.
func clientSideObjects(_ lab: Lab, files: [String]) async throws -> [String: JSONValue] {
    guard files.count > 1 else {
        return Dictionary(uniqueKeysWithValues: try await files.asyncMap { ($0, try await clientSideObject(lab, file: $0)) })
    }
    // Several objects come out as consecutive JSON documents, in file order.
    let r = try await lab.kubectl(["create", "--dry-run=client", "-o", "json"] + files.flatMap { ["-f", $0] })
    try #require(r.status == 0, "\(r)")
    let items = try splitJSONDocuments(r.stdout).map { text in
        do { return try JSONValue.parse(text) } catch { throw HarnessError.parse(what: "kubectl create --dry-run=client output", cause: "\(error)") }
    }
    try #require(items.count == files.count, "expected one object per file in \(files): \(r.stdout)")
    return Dictionary(uniqueKeysWithValues: zip(files, items).map { ($0, $1) })
}

/// Splits concatenated top-level JSON objects (`{…}{…}` with any whitespace between).
func splitJSONDocuments(_ text: String) throws -> [String] {
    var docs: [String] = []
    var depth = 0, inString = false, escaped = false
    var current: [Character] = []
    for ch in text {
        if depth == 0 && !inString {
            if ch.isWhitespace { continue }
            guard ch == "{" else { throw HarnessError.parse(what: "JSON document stream", cause: "unexpected '\(ch)' between documents") }
        }
        current.append(ch)
        if inString {
            if escaped { escaped = false } else if ch == "\\" { escaped = true } else if ch == "\"" { inString = false }
            continue
        }
        switch ch {
        case "\"": inString = true
        case "{", "[": depth += 1
        case "}", "]":
            depth -= 1
            if depth == 0 { docs.append(String(current)); current = [] }
        default: break
        }
    }
    guard depth == 0, current.isEmpty else { throw HarnessError.parse(what: "JSON document stream", cause: "unterminated document") }
    return docs
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await transform(e)) }
        return out
    }
}

/// The example maps: apply, printer columns, round trip.
@Suite struct ExampleTests {
    /// Every example applies (then re-applies unchanged) and round-trips: `kubectl get ndm -o json` returns
    /// the applied spec, nothing lost, nothing invented but the documented defaults
    /// (`networkDeviceMapSpecDefaults`), and no status until a controller writes one.
    @Test(arguments: exampleDirectories)
    func everyExampleAppliesAndRoundTrips(directory: String) async throws {
        let files = try repositoryFiles(in: directory)
        #expect(!files.isEmpty, "no examples in \(directory)")
        try await withLab { lab in
            try await lab.installCRDs()
            let sent = try await clientSideObjects(lab, files: files)
            var names: [String: String] = [:]
            for file in files {
                let object = try #require(sent[file])
                #expect(object["kind"] == "NetworkDeviceMap", "\(file)")
                #expect(object["apiVersion"] == "automagic.dev/v1alpha1", "\(file)")
                let name = try #require(object[path: ["metadata", "name"]]?.stringValue, "\(file) has no name")
                #expect(names[name] == nil, "\(file) and \(names[name] ?? "") both define the map '\(name)' in \(directory)")
                names[name] = file
            }
            let apply = try await lab.kubectl(["apply", "-f", directory])
            #expect(apply.status == 0, "\(apply)")
            #expect(apply.stderr.isEmpty, "warnings: \(apply.stderr)")
            for name in names.keys {
                #expect(apply.stdout.contains("networkdevicemap.automagic.dev/\(name) created"), "\(name): \(apply)")
            }
            let again = try await lab.kubectl(["apply", "-f", directory])
            #expect(again.status == 0, "\(again)")
            for name in names.keys {
                #expect(again.stdout.contains("networkdevicemap.automagic.dev/\(name) unchanged"), "\(name): \(again)")
            }

            let list = try await lab.kubectlJSON(["get", "ndm"])
            let stored = Dictionary((list["items"]?.arrayValue ?? []).map { ($0[path: ["metadata", "name"]]?.stringValue ?? "", $0) },
                                    uniquingKeysWith: { a, _ in a })
            #expect(Set(stored.keys) == Set(names.keys), "\(stored.keys)")
            for file in files {
                let object = try #require(sent[file])
                let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
                let got = try #require(stored[name], "\(file): \(name) not stored")
                checkRoundTrip(sent: object, got: got, file: file)
            }
            // The same through `kubectl get -o jsonpath` (what scripts use).
            let jsonpath = try await lab.kubectl(["get", "ndm", "-o",
                                                  #"jsonpath={range .items[*]}{.metadata.name}={.spec.rules[*].devices.matchExpressions[*].key}{"\n"}{end}"#])
            let expectedLines = Set(sent.values.map { object in
                let keys = (object[path: ["spec", "rules"]]?.arrayValue ?? []).flatMap {
                    ($0[path: ["devices", "matchExpressions"]]?.arrayValue ?? []).compactMap { $0["key"]?.stringValue }
                }
                return (object[path: ["metadata", "name"]]?.stringValue ?? "") + "=" + keys.joined(separator: " ")
            })
            #expect(Set(jsonpath.lines) == expectedLines, "\(jsonpath)")

            // And they go away cleanly with the same files.
            let delete = try await lab.kubectl(["delete", "-f", directory])
            #expect(delete.status == 0, "\(delete)")
            for name in names.keys {
                #expect(delete.stdout.contains("networkdevicemap.automagic.dev \"\(name)\" deleted"), "\(name): \(delete)")
            }
            let left = try await lab.kubectl(["get", "ndm", "-o", "name"])
            #expect(left.status == 0 && left.stdout.isEmpty, "\(left)")
        }
    }

    func checkRoundTrip(sent: JSONValue, got: JSONValue, file: String) {
        let sentSpec = sent["spec"] ?? .null
        // Nothing lost, nothing invented: equal once the documented defaults (when the server
        // added them with their default value) are taken out again.
        var gotSpec = got["spec"] ?? .null
        for (key, value) in networkDeviceMapSpecDefaults where sentSpec[key] == nil && gotSpec[key] == value {
            gotSpec = .object((gotSpec.objectValue ?? [:]).filter { $0.key != key })
        }
        #expect(gotSpec == sentSpec, "\(file): spec differs\nsent: \(sentSpec.jsonString())\ngot:  \(got["spec"]?.jsonString() ?? "nil")")
        #expect(Set(got.objectValue?.keys.map { $0 } ?? []) == ["apiVersion", "kind", "metadata", "spec"], "\(file): \(got)")
        #expect(got["apiVersion"] == sent["apiVersion"] && got["kind"] == sent["kind"], "\(file)")
        #expect(got[path: ["metadata", "labels"]] == sent[path: ["metadata", "labels"]], "\(file): labels")
        // The only annotation added is kubectl's own last-applied-configuration.
        let annotations = got[path: ["metadata", "annotations"]]?.objectValue ?? [:]
        #expect(Set(annotations.keys).subtracting(sent[path: ["metadata", "annotations"]]?.objectValue?.keys.map { $0 } ?? [])
                == ["kubectl.kubernetes.io/last-applied-configuration"], "\(file): \(annotations.keys)")
        #expect(got[path: ["metadata", "generation"]]?.intValue == 1, "\(file)")
    }

    @Test func mapPrinterColumns() async throws {
        try await withLab { lab in
            try await lab.installCRDs()
            let apply = try await lab.kubectl(["apply", "-f", "manifests/examples/"])
            #expect(apply.status == 0, "\(apply)")

            let table = try await lab.kubectl(["get", "ndm"])
            #expect(table.status == 0, "\(table)")
            #expect(tableHeader(table.stdout) == ["NAME", "MATCHED", "UNMATCHED", "READY", "AGE"], "\(table.stdout)")
            let wide = try await lab.kubectl(["get", "ndm", "-o", "wide"])
            #expect(wide.status == 0, "\(wide)")
            #expect(tableHeader(wide.stdout) == ["NAME", "MATCHED", "UNMATCHED", "READY", "ATTACHMENT", "EXCLUSIVE", "DRA", "SELECT", "AGE"], "\(wide.stdout)")
            let rows = Dictionary(tableRows(wide.stdout).map { ($0["NAME"] ?? "", $0) }, uniquingKeysWith: { a, _ in a })
            let passthrough = try #require(rows["passthrough"], "\(wide.stdout)")
            #expect(passthrough["ATTACHMENT"] == "host-device" && passthrough["EXCLUSIVE"] == "true" && passthrough["SELECT"] == "First", "\(passthrough)")
            // Defaults show in the columns of a map that leaves them out (a real server stores them).
            let provisioning = try #require(rows["provisioning"], "\(wide.stdout)")
            #expect(provisioning["ATTACHMENT"] == "macvlan", "\(provisioning)")
            #expect(provisioning["EXCLUSIVE"] == "false" && provisioning["DRA"] == "false" && provisioning["SELECT"] == "First", "\(provisioning)")
            // Before the controller writes status the counts are empty (kubectl prints <none> for a missing value).
            for cell in [provisioning["MATCHED"], provisioning["UNMATCHED"], provisioning["READY"]] {
                #expect(cell == "<none>" || cell == "", "\(provisioning)")
            }

            // The controller's status, written through the status subresource, fills the columns.
            let status: JSONValue = ["status": [
                "observedGeneration": 1,
                "nodes": ["matched": 2, "unmatched": 1, "total": 3],
                "unmatchedNodes": [["node": "worker-3", "reason": "no rule matched a device"]],
                "conditions": [["type": "Ready", "status": "False", "lastTransitionTime": "2026-11-29T00:00:00Z",
                                "reason": "Unmatched", "message": "1 of 3 nodes unresolved", "observedGeneration": 1]],
            ]]
            let patch = try await lab.kubectl(["patch", "ndm", "storage", "--subresource=status", "--type=merge", "-p", status.jsonString()])
            #expect(patch.status == 0, "\(patch)")
            #expect(patch.stdout.contains("networkdevicemap.automagic.dev/storage patched"), "\(patch)")
            let after = try await lab.kubectl(["get", "ndm", "storage"])
            let row = try #require(tableRows(after.stdout).first, "\(after)")
            #expect(row["NAME"] == "storage" && row["MATCHED"] == "2" && row["UNMATCHED"] == "1", "\(after.stdout)")
            // READY is `.status.conditions[?(@.type=="Ready")].status`: a real server evaluates the filter.
            #expect(row["READY"] == "False", "\(after.stdout)")
            #expect(row["AGE"].map { !$0.isEmpty && $0 != "<none>" } == true, "\(after.stdout)")
            let describe = try await lab.kubectl(["describe", "ndm", "storage"])
            #expect(describe.status == 0, "\(describe)")
            for text in ["Name:", "Kind:", "NetworkDeviceMap", "Spec:", "Rules:", "intel-in-storage-subnet", "Status:", "Matched:"] {
                #expect(describe.stdout.contains(text), "describe lacks '\(text)': \(describe.stdout)")
            }
            // Status written through the subresource does not bump the generation; spec is untouched.
            let object = try await lab.kubectlJSON(["get", "ndm", "storage"])
            #expect(object[path: ["metadata", "generation"]]?.intValue == 1, "\(object)")
            #expect(object["status"] == status["status"], "status round trip: \(object["status"]?.jsonString() ?? "nil")")
        }
    }

    @Test func nodeDevicePrinterColumnsAndStatusRoundTrip() async throws {
        try await withLab { lab in
            try await lab.installCRDs()
            // Status sent on create is dropped (status subresource), like a real server does.
            let createWithStatus = JSONValue.object([
                "apiVersion": "automagic.dev/v1alpha1", "kind": "NodeDevice", "metadata": ["name": "worker-1"],
                "status": NodeDeviceFixture.fullStatus,
            ])
            let create = try await lab.kubectl(["create", "-f", "-"], stdin: createWithStatus.jsonString())
            #expect(create.status == 0, "\(create)")
            let created = try await lab.kubectlJSON(["get", "nd", "worker-1"])
            #expect(created["status"] == nil, "status kept on create: \(created)")

            let patch = try await lab.kubectl(["patch", "nd", "worker-1", "--subresource=status", "--type=merge",
                                               "-p", JSONValue.object(["status": NodeDeviceFixture.fullStatus]).jsonString()])
            #expect(patch.status == 0, "\(patch)")
            let object = try await lab.kubectlJSON(["get", "nd", "worker-1"])
            #expect(object["status"] == NodeDeviceFixture.fullStatus,
                    "status round trip differs:\nsent: \(NodeDeviceFixture.fullStatus.jsonString())\ngot:  \(object["status"]?.jsonString() ?? "nil")")

            let table = try await lab.kubectl(["get", "nd"])
            #expect(table.status == 0, "\(table)")
            #expect(tableHeader(table.stdout) == ["NAME", "DEVICES", "NETWORKS", "PROBED", "AGE"], "\(table.stdout)")
            let row = try #require(tableRows(table.stdout).first, "\(table)")
            #expect(row["NAME"] == "worker-1" && row["DEVICES"] == "2", "\(table.stdout)")
            // NETWORKS is `.status.resolvedNetworks`, the agent's comma-separated summary (a column shows only
            // the first result of its JSONPath, so a list could not be shown whole).
            #expect(row["NETWORKS"] == "storage", "\(table.stdout)")
            #expect(row["PROBED"].map { !$0.isEmpty && $0 != "<none>" } == true, "\(table.stdout)")
            let wide = try await lab.kubectl(["get", "nd", "-o", "wide"])
            #expect(tableHeader(wide.stdout) == ["NAME", "DEVICES", "NETWORKS", "PROBED", "AGENT", "AGE"], "\(wide.stdout)")
            #expect(tableRows(wide.stdout).first?["AGENT"] == "0.1.0-test", "\(wide.stdout)")
        }
    }

    /// The schema's defaults are stored for a map that leaves them out: what `kubectl get -o yaml` shows and
    /// what the controller and agents read.
    @Test func schemaDefaultsAreStored() async throws {
        try await withLab { lab in
            try await lab.installCRDs()
            let apply = try await lab.kubectl(["apply", "-f", "hack/lab/maps/mgmt.yaml"])
            try #require(apply.status == 0, "\(apply)")
            let got = try await lab.kubectlJSON(["get", "ndm", "mgmt"])
            #expect(got[path: ["spec", "select"]] == "First", "\(got)")
            #expect(got[path: ["spec", "exclusive"]] == false, "\(got)")
        }
    }

    /// Server-side apply (what GitOps tools use) takes every example too, and reads back the same spec.
    @Test func serverSideApplyOfTheExamples() async throws {
        try await withLab { lab in
            try await lab.installCRDs()
            let files = try repositoryFiles(in: "manifests/examples")
            let apply = try await lab.kubectl(["apply", "--server-side", "--field-manager=conformance", "-f", "manifests/examples/"])
            #expect(apply.status == 0, "\(apply)")
            #expect(apply.lines.filter { $0.hasSuffix(" serverside-applied") }.count == files.count, "\(apply)")
            for file in files {
                let sent = try await clientSideObject(lab, file: file)
                let name = try #require(sent[path: ["metadata", "name"]]?.stringValue)
                let got = try await lab.kubectlJSON(["get", "ndm", name, "--show-managed-fields"])
                var gotSpec = got["spec"] ?? .null
                for (key, value) in networkDeviceMapSpecDefaults where sent[path: ["spec", key]] == nil && gotSpec[key] == value {
                    gotSpec = .object((gotSpec.objectValue ?? [:]).filter { $0.key != key })
                }
                #expect(gotSpec == sent["spec"], "\(file): \(got["spec"]?.jsonString() ?? "nil")")
                let managers = (got[path: ["metadata", "managedFields"]]?.arrayValue ?? []).compactMap { $0["manager"]?.stringValue }
                #expect(managers == ["conformance"], "\(file): \(managers)")
            }
            // Re-applying is a no-op: same resourceVersion.
            let before = try await lab.kubectl(["get", "ndm", "-o", "jsonpath={.items[*].metadata.resourceVersion}"])
            let again = try await lab.kubectl(["apply", "--server-side", "--field-manager=conformance", "-f", "manifests/examples/"])
            #expect(again.status == 0, "\(again)")
            let after = try await lab.kubectl(["get", "ndm", "-o", "jsonpath={.items[*].metadata.resourceVersion}"])
            #expect(before.stdout == after.stdout && !before.stdout.isEmpty, "\(before.stdout) → \(after.stdout)")
        }
    }

    /// Kubernetes 1.24 ignores fieldValidation=Strict (trace 031) and prunes unknown fields silently; the lab
    /// follows it. So on 1.24 a misspelt field (`exclusiv: true`) is dropped without an error even with
    /// kubectl's default strict validation, and the map silently means something else. From 1.25 the same
    /// apply fails with `unknown field "spec.exclusiv"`. This pins the 1.24 behaviour the docs must warn about.
    @Test func unknownFieldsArePrunedSilentlyAsOn124() async throws {
        try await withLab { lab in
            try await lab.installCRDs()
            let version = try await lab.kubectlJSON(["version"])
            let minor = version[path: ["serverVersion", "minor"]]?.stringValue ?? ""
            let typo = """
            apiVersion: automagic.dev/v1alpha1
            kind: NetworkDeviceMap
            metadata:
              name: typo
            spec:
              exclusiv: true
              rules:
              - devices:
                  matchExpressions:
                  - {key: driver, operator: Exists, valuez: [ice]}
            """
            let apply = try await lab.kubectl(["apply", "-f", "-"], stdin: typo)
            if minor.hasPrefix("24") {
                #expect(apply.status == 0, "\(apply)")
                let got = try await lab.kubectlJSON(["get", "ndm", "typo"])
                #expect(got[path: ["spec", "exclusiv"]] == nil && got[path: ["spec", "exclusive"]] != true, "\(got)")
                #expect(got[path: ["spec", "rules"]]?[0]?[path: ["devices", "matchExpressions"]]?[0]?["valuez"] == nil, "\(got)")
            } else {
                #expect(apply.status != 0 && apply.stderr.contains("unknown field"), "server 1.\(minor): \(apply)")
            }
        }
    }
}
