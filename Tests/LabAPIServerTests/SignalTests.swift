import Foundation
import Glibc
import JSON
import LabAPIServer
import Testing
import TestSupport

/// A built program of this package, started in the background the way `hack/lab.sh` (`setsid … &`)
/// and a container runtime start it: default signal dispositions and an EMPTY signal mask. (Foundation's
/// `Process` hands on the test thread's mask, which blocks SIGTERM in every thread of the child and so
/// hides a program that loses the signal.) Output goes to `<dir>/<name>.log`.
final class BackgroundProgram: Sendable {
    let pid: pid_t
    let log: String

    /// Starts the built program `name` (looked up beside the tests).
    convenience init(_ name: String, _ arguments: [String], dir: String, environment: [String: String] = [:]) throws {
        try self.init(executable: try builtProduct(name), arguments, dir: dir, environment: environment)
    }

    init(executable: String, _ arguments: [String], dir: String, environment: [String: String] = [:]) throws {
        log = "\(dir)/\((executable as NSString).lastPathComponent).log"
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let log = self.log
        pid = try spawnChild(executable, arguments, environment: env, ownProcessGroup: false) { actions in
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
    }

    func signal(_ number: Int32) { kill(pid, number) }

    /// The exit status (128 + signal when a signal ended it), or nil when it still runs after `timeout`.
    func wait(timeout: Duration) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while true {
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { return exitStatus(waitStatus: status) }
            if r < 0 { return -1 }
            if ContinuousClock.now >= deadline { return nil }
            usleep(10_000)
        }
    }

    /// Ends the program if a failed test left it running (SIGKILL; the test already failed).
    func reap() {
        if wait(timeout: .zero) == nil {
            kill(pid, SIGKILL)
            _ = wait(timeout: .seconds(5))
        }
    }

    /// The program's output so far ("" before it wrote any); a log that cannot be read throws.
    func readLog() throws -> String { try contentsIfPresent(log) }

    /// `readLog()` for a failure message: a log that cannot be read is recorded as an issue and
    /// named in the text instead.
    var output: String { logText(log) }
}

/// SIGTERM and SIGINT stop the lab's long-running programs promptly and cleanly (issue 13, item 3), started
/// as the lab starts them (empty signal mask), with a client connected: exit 0 within 2 s, the lab API
/// server's `--data` snapshot holding the last change.
@Suite(.serialized) struct SignalTests {
    @Test(arguments: [SIGTERM, SIGINT])
    func labAPIServerStopsOnSignalAndWritesItsSnapshot(_ number: Int32) async throws {
        let dir = try makeTempDir("amsig", inMemory: true)
        defer { removeTestFiles(dir) }
        let server = try BackgroundProgram("automagic-lab-apiserver", [
            "--port", "0", "--cert-dir", "\(dir)/pki", "--kubeconfig-out", "\(dir)/kubeconfig",
            "--data", "\(dir)/data.json", "--port-file", "\(dir)/port",
        ], dir: dir)
        defer { server.reap() }
        #expect(try await eventually(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: "\(dir)/port") }, "\(server.output)")
        // A change the periodic snapshot (every 10 s) has not written yet, and a watch that is open at the signal.
        try sh("kubectl", "--kubeconfig", "\(dir)/kubeconfig", "create", "namespace", "written-at-exit")
        let kubectl = try sh("sh", "-c", "command -v kubectl").trimmingCharacters(in: .whitespacesAndNewlines)
        let watch = try BackgroundProgram(executable: kubectl, ["--kubeconfig", "\(dir)/kubeconfig", "get", "namespaces", "--watch"], dir: dir)
        defer { watch.reap() }
        #expect(try await eventually(timeout: .seconds(10)) { try watch.readLog().contains("written-at-exit") }, "\(watch.output)")
        let start = ContinuousClock.now
        server.signal(number)
        let status = server.wait(timeout: .seconds(5))
        let elapsed = ContinuousClock.now - start
        #expect(status == 0, "exit status \(String(describing: status)) after \(elapsed)\n\(server.output)")
        #expect(elapsed < .seconds(2), "stopped after \(elapsed)")
        let snapshot = try String(contentsOfFile: "\(dir)/data.json", encoding: .utf8)
        #expect(snapshot.contains("written-at-exit"), "the final snapshot lacks the namespace created just before the signal")
    }

    /// A lab API server in the background with the repository's CRDs applied; returns its kubeconfig.
    static func startLab(dir: String) async throws -> (BackgroundProgram, String) {
        let server = try BackgroundProgram("automagic-lab-apiserver", [
            "--port", "0", "--cert-dir", "\(dir)/pki", "--kubeconfig-out", "\(dir)/kubeconfig", "--port-file", "\(dir)/port",
        ], dir: dir)
        guard try await eventually(timeout: .seconds(20), { FileManager.default.fileExists(atPath: "\(dir)/port") }) else {
            server.reap()
            throw TestFailure("the lab API server did not start: \(server.output)")
        }
        try sh("kubectl", "--kubeconfig", "\(dir)/kubeconfig", "apply", "-f", repositoryPath("crds"))
        return (server, "\(dir)/kubeconfig")
    }

    /// Starts `name` against a background lab server, waits until it serves, sends SIGTERM and checks a clean
    /// exit within 2 s with `farewell` in its log; then stops the lab server the same way.
    static func stopsOnSIGTERM(_ name: String, _ arguments: (_ kubeconfig: String, _ dir: String) -> [String], farewell: String) async throws {
        let dir = try makeTempDir("amsig", inMemory: true)
        defer { removeTestFiles(dir) }
        let (lab, kubeconfig) = try await startLab(dir: dir)
        defer { lab.reap() }
        let program = try BackgroundProgram(name, arguments(kubeconfig, dir) + ["--health-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"], dir: dir)
        defer { program.reap() }
        #expect(try await eventually(timeout: .seconds(20)) { try program.readLog().contains("serving health and metrics") }, "\(program.output)")
        try await Task.sleep(for: .milliseconds(500))
        let start = ContinuousClock.now
        program.signal(SIGTERM)
        let status = program.wait(timeout: .seconds(10))
        #expect(status == 0, "exit status \(String(describing: status))\n\(program.output)")
        #expect(ContinuousClock.now - start < .seconds(2))
        #expect(try program.readLog().contains(farewell), "\(program.output)")
        lab.signal(SIGTERM)
        #expect(lab.wait(timeout: .seconds(2)) == 0)
    }

    @Test func controllerStopsOnSIGTERM() async throws {
        try await Self.stopsOnSIGTERM("automagic-controller", { kubeconfig, _ in ["--kubeconfig", kubeconfig] }, farewell: "shut down on signal")
    }

    @Test func agentStopsOnSIGTERM() async throws {
        let netns = try TestNetns()
        defer { netns.remove() }
        try await Self.stopsOnSIGTERM("automagic-agent", { kubeconfig, dir in
            ["--kubeconfig", kubeconfig, "--node-name", "sig-node", "--netns", netns.path, "--mapping-file", "\(dir)/mapping.json", "--no-lldp"]
        }, farewell: "shutting down")
    }
}
