import DeviceProbe
import JSON

/// Timing of repeated full probes.
public struct ProbeTiming: Sendable, Hashable, CustomStringConvertible {
    /// Devices listed by the last probe.
    public var devices: Int
    /// Every probe's wall time, in the order run.
    public var samples: [Duration]
    /// Median wall time.
    public var median: Duration { samples.sorted()[samples.count / 2] }
    /// Fastest wall time.
    public var fastest: Duration { samples.min() ?? .zero }
    /// Slowest wall time.
    public var slowest: Duration { samples.max() ?? .zero }

    /// One JSON object: `devices`, `iterations`, `minMs`, `medianMs`, `maxMs` (hack/bench-agent.sh reads it).
    public var description: String {
        func ms(_ d: Duration) -> JSONValue {
            let v = Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
            return .double((v * 1000).rounded() / 1000)
        }
        let v: JSONValue = [
            "devices": .int(Int64(devices)), "iterations": .int(Int64(samples.count)),
            "minMs": ms(fastest), "medianMs": ms(median), "maxMs": ms(slowest),
        ]
        return v.jsonString()
    }
}

/// The probe benchmark (issue 5): full probes of one network namespace, timed one by one, to compare
/// with `ip -n NS -j -d link show` + `ip -n NS -j addr show` on the same namespace (hack/bench-agent.sh).
///
/// ```swift
/// let t = try await ProbeBenchmark.run(iterations: 21, netnsPath: "/var/run/netns/bench")
/// print(t)   // {"devices":500,"iterations":21,"medianMs":...}
/// ```
public enum ProbeBenchmark {
    /// Errors before any probe runs.
    public struct InvalidIterations: Error, CustomStringConvertible {
        public var iterations: Int
        public var description: String { "iterations must be positive, not \(iterations)" }
    }

    /// Runs one warm-up probe and then `iterations` timed full probes on the probe thread, as the
    /// agent does (no netlink watch, no resync).
    public static func run(iterations: Int, hostRoot: String = "/", netnsPath: String? = nil) async throws -> ProbeTiming {
        guard iterations > 0 else { throw InvalidIterations(iterations: iterations) }
        let prober = try DeviceProber(hostRoot: hostRoot, netnsPath: netnsPath, watch: .init(resyncInterval: nil))
        defer { prober.shutdown() }
        var count = try await prober.probe().count
        var samples: [Duration] = []
        let clock = ContinuousClock()
        for _ in 0..<iterations {
            let start = clock.now
            count = try await prober.probe().count
            samples.append(start.duration(to: clock.now))
        }
        return ProbeTiming(devices: count, samples: samples)
    }
}
