import Foundation
import JSON
import Testing
import TestSupport
import LabTesting

/// The report of hack/validate-manifests.sh, parsed from its output.
struct ValidationReport: CustomStringConvertible {
    var accepted = 0
    var errors = 0
    var missingObjects = 0
    var notValidated = 0
    /// "group/version Kind" → object count, from the "missing kinds" section.
    var missing: [String: Int] = [:]
    /// Lines of the "errors" section.
    var errorLines: [String] = []
    /// Lines of the "not validated" section.
    var notValidatedLines: [String] = []
    var output: String
    var description: String { output }

    init(output: String) throws {
        self.output = output
        var section = ""
        for line in output.split(separator: "\n").map(String.init) {
            if line.hasPrefix("validate-manifests: "), line.hasSuffix("object(s) accepted by the server (dry run)") {
                accepted = Int(line.dropFirst("validate-manifests: ".count).split(separator: " ").first ?? "") ?? -1
            } else if line.hasPrefix("validate-manifests: "), line.contains(" error(s), ") {
                // "validate-manifests: N error(s), M object(s) of missing kinds, K object(s) not validated"
                let numbers = line.split(separator: " ").compactMap { Int($0) }
                guard numbers.count == 3 else { throw HarnessError.parse(what: "summary line", cause: line) }
                errors = numbers[0]; missingObjects = numbers[1]; notValidated = numbers[2]
            } else if !line.hasPrefix(" ") {
                section = line
            } else if section.hasPrefix("missing kinds") {
                // "  <gv> <Kind>: <n> object(s) in <files>"
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                guard let colon = trimmed.range(of: ": "), let n = Int(trimmed[colon.upperBound...].split(separator: " ").first ?? "") else {
                    throw HarnessError.parse(what: "missing kinds line", cause: line)
                }
                missing[String(trimmed[..<colon.lowerBound]), default: 0] += n
            } else if section.hasPrefix("errors") {
                errorLines.append(line)
            } else if section.hasPrefix("not validated") {
                notValidatedLines.append(line)
            }
        }
    }
}

/// The kinds the lab serves, as "group/version Kind" (after the CRDs are installed).
func servedKinds(_ lab: Lab) async throws -> Set<String> {
    let r = try await lab.kubectl(["api-resources"])
    try #require(r.status == 0, "\(r)")
    return Set(tableRows(r.stdout).compactMap { row in
        guard let v = row["APIVERSION"], let k = row["KIND"] else { return nil }
        return v + " " + k
    })
}

/// The deployment manifests through hack/validate-manifests.sh and server-side dry runs against the lab.
@Suite struct ManifestTests {
    /// Every object in crds/ and manifests/ (recursively; kustomization files are kustomize's input, not objects),
    /// by its apiVersion and kind.
    static func allObjects() throws -> [ManifestObject] {
        try (repositoryFiles(in: "crds", extensions: ["yaml", "yml"], recursive: true) + repositoryFiles(in: "manifests", extensions: ["yaml", "yml"], recursive: true))
            .filter { !isKustomization($0) }
            .flatMap { try manifestObjects(file: $0) }
    }

    @Test func theManifestsDeclareWhatTheIssueAsksFor() throws {
        let kinds = Set(try Self.allObjects().map { "\($0.apiVersion) \($0.kind)" })
        for required in ["v1 Namespace", "v1 ServiceAccount", "rbac.authorization.k8s.io/v1 ClusterRole",
                         "rbac.authorization.k8s.io/v1 ClusterRoleBinding", "apps/v1 DaemonSet", "apps/v1 Deployment",
                         "apiextensions.k8s.io/v1 CustomResourceDefinition", "automagic.dev/v1alpha1 NetworkDeviceMap"] {
            #expect(kinds.contains(required), "no \(required) in crds/ or manifests/: \(kinds.sorted())")
        }
        #expect(kinds.contains { $0.hasPrefix("admissionregistration.k8s.io/") && $0.hasSuffix(" ValidatingAdmissionPolicy") }, "\(kinds.sorted())")
    }

    /// With --prepare (CRDs and namespaces created for real), every object of a kind the lab serves passes
    /// the server-side dry run, every other object is reported as a missing kind, and there are no errors.
    @Test func validateManifestsSplitsServedAndMissingKinds() async throws {
        try await withLab { lab in
            let script = try await runCommand("/bin/bash", ["hack/validate-manifests.sh", "--prepare", "--kubeconfig", lab.kubeconfig],
                                              currentDirectory: repoRoot, timeout: 120)
            #expect(script.status == 0, "\(script)")
            let report = try ValidationReport(output: script.stdout)
            #expect(report.errors == 0 && report.errorLines.isEmpty, "real errors: \(report)\n\(script.stderr)")
            #expect(report.notValidated == 0, "with --prepare everything is validated: \(report)")

            let served = try await servedKinds(lab)
            let objects = try Self.allObjects()
            let ours = objects.filter { served.contains("\($0.apiVersion) \($0.kind)") }
            let theirs = objects.filter { !served.contains("\($0.apiVersion) \($0.kind)") }
            var expectedMissing: [String: Int] = [:]
            for o in theirs { expectedMissing["\(o.apiVersion) \(o.kind)", default: 0] += 1 }
            #expect(report.accepted == ours.count, "accepted \(report.accepted), expected \(ours.count): \(ours)\n\(report)")
            #expect(report.missing == expectedMissing, "missing kinds \(report.missing), expected \(expectedMissing)\n\(report)")
            #expect(report.missingObjects == theirs.count, "\(report)")
            // The split the lab implies: the lab serves Namespaces, CRDs and our custom resources, not RBAC,
            // workloads or admission policies.
            for kind in ["v1 Namespace", "apiextensions.k8s.io/v1 CustomResourceDefinition", "automagic.dev/v1alpha1 NetworkDeviceMap"] {
                #expect(ours.contains { "\($0.apiVersion) \($0.kind)" == kind }, "\(kind) was not validated: \(report)")
            }
            for group in ["rbac.authorization.k8s.io/", "apps/", "admissionregistration.k8s.io/"] {
                #expect(expectedMissing.keys.contains { $0.hasPrefix(group) }, "\(group) kinds not reported missing: \(report)")
            }

            // The dry run stored nothing but what --prepare created on purpose.
            let maps = try await lab.kubectl(["get", "ndm", "-o", "name"])
            #expect(maps.status == 0 && maps.stdout.isEmpty, "the dry run stored maps: \(maps)")
            let crds = try await lab.kubectl(["get", "crd", "-o", "name"])
            #expect(Set(crds.lines) == Set(Lab.crdNames.map { "customresourcedefinition.apiextensions.k8s.io/" + $0 }), "\(crds)")

            // --strict-kinds turns the missing kinds into a failure (exit 1), still without errors.
            if !expectedMissing.isEmpty {
                let strict = try await runCommand("/bin/bash", ["hack/validate-manifests.sh", "--strict-kinds", "--kubeconfig", lab.kubeconfig],
                                                  currentDirectory: repoRoot, timeout: 120)
                #expect(strict.status == 1, "\(strict)")
                #expect(try ValidationReport(output: strict.stdout).errors == 0, "\(strict)")
            }
        }
    }

