#if canImport(Glibc)
import Glibc
#endif
import CNI
@testable import CNIPlugin
import JSON
import MappingFile
import Testing
import TestSupport

/// DEL ends by handing over to the delegate: the `automagic` executable `exec`s the delegate's
/// DEL in place of itself (in-process callers run it as a child). These tests run the real
/// executable with fake delegates (shell scripts on CNI_PATH) and check the handover, the cache
/// entry's life cycle, a failing delegate, one that cannot start, and a missing one.
@Suite("DEL hands over to the delegate")
struct DelHandoffTests {
    /// A fake plugin: answers VERSION; otherwise appends `$CNI_COMMAND $PPID` to <dir>/<name>.log,
    /// stores stdin as <dir>/<name>-<COMMAND>.json, fails with code 50 while <dir>/fail-<COMMAND>
    /// exists, and answers ADD with a result.
    static func fake(_ dir: TempDir, name: String = "macvlan") throws {
        let script = """
            #!/bin/sh
            if [ "$CNI_COMMAND" = VERSION ]; then echo '{"cniVersion":"1.1.0","supportedVersions":["0.4.0","1.0.0","1.1.0"]}'; exit 0; fi
            echo "$CNI_COMMAND $PPID" >> \(dir.path)/\(name).log
            cat > \(dir.path)/\(name)-$CNI_COMMAND.json
            if [ -e \(dir.path)/fail-$CNI_COMMAND ]; then echo '{"cniVersion":"1.1.0","code":50,"msg":"\(name) is busy"}'; exit 1; fi
            if [ "$CNI_COMMAND" = ADD ]; then echo '{"cniVersion":"1.1.0","interfaces":[{"name":"net1"}],"ips":[{"address":"10.9.0.2/24","interface":0}]}'; fi
            exit 0

            """
        try dir.write(name, script, mode: 0o755)
    }

    /// Runs ADD in process (it must succeed) and returns `env` ready for the DEL.
    func addedInProcess(_ env: [String: String], _ conf: JSONValue) throws -> [String: String] {
        var e = env
        e["CNI_COMMAND"] = "ADD"
        try #require(runInProcess(e, conf).code == nil)
        e["CNI_COMMAND"] = "DEL"
        return e
    }

    func setup() throws -> (TempDir, [String: String], JSONValue) { try fakeDelegateFixture(cniVersion: "1.0.0") }

    /// Runs the real executable as a child of this process.
    func runBinary(_ command: String, _ env: [String: String], _ conf: JSONValue) throws -> Invocation {
        var e = env
        e["CNI_COMMAND"] = command
        let out = try Delegate.run(path: try automagicBinary(), environment: e, stdin: conf.serialized())
        return Invocation(status: out.status, stdout: out.stdout, stderr: String(decoding: out.stderr, as: UTF8.self))
    }

    func entries(_ dir: TempDir) throws -> [String] {
        guard access(dir.path + "/cache/attachments", F_OK) == 0 else { return [] }
        return try AtomicFile.listDirectory(dir.path + "/cache/attachments").filter { !$0.hasPrefix(".") }
    }

    /// The delegate calls logged by the fake: (command, parent PID).
    func log(_ dir: TempDir, _ name: String = "macvlan") throws -> [(command: String, ppid: Int32)] {
        guard access(dir.path + "/\(name).log", F_OK) == 0 else { return [] }
        return String(decoding: try AtomicFile.read(path: dir.path + "/\(name).log"), as: UTF8.self)
            .split(separator: "\n").map { line in
                let parts = line.split(separator: " ")
                return (String(parts[0]), Int32(parts.count > 1 ? String(parts[1]) : "") ?? -1)
            }
    }

