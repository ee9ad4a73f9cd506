import Foundation
import JSON
import LabTesting
import Testing
import TestSupport

/// The controller benchmark at a small scale, through the built `automagic-bench` binary against an
/// in-process lab API server with the CRDs: it populates, measures and reports sensible numbers.
@Suite(.timeLimit(.minutes(2))) struct BenchmarkSmokeTests {
    @Test(.enabled(if: RealCluster.isAbsent,
                   "creates bench-* Nodes and NodeDevices: lab only"))
    func smallBenchmarkConvergesAndIsQuietAfterwards() async throws {
        let out = try await TestCluster.with { c in
            let kubeconfig = try #require(c.lab?.kubeconfigPath)
            return try run(try builtProduct("automagic-bench"), [
                "controller", "--kubeconfig", kubeconfig, "--nodes", "40", "--devices", "6", "--maps", "10",
                "--change-window", "2", "--steady-window", "2",
            ], timeout: 110)
        }
        #expect(out.status == 0, "\(out)")
        let result = try JSONValue.parse(out.stdout)
        #expect((result["timeToCorrectSeconds"]?.doubleValue ?? 0) > 0, "\(result)")
        #expect((result[path: ["writesToCorrect", "networkdevicemaps/status"]]?.intValue ?? 0) >= 10, "\(result)")
        #expect(result["steadyStateWrites"]?.intValue == 0, "\(result)")
        // One node changed: at most its two node writes and the maps it affects.
        let oneChange = try #require(result["oneChangeWrites"]?.objectValue)
        #expect(oneChange.values.compactMap(\.intValue).reduce(0, +) >= 1, "\(result)")
        #expect((oneChange["nodes"]?.intValue ?? 0) + (oneChange["nodes/status"]?.intValue ?? 0) <= 2, "\(result)")
        #expect((oneChange["networkdevicemaps/status"]?.intValue ?? 0) <= 10, "\(result)")
        #expect((result["peakRSSMiB"]?.doubleValue ?? 0) > 0, "\(result)")
    }
}
