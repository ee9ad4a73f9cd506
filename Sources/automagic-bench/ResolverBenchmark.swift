import Resolver
import SyntheticFleets

/// Benchmarks of the resolver (`automagic-bench resolver`). Pure computation; timing with the
/// standard library's `ContinuousClock` and the thread's CPU clock.
///
/// ```swift
/// for m in ResolverBenchmark.runAll() { print(m) }
/// // resolve 100 maps x 256 devices on one node: 2.1 ms per run (20 runs) ...
/// ```
public enum ResolverBenchmark {
    /// One measurement.
    public struct Measurement: Sendable, CustomStringConvertible {
        /// What was measured.
        public var name: String
        /// Repetitions.
        public var iterations: Int
        /// Total wall time.
        public var total: Duration
        /// Total CPU time of the measuring thread (what the targets are about: wall time on a shared machine includes waiting).
        public var cpu: Duration
        /// Networks resolved to a device over all iterations (guards against dead-code elimination and shows the mix).
        public var resolved: Int
        /// Network results produced over all iterations.
        public var results: Int

        /// Time per iteration.
        public var perIteration: Duration { total / iterations }
        /// Wall milliseconds per iteration.
        public var millisecondsPerIteration: Double { Self.ms(perIteration) }
        /// CPU milliseconds per iteration.
        public var cpuMillisecondsPerIteration: Double { Self.ms(cpu / iterations) }

        static func ms(_ d: Duration) -> Double {
            let c = d.components
            return Double(c.seconds) * 1000 + Double(c.attoseconds) / 1e15
        }

        public var description: String {
            "\(name): \(formatMS(cpuMillisecondsPerIteration)) ms CPU, \(formatMS(millisecondsPerIteration)) ms wall per run (\(iterations) runs; \(resolved) of \(results) network results resolved)"
        }

        func formatMS(_ v: Double) -> String {
            let scaled = (v * 100).rounded() / 100
            return "\(scaled)"
        }
    }

    /// Resolves `maps` synthetic maps against one node with `devices` devices, `iterations` times
    /// (compiling the maps once, outside the timing). Target: 100 × 256 under 5 ms.
    public static func singleNode(maps: Int = 100, devices: Int = 256, iterations: Int = 20, detail: ExplanationDetail = .full, seed: UInt64 = 1) -> Measurement {
        var fleet = SyntheticFleet(seed: seed)
        let node = fleet.node("bench-node")
        let devs = fleet.devices(devices)
        let compiled = Resolver.compile(fleet.maps(maps)).compiled
        var resolved = 0, results = 0
        let clock = ContinuousClock()
        let cpuStart = ProcessStats.threadCPUNanoseconds()
        let total = clock.measure {
            for _ in 0..<iterations {
                let r = Resolver.resolve(node: node, devices: devs, compiled: compiled, detail: detail)
                resolved += r.networks.count { $0.outcome == .resolved }
                results += r.networks.count
            }
        }
        let cpu = Duration.nanoseconds(Int64(ProcessStats.threadCPUNanoseconds() - cpuStart))
        return Measurement(name: "resolve \(maps) maps x \(devices) devices on one node (\(detail))", iterations: iterations, total: total, cpu: cpu, resolved: resolved, results: results)
    }

    /// A controller full resync: compiles `maps` maps, then resolves every one of `nodes` nodes
    /// with `devicesPerNode` devices each, on the calling thread. Target: 5,000 × 100 under 10 s.
    /// Node generation happens before the timing starts.
    public static func fleet(nodes: Int = 5000, maps: Int = 100, devicesPerNode: Int = 16, detail: ExplanationDetail = .summary, seed: UInt64 = 2) -> Measurement {
        var fleet = SyntheticFleet(seed: seed)
        let mapObjects = fleet.maps(maps)
        let world = (0..<nodes).map { i in (fleet.node("node-\(i)"), fleet.devices(devicesPerNode)) }
        var resolved = 0, results = 0
        let clock = ContinuousClock()
        let cpuStart = ProcessStats.threadCPUNanoseconds()
        let total = clock.measure {
            let compiled = Resolver.compile(mapObjects).compiled
            for (node, devices) in world {
                let r = Resolver.resolve(node: node, devices: devices, compiled: compiled, detail: detail)
                resolved += r.networks.count { $0.outcome == .resolved }
                results += r.networks.count
            }
        }
        let cpu = Duration.nanoseconds(Int64(ProcessStats.threadCPUNanoseconds() - cpuStart))
        return Measurement(name: "full resync: \(nodes) nodes x \(maps) maps, \(devicesPerNode) devices per node (\(detail))", iterations: 1, total: total, cpu: cpu, resolved: resolved, results: results)
    }

    /// Both benchmarks at their target sizes.
    public static func runAll() -> [Measurement] {
        [singleNode(), fleet()]
    }
}