    @Test func delExecsTheDelegateInPlaceAndConsumesTheEntry() throws {
        let (dir, env, conf) = try setup()
        defer { dir.cleanup() }
        try Self.fake(dir)
        let add = try runBinary("ADD", env, conf)
        try #require(add.status == 0, "\(add)")
        #expect(try entries(dir) == ["storage+c1+net1.json"])

        let del = try runBinary("DEL", env, conf)
        #expect(del.status == 0 && del.stdout.isEmpty, "\(del)")
        #expect(try entries(dir).isEmpty)
        let calls = try log(dir)
        try #require(calls.map(\.command) == ["ADD", "DEL"])
        // ADD runs the delegate as automagic's child; DEL replaces automagic, so the delegate's
        // parent is whoever started automagic: this test process.
        #expect(calls[0].ppid != getpid())
        #expect(calls[1].ppid == getpid())
        let sent = try JSONValue.parse(try AtomicFile.read(path: dir.path + "/macvlan-DEL.json"))
        #expect(sent["master"]?.stringValue == "eth7" && sent["mode"]?.stringValue == "bridge")
        #expect(sent["cniVersion"]?.stringValue == "1.0.0" && sent["type"]?.stringValue == "macvlan")
        #expect(sent["network"] == nil && sent["mappingFile"] == nil && sent["cacheDir"] == nil)

        // Idempotent: a second DEL (no entry left) falls back to the mapping and succeeds.
        let again = try runBinary("DEL", env, conf)
        #expect(again.status == 0 && again.stdout.isEmpty, "\(again)")
        #expect(try log(dir).map(\.command) == ["ADD", "DEL", "DEL"])
        // With neither entry nor mapping, there is nothing to do: success without a delegate call.
        try AtomicFile.remove(path: dir.path + "/mapping.json")
        let nothing = try runBinary("DEL", env, conf)
        #expect(nothing.status == 0 && nothing.stdout.isEmpty, "\(nothing)")
        #expect(try log(dir).count == 3)
    }

    @Test func failingDelegateAnswersForTheDelAndTheRetryFallsBackToTheMapping() throws {
        let (dir, env, conf) = try setup()
        defer { dir.cleanup() }
        try Self.fake(dir)
        try #require(try runBinary("ADD", env, conf).status == 0)
        try dir.write("fail-DEL", "")
        let del = try runBinary("DEL", env, conf)
        #expect(del.status == 1, "\(del)")
        // The delegate's own error object is the answer.
        #expect(del.code == 50 && del.message == "macvlan is busy", "\(del)")
        // The entry was consumed before the delegate ran (documented in docs/operations.md).
        #expect(try entries(dir).isEmpty)
        try AtomicFile.remove(path: dir.path + "/fail-DEL")
        let retry = try runBinary("DEL", env, conf)
        #expect(retry.status == 0 && retry.stdout.isEmpty, "\(retry)")
        let sent = try JSONValue.parse(try AtomicFile.read(path: dir.path + "/macvlan-DEL.json"))
        #expect(sent["master"]?.stringValue == "eth7")
    }

    @Test func inProcessDelRunsTheDelegateAsAChildWithTheSameOutcome() throws {
        let (dir, env, conf) = try setup()
        defer { dir.cleanup() }
        try Self.fake(dir)
        let e = try addedInProcess(env, conf)
        try dir.write("fail-DEL", "")
        let failed = runInProcess(e, conf)
        #expect(failed.code == 50 && failed.message == "macvlan DEL failed: macvlan is busy", "\(failed.message)")
        #expect(try entries(dir).isEmpty)
        try AtomicFile.remove(path: dir.path + "/fail-DEL")
        #expect(runInProcess(e, conf).code == nil)
        #expect(try log(dir).map(\.command) == ["ADD", "DEL", "DEL"])
    }

