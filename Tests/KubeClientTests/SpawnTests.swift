import Testing
@testable import KubeClient

/// The posix_spawn-based child process runner used for exec credential plugins (it replaced
/// corelibs Foundation's Process in KubeClient).
@Suite struct SpawnTests {
    func run(_ script: String, timeout: Duration = .seconds(10), environment: [String] = ["A=1"]) throws
        -> (output: String, error: String, status: Int32, timedOut: Bool) {
        let child = try SpawnedChild.spawn(path: "/bin/sh", arguments: ["/bin/sh", "-c", script], environment: environment).get()
        let deadline = ContinuousClock.now + timeout
        let (output, error, outputTimedOut) = child.collect(until: deadline)
        let (status, exitTimedOut) = child.wait(until: deadline)
        return (String(decoding: output, as: UTF8.self), String(decoding: error, as: UTF8.self), status, outputTimedOut || exitTimedOut)
    }

    @Test func outputErrorAndStatus() throws {
        let r = try run("echo out-$A; echo err >&2; exit 3")
        #expect(r.output == "out-1\n")
        #expect(r.error == "err\n")
        #expect(r.status == 3)
        #expect(!r.timedOut)
    }

    @Test func onlyTheGivenEnvironmentAndNoStdin() throws {
        let r = try run("echo \"[$HOME][$A]\"; cat; echo done", environment: ["A=x y"])
        #expect(r.output == "[][x y]\ndone\n")
        #expect(r.status == 0)
    }

    @Test func largeOutputOnBothPipes() throws {
        let r = try run("i=0; while [ $i -lt 2000 ]; do echo 0123456789012345678901234567890123456789; echo e >&2; i=$((i+1)); done")
        #expect(r.output.utf8.count == 2000 * 41)
        #expect(r.error.utf8.count == 2000 * 2)
        #expect(r.status == 0)
    }

    @Test func killedAtTheDeadline() throws {
        let start = ContinuousClock.now
        let r = try run("sleep 30", timeout: .milliseconds(300))
        #expect(r.timedOut)
        #expect(r.status == 128 + 9)
        #expect(ContinuousClock.now - start < .seconds(10))
        // Output closed early but the child lingers: still killed at the deadline.
        let lingering = try run("exec >&- 2>&-; sleep 30", timeout: .milliseconds(300))
        #expect(lingering.timedOut)
    }

    @Test func missingProgramIsAnError() {
        let result = SpawnedChild.spawn(path: "/nonexistent/plugin", arguments: ["/nonexistent/plugin"], environment: [])
        guard case .failure(let failure) = result else {
            Issue.record("spawning a missing program succeeded")
            return
        }
        #expect(failure.description.contains("No such file"))
    }

    @Test func execRunnerReportsExitStatusAndStderr() async {
        let exec = ExecConfiguration(command: "/bin/sh", args: ["-c", "echo nope >&2; exit 2"])
        let result = await ExecRunner.run(exec: exec, execInfo: "{}", environment: [:])
        guard case .failure(let error) = result else {
            Issue.record("a failing plugin succeeded")
            return
        }
        #expect(error.description.contains("exited with status 2: nope"))
    }
}
