import Testing
@testable import Agent
import NativeThreads

/// The agent's hand-written command line (it replaced swift-argument-parser in the binary).
@Suite struct CommandLineTests {
    @Test func defaultsMatchTheDocumentedOnes() throws {
        let options = try AgentCommandLine.parse([])
        #expect(options == AgentCommandLine())
        #expect(options.mappingFile == "/run/automagic/mapping.json")
        #expect(options.healthAddr == ":9740" && options.metricsAddr == ":9741")
        #expect(options.logLevel == "info" && options.resyncPeriod == "5m" && options.hostRoot == "/")
        #expect(!options.once && !options.noLLDP && !options.help)
        #expect(options.kubeconfig == nil && options.nodeName == nil && options.netns == nil)
    }

    @Test func bothValueFormsAndFlags() throws {
        let options = try AgentCommandLine.parse([
            "--kubeconfig", "/k", "--node-name=worker-1", "--mapping-file=/run/x.json", "--once", "--netns", "/proc/1/ns/net",
            "--lldp-devices", "eth*,bond0", "--no-lldp", "--log-level=debug", "--health-addr=", "--metrics-addr", "127.0.0.1:0",
            "--resync-period", "30s", "--host-root=/host",
        ])
        #expect(options.kubeconfig == "/k")
        #expect(options.nodeName == "worker-1")
        #expect(options.mappingFile == "/run/x.json")
        #expect(options.once)
        #expect(options.netns == "/proc/1/ns/net")
        #expect(options.lldpDevices == "eth*,bond0")
        #expect(options.noLLDP)
        #expect(options.logLevel == "debug")
        #expect(options.healthAddr == "")
        #expect(options.metricsAddr == "127.0.0.1:0")
        #expect(options.resyncPeriod == "30s")
        #expect(options.hostRoot == "/host")
        #expect(try AgentCommandLine.parse(["-h"]).help)
        #expect(try AgentCommandLine.parse(["--node-name", "n", "--help"]).help)
        // A value may look like an option when it follows one that takes a value.
        #expect(try AgentCommandLine.parse(["--netns", "--once"]).netns == "--once")
    }

    @Test func mistakesNameTheOption() {
        let cases: [([String], String)] = [
            (["--nope"], "unknown option '--nope'"),
            (["--node-name"], "missing value for '--node-name'"),
            (["--once=yes"], "'--once' does not take a value"),
            (["worker-1"], "unexpected argument 'worker-1'"),
            (["-x"], "unexpected argument '-x'"),
            // The product binary has no benchmark flags (automagic-bench probe runs the probe benchmark).
            (["--bench-probes", "7"], "unknown option '--bench-probes'"),
        ]
        for (arguments, message) in cases {
            #expect(throws: AgentCommandLine.UsageError(message: message), "\(arguments)") {
                try AgentCommandLine.parse(arguments)
            }
        }
    }

    @Test func helpListsEveryVisibleOption() {
        let help = AgentCommandLine.helpText
        for option in AgentCommandLine.options {
            #expect(help.contains("--\(option.name)") == !option.hidden, "\(option.name)")
        }
        #expect(help.contains("USAGE: automagic-agent"))
    }
}

/// The malloc settings and the pthread helpers that replaced Foundation's Thread/NSCondition.
@Suite struct RuntimeHelperTests {
    @Test func heapTuningTalksToGlibc() {
        #if canImport(Glibc)
        #expect(HeapTuning.useSingleArena())
        var blocks: [[UInt8]] = (0..<64).map { _ in [UInt8](repeating: 1, count: 256 * 1024) }
        #expect(blocks.count == 64)
        blocks.removeAll()
        // After freeing 16 MiB something can be returned (mmap'd blocks are already gone; the
        // call must at least work and not crash).
        _ = HeapTuning.releaseFreeMemory()
        #endif
    }

    @Test func workerRunsJobsInOrderOnItsOwnThread() async {
        let worker = BlockingWorker(name: "test-worker")
        defer { worker.stop() }
        var results: [Int] = []
        for i in 0..<20 {
            results.append(await worker.run { i * 2 })
        }
        #expect(results == (0..<20).map { $0 * 2 })
    }

    @Test func nativeThreadRunsAndSignals() async {
        let condition = ConditionLock()
        let done = ManagedFlag()
        #expect(NativeThread.start(name: "test-thread", stackSize: 128 * 1024) {
            condition.lock()
            done.value = true
            condition.signal()
            condition.unlock()
        })
        condition.lock()
        while !done.value { condition.wait() }
        condition.unlock()
        #expect(done.value)
    }
}

/// A flag guarded by the test's ConditionLock.
final class ManagedFlag: @unchecked Sendable {
    var value = false
}
