import Foundation
import JSON
import LabAPIServer
import Testing
import TestSupport

/// The repository checkout these tests belong to (…/Tests/ConformanceTests/Support.swift → …).
let repoRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

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
    case launch(command: String, cause: String)
    case parse(what: String, cause: String)
    var description: String {
        switch self {
        case .launch(let command, let cause): return "failed to launch '\(command)': \(cause)"
        case .parse(let what, let cause): return "failed to parse \(what): \(cause)"
        }
    }
}

/// Runs a program to completion on a dedicated thread (never on the cooperative pool), with a deadline.
func runCommand(_ executable: String, _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:],
                currentDirectory: String? = nil, timeout: Double = 60) async throws -> CommandResult {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<CommandResult, any Error>) in
        let thread = Thread {
            do {
                continuation.resume(returning: try runBlocking(executable, arguments, stdin: stdin, environment: environment,
                                                               currentDirectory: currentDirectory, timeout: timeout))
            } catch {
                continuation.resume(throwing: error)
            }
        }
        thread.start()
    }
}

private func runBlocking(_ executable: String, _ arguments: [String], stdin: String?, environment: [String: String],
                         currentDirectory: String?, timeout: Double) throws -> CommandResult {
    var env = ProcessInfo.processInfo.environment
    env["KUBECONFIG"] = nil
    for (k, v) in environment { env[k] = v }
    do {
        return try run(executable, arguments, environment: env, stdin: stdin.map { Array($0.utf8) },
                       currentDirectory: currentDirectory, timeout: timeout)
    } catch {
        throw HarnessError.launch(command: ([executable] + arguments).joined(separator: " "), cause: "\(error)")
    }
}

/// A lab API server started in-process for one test (own temporary directory, loopback, port 0),
/// driven with the real kubectl.
final class Lab: Sendable {
    let server: RunningLabServer
    let dir: String
    var kubeconfig: String { server.kubeconfigPath }

    init() throws {
        dir = NSTemporaryDirectory() + "automagic-conformance-" + UUID().uuidString.prefix(12).lowercased()
        var options = LabServerOptions()
        options.bindAddress = "127.0.0.1"
        options.port = 0
        options.certDir = dir
        options.kubeconfigPath = dir + "/admin.kubeconfig"
        server = try LabServer.start(options)
    }

    /// Stops the server and removes its directory.
    func stop() {
        server.stop()
        do { try FileManager.default.removeItem(atPath: dir) } catch {
            // Nothing to clean if it is already gone; anything else would leak a directory, so say so.
            if FileManager.default.fileExists(atPath: dir) { print("conformance: failed to remove '\(dir)': \(error)") }
        }
    }

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
    do {
        let result = try await body(lab)
        lab.stop()
        return result
    } catch {
        lab.stop()
        throw error
    }
}

/// Files (sorted) with one of `extensions` directly in `directory` (relative to the repository root).
func repoFiles(in directory: String, extensions: Set<String> = ["yaml", "yml", "json"]) throws -> [String] {
    let names = try FileManager.default.contentsOfDirectory(atPath: repoRoot + "/" + directory)
    return names.filter { extensions.contains(($0 as NSString).pathExtension) }.sorted().map { directory + "/" + $0 }
}

/// Files (sorted, relative paths) with one of `extensions` anywhere under `directory`.
func repoFilesRecursive(in directory: String, extensions: Set<String> = ["yaml", "yml", "json"]) throws -> [String] {
    let base = repoRoot + "/" + directory
    guard let e = FileManager.default.enumerator(atPath: base) else {
        throw HarnessError.parse(what: "directory '\(directory)'", cause: "cannot enumerate")
    }
    var out: [String] = []
    while let rel = e.nextObject() as? String {
        if extensions.contains((rel as NSString).pathExtension) { out.append(directory + "/" + rel) }
    }
    return out.sorted()
}

func readRepoFile(_ path: String) throws -> String {
    try String(contentsOfFile: repoRoot + "/" + path, encoding: .utf8)
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
    let text = try readRepoFile(file)
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
