import Foundation
import Testing
import TestSupport

/// docs/kubectl-plugin.md as a test: every `$ kubectl automagic …` example in a `console` block runs against
/// the suite's lab (the scenario the page describes) and must print what the page shows and exit as it implies
/// (an `error:` line means a non-zero exit). `$ cat FILE` examples create the files the next commands read.
@Suite("docs/kubectl-plugin.md examples")
struct DocsTests {
    struct Example { var command: String; var expected: [String] }

    /// The `$ ` commands of the console blocks, each with the lines shown after it.
    static func examples() throws -> [Example] {
        let text = try readRepositoryFile("docs/kubectl-plugin.md")
        var out: [Example] = []
        var inConsole = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line == "```console" { inConsole = true; continue }
            if inConsole, line == "```" { inConsole = false; continue }
            guard inConsole else { continue }
            if line.hasPrefix("$ ") {
                out.append(Example(command: String(line.dropFirst(2)), expected: []))
            } else if !out.isEmpty {
                out[out.count - 1].expected.append(line)
            }
        }
        return out
    }

    static func normalized(_ lines: [String]) -> [String] {
        var l = lines.map { String($0.reversed().drop { $0 == " " }.reversed()) }
        while l.last?.isEmpty == true { l.removeLast() }
        return l
    }

    @Test func everyExampleRunsAndPrintsWhatThePageShows() async throws {
        let examples = try Self.examples()
        try #require(examples.count >= 10, "found only \(examples.count) examples")
        let dir = NSTemporaryDirectory() + "kubectl-plugin-docs-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { removeTestFiles(dir) }
        var files: [String: String] = [:]  // name on the page -> path here
        var ran = 0
        for example in examples {
            var words = example.command.split(separator: " ").map(String.init)
            if words.first == "cat", words.count == 2 {
                let path = dir + "/" + words[1]
                try (example.expected.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
                files[words[1]] = path
                continue
            }
            try #require(words.starts(with: ["kubectl", "automagic"]), "not a plugin command: \(example.command)")
            var head: Int?
            if let bar = words.firstIndex(of: "|") {
                let rest = Array(words[(bar + 1)...])
                try #require(rest.count == 2 && rest[0] == "head" && rest[1].hasPrefix("-"), "unsupported pipe: \(example.command)")
                head = Int(rest[1].dropFirst())
                words = Array(words[..<bar])
            }
            var args = Array(words.dropFirst(2))
            for (i, a) in args.enumerated() {
                if let path = files[a] { args[i] = path } else if a.hasPrefix("hack/") { args[i] = repositoryPath(a) }
            }
            let r = try await runPlugin(args)
            var output = (r.stdout + r.stderr).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            for (name, path) in files { output = output.map { $0.replacingOccurrences(of: path, with: name) } }
            if let head { output = Array(output.prefix(head)) }
            let expected = Self.normalized(example.expected)
            let got = Self.normalized(output)
            #expect(got == expected, "\(example.command): the page shows\n\(expected.joined(separator: "\n"))\nbut it printed\n\(got.joined(separator: "\n"))")
            let shownError = expected.contains { $0.hasPrefix("error: ") }
            #expect((r.code != 0) == shownError, "\(example.command): exit \(r.code)")
            ran += 1
        }
        #expect(ran >= 10)
    }
}
