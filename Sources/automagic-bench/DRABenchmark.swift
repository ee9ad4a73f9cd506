import AutomagicAPI
import DRA
import Resolver
import SyntheticFleets

/// Benchmark of the DeviceClass compiler (`automagic-bench dra`): what the controller does for
/// every `dra` map on each reconcile.
///
/// ```swift
/// print(DRABenchmark.compile(maps: 100, nodes: 1000))
/// // compile 100 dra maps (1000 nodes): 0.4 ms CPU per map …
/// ```
enum DRABenchmark {
    /// One measurement: `maps` synthetic maps (as `dra` networks, every third with a node
    /// selector over a fleet of `nodes`) compiled `iterations` times. Target: 100 maps under 100 ms
    /// of CPU per pass — well under one controller resync of the resolver (seconds), so rendering
    /// classes never dominates a map reconcile.
    static func compile(maps count: Int = 100, nodes: Int = 1000, iterations: Int = 5, seed: UInt64 = 1) -> ResolverBenchmark.Measurement {
        var fleet = SyntheticFleet(seed: seed)
        let infos = (0..<nodes).map { fleet.node("node-\($0)") }
        let maps = fleet.maps(count).map { m -> NetworkDeviceMap in
            var m = m
            m.spec.exclusive = true
            m.spec.dra = true
            if m.spec.select == .fail { m.spec.select = .first }
            return m
        }
        var rendered = 0, results = 0
        let clock = ContinuousClock()
        let cpuStart = ProcessStats.threadCPUNanoseconds()
        let total = clock.measure {
            for _ in 0..<iterations {
                for map in maps {
                    let c = DeviceClassCompiler.compile(map, nodes: infos)
                    results += 1
                    if c.refusal == nil { rendered += 1 }
                }
            }
        }
        let cpu = Duration.nanoseconds(Int64(ProcessStats.threadCPUNanoseconds() - cpuStart))
        return ResolverBenchmark.Measurement(
            name: "compile \(count) dra maps to DeviceClass CEL (\(nodes) nodes)", iterations: iterations, total: total, cpu: cpu,
            resolved: rendered, results: results)
    }
}