    /// Without --prepare on an empty server: no errors; custom resources whose CRD this same apply creates,
    /// and objects in the namespace it creates, are "not validated", never errors.
    @Test func validateManifestsOnAnEmptyServer() async throws {
        try await withLab { lab in
            let script = try await runCommand("/bin/bash", ["hack/validate-manifests.sh", "--kubeconfig", lab.kubeconfig],
                                              currentDirectory: repoRoot, timeout: 120)
            #expect(script.status == 0, "\(script)")
            let report = try ValidationReport(output: script.stdout)
            #expect(report.errors == 0, "\(report)\n\(script.stderr)")
            let maps = try Self.allObjects().filter { $0.kind == "NetworkDeviceMap" }
            #expect(report.notValidated >= maps.count, "\(report)")
            for file in Set(maps.map(\.file)) {
                #expect(report.notValidatedLines.contains { $0.contains(file) }, "\(file) not listed as not validated: \(report)")
            }
            // Nothing was created.
            let crds = try await lab.kubectl(["get", "crd", "-o", "name"])
            #expect(crds.status == 0 && crds.stdout.isEmpty, "\(crds)")
        }
    }

    @Test func validateManifestsUsageErrors() async throws {
        let noConfig = try await runCommand("/bin/bash", ["hack/validate-manifests.sh"], currentDirectory: repoRoot)
        #expect(noConfig.status == 2 && noConfig.stderr.contains("no kubeconfig"), "\(noConfig)")
        let missingFile = try await runCommand("/bin/bash", ["hack/validate-manifests.sh", "--kubeconfig", "/nonexistent/kubeconfig"], currentDirectory: repoRoot)
        #expect(missingFile.status == 2 && missingFile.stderr.contains("/nonexistent/kubeconfig"), "\(missingFile)")
        let badOption = try await runCommand("/bin/bash", ["hack/validate-manifests.sh", "--bogus"], currentDirectory: repoRoot)
        #expect(badOption.status == 2 && badOption.stderr.contains("--bogus"), "\(badOption)")
    }

    /// A real problem in a manifest is an error (exit 1), not hidden among the missing kinds.
    @Test func validateManifestsReportsARealError() async throws {
        try await withLab { lab in
            try await lab.installCRDs()
            let dir = lab.dir + "/bad-manifests"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let bad = try readRepositoryFile("Tests/ResolverTests/Fixtures/invalid/unknown-operator.yaml")
            try bad.write(toFile: dir + "/bad.yaml", atomically: true, encoding: .utf8)
            let script = try await runCommand("/bin/bash", ["hack/validate-manifests.sh", "--kubeconfig", lab.kubeconfig, dir],
                                              currentDirectory: repoRoot, timeout: 120)
            #expect(script.status == 1, "\(script)")
            let report = try ValidationReport(output: script.stdout)
            #expect(report.errors == 1 && report.errorLines.joined().contains("spec.rules[0].devices.matchExpressions[0].operator"), "\(report)")
            #expect(report.missing.isEmpty, "\(report)")
        }
    }

    /// `kubectl apply --dry-run=server -f manifests/examples/` after the CRDs: every map accepted, none stored.
    @Test func examplesPassAServerSideDryRun() async throws {
        try await withLab { lab in
            try await lab.installCRDs()
            let files = try repositoryFiles(in: "manifests/examples")
            let dry = try await lab.kubectl(["apply", "--dry-run=server", "-f", "manifests/examples/"])
            #expect(dry.status == 0, "\(dry)")
            let created = dry.lines.filter { $0.hasSuffix(" created (server dry run)") }
            #expect(created.count == files.count, "\(dry)")
            let stored = try await lab.kubectl(["get", "ndm", "-o", "name"])
            #expect(stored.status == 0 && stored.stdout.isEmpty, "the dry run stored: \(stored)")
            // The NetworkAttachmentDefinitions need Multus, which the lab does not have: reported as a missing kind.
            let nads = try await lab.kubectl(["apply", "--dry-run=server", "-f", "manifests/nads/"])
            #expect(nads.status != 0 && nads.stderr.contains("no matches for kind \"NetworkAttachmentDefinition\""), "\(nads)")
        }
    }
}
