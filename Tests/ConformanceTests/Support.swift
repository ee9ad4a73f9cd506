import Foundation
import JSON
import LabTesting
import Testing
import TestSupport

/// The repository checkout these tests belong to (kubectl and the scripts run there).
let repoRoot = repositoryRoot()

/// kubectl as installed on the CI image (1.32: `--subresource`, server-side dry run, field validation).
let kubectlPath = "/usr/bin/kubectl"

/// What a finished command printed.
typealias CommandResult = ProcessOutput

extension ProcessOutput {
    /// stdout split into non-empty lines.
    var lines: [String] { stdout.split(separator: "\n").map(String.init) }
}

/// Failures of the test harness itself (not of the system under test).
enum HarnessError: Error, CustomStringConvertible {
    case parse(what: String, cause: String)
    var description: String {
        switch self {
        case .parse(let what, let cause): return "failed to parse \(what): \(cause)"
        }
    }
}

/// A lab API server started in-process for one test (LabTesting's ``TestLab``), driven with the real kubectl.
final class Lab: Sendable {
    let lab: TestLab
    var dir: String { lab.directory }
    var kubeconfig: String { lab.kubeconfigPath }

    init() throws { lab = try TestLab() }

    /// Stops the server and removes its directory.
    func stop() { lab.stop() }

    /// Runs `kubectl --kubeconfig <lab> --cache-dir <lab>/cache ARGS` from the repository root.
    func kubectl(_ args: [String], stdin: String? = nil, timeout: Double = 60) async throws -> CommandResult {
        try await runCommand(kubectlPath, ["--kubeconfig", kubeconfig, "--cache-dir", dir + "/kubectl-cache"] + args,
                             stdin: stdin, currentDirectory: repoRoot, timeout: timeout)
    }

    /// `kubectl ARGS -o json`, parsed.
    func kubectlJSON(_ args: [String], stdin: String? = nil) async throws -> JSONValue {
        let r = try await kubectl(args + ["-o", "json"], stdin: stdin)
        guard r.status == 0 else { throw HarnessError.parse(what: "kubectl \(args.joined(separator: " ")) -o json", cause: r.description) }
        do { return try JSONValue.parse(r.stdout) } catch {
            throw HarnessError.parse(what: "kubectl \(args.joined(separator: " ")) -o json", cause: "\(error)")
        }
    }

    /// Applies `crds/` and waits until both CRDs are Established.
    func installCRDs() async throws {
        let apply = try await kubectl(["apply", "-f", "crds/"])
        try #require(apply.status == 0, "kubectl apply -f crds/: \(apply)")
        let wait = try await kubectl(["wait", "--for=condition=Established", "--timeout=30s"] + Lab.crdNames.map { "crd/" + $0 })
        try #require(wait.status == 0, "kubectl wait: \(wait)")
        // kubectl caches discovery (6 h): the first command above cached it before the CRDs existed.
        // `kubectl get ndm` recovers by itself (its REST mapper re-reads discovery on a miss), but
        // `kubectl get automagic` (category) and `kubectl explain ndm` do not; `api-resources` refreshes
        // the cache, as a user would after installing CRDs.
        let refresh = try await kubectl(["api-resources", "--api-group=automagic.dev", "-o", "name"])
        try #require(Set(refresh.lines) == ["networkdevicemaps.automagic.dev", "nodedevices.automagic.dev"], "kubectl api-resources: \(refresh)")
    }

    static let crdNames = ["networkdevicemaps.automagic.dev", "nodedevices.automagic.dev"]
}

/// Starts a lab, runs `body`, stops the lab even when `body` throws.
func withLab<T>(_ body: (Lab) async throws -> T) async throws -> T {
    let lab = try Lab()
    return try await withCleanup({ try await body(lab) }, cleanup: lab.stop)
}

/// The header cells of a kubectl table (first line, split on runs of two or more spaces).
func tableHeader(_ output: String) -> [String] {
    guard let first = output.split(separator: "\n").first else { return [] }
    return tableCells(String(first))
}

/// Cells of a table line (kubectl pads columns with at least 3 spaces; single spaces occur inside cells).
func tableCells(_ line: String) -> [String] {
    var cells: [String] = []
    var current = ""
    var spaces = 0
    for ch in line {
        if ch == " " {
            spaces += 1
            continue
        }
        if spaces >= 2, !current.isEmpty { cells.append(current); current = "" } else if spaces == 1 { current.append(" ") }
        spaces = 0
        current.append(ch)
    }
    if !current.isEmpty { cells.append(current) }
    return cells
}

/// A table as header → cell for each row. kubectl left-aligns every cell under its header and separates
/// columns by at least three spaces, so a column starts where a header word follows two or more spaces.
func tableRows(_ output: String) -> [[String: String]] {
    let lines = output.split(separator: "\n").map { Array(String($0)) }
    guard let header = lines.first else { return [] }
    var starts: [Int] = []
    for i in header.indices where header[i] != " " {
        if i == 0 || (i >= 2 && header[i - 1] == " " && header[i - 2] == " ") { starts.append(i) }
    }
    func cell(_ line: [Character], _ n: Int) -> String {
        let s = min(starts[n], line.count)
        let e = n + 1 < starts.count ? min(starts[n + 1], line.count) : line.count
        return String(line[s..<max(s, e)]).trimmingCharacters(in: .whitespaces)
    }
    let names = starts.indices.map { cell(header, $0) }
    return lines.dropFirst().map { line in
        var row: [String: String] = [:]
        for n in starts.indices { row[names[n]] = cell(line, n) }
        return row
    }
}

/// One YAML document's top-level `apiVersion` and `kind` (enough to classify a manifest without a YAML parser).
struct ManifestObject: Hashable, Sendable, CustomStringConvertible {
    var file: String
    var apiVersion: String
    var kind: String
    var description: String { "\(apiVersion) \(kind) in \(file)" }
}

/// The objects in a multi-document YAML file, by their unindented `apiVersion:`/`kind:` lines.
func manifestObjects(file: String) throws -> [ManifestObject] {
    let text = try readRepositoryFile(file)
    var objects: [ManifestObject] = []
    var apiVersion: String?, kind: String?
    func flush() {
        if let apiVersion, let kind { objects.append(ManifestObject(file: file, apiVersion: apiVersion, kind: kind)) }
        apiVersion = nil; kind = nil
    }
    for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
        let line = String(raw)
        if line.hasPrefix("---") { flush(); continue }
        func value(_ key: String) -> String? {
            guard line.hasPrefix(key + ":") else { return nil }
            var v = line.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces)
            if let hash = v.range(of: " #") { v = String(v[..<hash.lowerBound]).trimmingCharacters(in: .whitespaces) }
            return v.trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
        }
        if let v = value("apiVersion") { apiVersion = v }
        if let v = value("kind") { kind = v }
    }
    flush()
    return objects
}

/// Whether a repository path names a kustomization file (kustomize's input, not an object to apply).
func isKustomization(_ path: String) -> Bool {
    ["kustomization.yaml", "kustomization.yml", "Kustomization"].contains((path as NSString).lastPathComponent)
}
