import Foundation
import JSON
@testable import LabAPIServer
import TestSupport
import Testing
import LabTesting

/// The two kustomizations (the install at the repository root, the admission policy in
/// manifests/admission-policy/) rendered by `kubectl kustomize` against the plain files they stand for.
@Suite struct KustomizeTests {
    /// The objects of a YAML stream (documents split on `---` lines; empty documents dropped).
    static func objects(yaml text: String) throws -> [JSONValue] {
        var docs: [String] = [], current = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "---" { docs.append(current); current = "" } else { current += line + "\n" }
        }
        docs.append(current)
        return try docs.compactMap { doc in
            let value = try Wire.parseYAML(Array(doc.utf8))
            return value == .null ? nil : value
        }
    }

    /// "apiVersion kind namespace/name" of an object.
    static func key(_ o: JSONValue) -> String {
        let ns = o["metadata"]?["namespace"]?.stringValue ?? ""
        return "\(o["apiVersion"]?.stringValue ?? "?") \(o["kind"]?.stringValue ?? "?") \(ns)/\(o["metadata"]?["name"]?.stringValue ?? "?")"
    }

    /// The objects of plain files, keyed.
    static func plainObjects(_ files: [String]) throws -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for f in files {
            for o in try objects(yaml: readRepositoryFile(f)) { out[key(o)] = o }
        }
        return out
    }

    static func render(_ directory: String) async throws -> [String: JSONValue] {
        let r = try await runCommand(kubectlPath, ["kustomize", directory], currentDirectory: repoRoot, timeout: 60)
        try #require(r.status == 0, "kubectl kustomize \(directory): \(r)")
        var out: [String: JSONValue] = [:]
        for o in try objects(yaml: r.stdout) {
            #expect(out[key(o)] == nil, "\(key(o)) rendered twice")
            out[key(o)] = o
        }
        return out
    }

    /// What `kubectl apply -f crds/ -f manifests/` applies: the top-level files of both folders.
    static func plainInstallFiles() throws -> [String] {
        try (repositoryFiles(in: "crds", extensions: ["yaml", "yml"]) + repositoryFiles(in: "manifests", extensions: ["yaml", "yml"]))
            .filter { !isKustomization($0) }
    }

    @Test func theInstallKustomizationRendersWhatThePlainInstallApplies() async throws {
        let plain = try Self.plainObjects(try Self.plainInstallFiles())
        let rendered = try await Self.render(".")
        try #require(!plain.isEmpty)
        #expect(Set(rendered.keys) == Set(plain.keys),
                "only rendered: \(Set(rendered.keys).subtracting(plain.keys).sorted()); only plain: \(Set(plain.keys).subtracting(rendered.keys).sorted())")
        for (k, o) in plain { #expect(rendered[k] == o, "\(k) differs between kubectl kustomize . and the plain file") }
        // Neither examples, NADs nor the admission policy are part of the install.
        #expect(!rendered.keys.contains { $0.contains(" NetworkDeviceMap ") || $0.contains("ValidatingAdmissionPolicy") || $0.contains("NetworkAttachmentDefinition") || $0.hasPrefix("v1 Pod ") },
                "\(rendered.keys.sorted())")
    }

    @Test func theAdmissionPolicyKustomizationRendersItsFolder() async throws {
        let files = try repositoryFiles(in: "manifests/admission-policy", extensions: ["yaml"]).filter { !isKustomization($0) }
        let plain = try Self.plainObjects(files)
        let rendered = try await Self.render("manifests/admission-policy")
        #expect(Set(rendered.keys) == Set(plain.keys), "\(rendered.keys.sorted()) vs \(plain.keys.sorted())")
        for (k, o) in plain { #expect(rendered[k] == o, "\(k) differs") }
        let policy = try #require(rendered.values.first { $0["kind"]?.stringValue == "ValidatingAdmissionPolicy" })
        #expect(policy["spec"]?["failurePolicy"]?.stringValue == "Fail")
        let rules = try #require(policy["spec"]?["matchConstraints"]?["resourceRules"]?.arrayValue)
        let operations = Set(rules.flatMap { $0["operations"]?.arrayValue ?? [] }.compactMap(\.stringValue))
        #expect(operations == ["CREATE", "UPDATE", "DELETE"], "\(operations)")
        // DELETE has no object: the name must come from oldObject.
        let spec = policy["spec"].map { String(decoding: $0.serialized(), as: UTF8.self) } ?? ""
        #expect(spec.contains("oldObject.metadata.name"), "\(spec)")
        #expect(rendered.values.contains { $0["kind"]?.stringValue == "ValidatingAdmissionPolicyBinding" })
    }

    /// An operator's overlay with `images:` changes the three image fields and nothing else.
    @Test func anImagesEntrySetsTheImageWithoutEditingYAML() async throws {
        let tmp = try TempDir("am-kustomize")
        defer { tmp.cleanup() }
        do {
            let dir = tmp.path
            _ = try tmp.write("kustomization.yaml", """
            resources:
              - \(String(repeating: "../", count: dir.split(separator: "/").count) + repoRoot.drop { $0 == "/" })
            images:
              - name: ghcr.io/automagic-dev/automagic
                newName: registry.example.com/automagic
                newTag: v9.9.9
            """)
            let base = try await Self.render(".")
            let overlay = try await Self.render(dir)
            #expect(Set(base.keys) == Set(overlay.keys))
            let baseText = base.values.map { String(decoding: $0.serialized(), as: UTF8.self) }.joined()
            let overlayText = overlay.values.map { String(decoding: $0.serialized(), as: UTF8.self) }.joined()
            let old = baseText.components(separatedBy: "ghcr.io/automagic-dev/automagic:").count - 1
            // The agent DaemonSet names it three times (init, agent, device plugin), the controller once.
            #expect(old == 4, "the manifests name the image \(old) times")
            #expect(overlayText.components(separatedBy: "registry.example.com/automagic:v9.9.9").count - 1 == old)
            #expect(!overlayText.contains("ghcr.io/automagic-dev/automagic"))
            for (k, o) in base where !String(decoding: o.serialized(), as: UTF8.self).contains("ghcr.io/") {
                #expect(overlay[k] == o, "\(k) changed though it names no image")
            }
        }
    }
}