    @Test func prepareDelConsumesTheEntryAndRestoresItWhenTheDelegateCannotStart() throws {
        let (dir, env, conf) = try setup()
        defer { dir.cleanup() }
        try Self.fake(dir)
        let e = try addedInProcess(env, conf)
        let request = CNIRequest(environment: try CNIEnvironment(e), config: try NetConf(json: conf))
        var call = try #require(try AutomagicPlugin().prepareDel(request))
        #expect(call.command == .del && call.path == dir.path + "/macvlan")
        #expect(try JSONValue.parse(call.stdin)["master"]?.stringValue == "eth7")
        #expect(call.environment.variables["CNI_CONTAINERID"] == "c1")
        #expect(try entries(dir).isEmpty)
        // The delegate vanished between preparing and running: the entry is put back.
        call.path = dir.path + "/gone"
        let error = try #require(throws: CNIError.self) { try Delegate.invoke(call) }
        #expect(error.code == .ioFailure && error.message.contains("failed to run plugin"), "\(error)")
        #expect(try entries(dir) == ["storage+c1+net1.json"])
        // A real DEL then uses the restored entry.
        #expect(runInProcess(e, conf).code == nil)
        #expect(try entries(dir).isEmpty)
    }

    @Test func missingDelegateFailsDelOnlyWhenAnAddThroughItIsRecorded() throws {
        let (dir, env, conf) = try setup()
        defer { dir.cleanup() }
        let bin = try TempDir()
        defer { bin.cleanup() }
        var e = env
        e["CNI_PATH"] = bin.path
        // No ADD recorded, no delegate installed: nothing to clean up, DEL succeeds.
        let first = try runBinary("DEL", e, conf)
        #expect(first.status == 0 && first.stdout.isEmpty, "\(first)")
        e["CNI_COMMAND"] = "DEL"
        #expect(runInProcess(e, conf).code == nil)
        // Same with only IPAM known (no mapping entry, no delegate type): the IPAM plugin is missing too.
        var ipamOnly = conf
        ipamOnly["network"] = "elsewhere"
        ipamOnly["ipam"] = ["type": "host-local", "subnet": "10.9.0.0/24"]
        #expect(runInProcess(e, ipamOnly).code == nil)

        // An ADD through the delegate is recorded, then the delegate disappears.
        try Self.fake(bin)
        try #require(try runBinary("ADD", e, conf).status == 0)
        try sh("mv", bin.path + "/macvlan", bin.path + "/macvlan.off")
        let del = try runBinary("DEL", e, conf)
        #expect(del.status == 1 && del.code == 7, "\(del)")
        #expect(del.message.contains("failed to find plugin 'macvlan'") && del.message.contains("stays recorded"), "\(del.message)")
        #expect(try entries(dir) == ["storage+c1+net1.json"])
        // Once it is back, the retry cleans up.
        try sh("mv", bin.path + "/macvlan.off", bin.path + "/macvlan")
        let retry = try runBinary("DEL", e, conf)
        #expect(retry.status == 0, "\(retry)")
        #expect(try entries(dir).isEmpty)
        #expect(try log(bin).map(\.command) == ["ADD", "DEL"])
    }

    @Test func largeConfigurationsAndResultsPassWhole() throws {
        let (dir, env, conf) = try setup()
        defer { dir.cleanup() }
        try Self.fake(dir)
        var big = conf
        let padding = String(repeating: "x", count: 100_000)
        big["x-padding"] = .string(padding)
        let add = try runBinary("ADD", env, big)
        #expect(add.status == 0, "\(add)")
        let sent = try JSONValue.parse(try AtomicFile.read(path: dir.path + "/macvlan-ADD.json"))
        #expect(sent["x-padding"]?.stringValue == padding)
        #expect(add.json?["ips"]?[0]?["address"]?.stringValue == "10.9.0.2/24")
        let del = try runBinary("DEL", env, big)
        #expect(del.status == 0, "\(del)")
        let sentDel = try JSONValue.parse(try AtomicFile.read(path: dir.path + "/macvlan-DEL.json"))
        #expect(sentDel["x-padding"]?.stringValue == padding)
    }
}
