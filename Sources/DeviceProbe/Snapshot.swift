import AutomagicAPI
import FoundationEssentials
import JSON
import KubeCore

extension DeviceProber {
    /// The devices in the `NodeDevice.status` shape: `devices`, `deviceCount`, `probedAt`.
    public func snapshot() async throws(ProbeError) -> NodeDeviceStatus {
        let devices = try await probe()
        return NodeDeviceStatus(devices: devices, probedAt: rfc3339(Date()))
    }
}

/// One-shot probing for `automagic-agent --once`.
public enum DeviceProbe {
    /// Probes once (in `netnsPath` when given) and returns the `NodeDevice.status` shape as
    /// JSON (sorted keys; absent fields omitted). Blocks the calling thread briefly: the probe
    /// runs on its own namespace thread, which is stopped before returning.
    ///
    /// ```swift
    /// print(try DeviceProbe.snapshotJSON(netnsPath: "/proc/1/ns/net", pretty: true))
    /// ```
    public static func snapshotJSON(hostRoot: String = "/", netnsPath: String? = nil,
                                    options: ProbeOptions = .init(), pretty: Bool = true) throws(ProbeError) -> String {
        let prober = try DeviceProber(hostRoot: hostRoot, netnsPath: netnsPath, options: options)
        defer { prober.shutdown() }
        let devices = try prober.probe()
        let status = NodeDeviceStatus(devices: devices, probedAt: rfc3339(Date()))
        do {
            return try JSONValue(encoding: status).jsonString(pretty: pretty)
        } catch {
            throw .encodeJSON(detail: "\(error)")
        }
    }
}

/// Timing of repeated full probes (for the benchmark in docs/benchmarks.md).
public struct ProbeTiming: Sendable, Hashable {
    /// Devices listed by the last probe.
    public var devices: Int
    /// Every probe's wall time, in the order run.
    public var samples: [Duration]
    /// Median wall time.
    public var median: Duration { samples.sorted()[samples.count / 2] }
    /// Fastest wall time.
    public var fastest: Duration { samples.min() ?? .zero }
}

extension DeviceProbe {
    /// Runs `iterations` full probes (after one warm-up) of `netnsPath` and times each.
    /// Compare with `ip -n NS -j -d link show` + `ip -n NS -j addr show` on the same namespace.
    ///
    /// ```swift
    /// let t = try DeviceProbe.measure(netnsPath: "/var/run/netns/bench", iterations: 21)
    /// print(t.devices, t.median)
    /// ```
    public static func measure(hostRoot: String = "/", netnsPath: String? = nil, options: ProbeOptions = .init(),
                               iterations: Int = 11) throws(ProbeError) -> ProbeTiming {
        let prober = try DeviceProber(hostRoot: hostRoot, netnsPath: netnsPath, options: options)
        defer { prober.shutdown() }
        var count = try prober.probe().count
        var samples: [Duration] = []
        let clock = ContinuousClock()
        for _ in 0..<max(1, iterations) {
            let start = clock.now
            count = try prober.probe().count
            samples.append(start.duration(to: clock.now))
        }
        return ProbeTiming(devices: count, samples: samples)
    }
}
