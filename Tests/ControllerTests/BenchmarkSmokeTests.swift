import Benchmarks
import Foundation
import Testing
@testable import Controller

/// The benchmark hook at a small scale: it populates, measures and reports sensible numbers.
@Suite(.timeLimit(.minutes(2))) struct BenchmarkSmokeTests {
    @Test(.enabled(if: (ProcessInfo.processInfo.environment["AUTOMAGIC_TEST_KUBECONFIG"] ?? "").isEmpty,
                   "creates bench-* Nodes and NodeDevices: lab only"))
    func smallBenchmarkConvergesAndIsQuietAfterwards() async throws {
        try await TestCluster.with { c in
            let result = try await ControllerBenchmark.run(
                client: c.client, nodes: 40, devicesPerNode: 6, maps: 10, changeWindow: .seconds(2), steadyWindow: .seconds(2))
            #expect(result.timeToCorrectSeconds > 0)
            #expect(result.writesToCorrect["networkdevicemaps/status", default: 0] >= 10)
            #expect(result.steadyStateWrites == 0)
            // One node changed: at most its two node writes and the maps it affects.
            let total = result.oneChangeWrites.values.reduce(0, +)
            #expect(total >= 1)
            #expect(result.oneChangeWrites["nodes", default: 0] + result.oneChangeWrites["nodes/status", default: 0] <= 2)
            #expect(result.oneChangeWrites["networkdevicemaps/status", default: 0] <= 10)
            #expect(result.peakRSSMiB > 0)
        }
    }
}
