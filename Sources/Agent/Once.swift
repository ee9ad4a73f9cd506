import DeviceProbe

/// `automagic-agent --once`: probe, print, exit; no cluster.
public enum OnceProbe {
    /// Probes the devices of `netnsPath` (nil: the current namespace) once and returns them as
    /// pretty JSON in the `NodeDevice.status` shape (`devices`, `deviceCount`, `probedAt`).
    public static func json(hostRoot: String = "/", netnsPath: String? = nil) throws(AgentError) -> String {
        do {
            return try DeviceProbe.snapshotJSON(hostRoot: hostRoot, netnsPath: netnsPath, pretty: true)
        } catch {
            throw .probe(namespace: netnsPath ?? "self", cause: error)
        }
    }
}

extension OnceProbe {
    /// Benchmark hook (`--bench-probes N`): runs one warm-up probe and `iterations` timed full
    /// probes on the probe thread; returns JSON with the device count and min/median/max in ms.
    public static func benchmark(iterations: Int, hostRoot: String = "/", netnsPath: String? = nil) async throws(AgentError) -> String {
        guard iterations > 0 else { throw .configuration(field: "--bench-probes", message: "must be positive") }
        do {
            let prober = try DeviceProber(hostRoot: hostRoot, netnsPath: netnsPath, watch: .init(resyncInterval: nil))
            defer { prober.shutdown() }
            var count = try await prober.probe().count
            var times: [Double] = []
            for _ in 0..<iterations {
                let start = ContinuousClock.now
                count = try await prober.probe().count
                let d = ContinuousClock.now - start
                times.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
            }
            times.sort()
            func ms(_ v: Double) -> String { "\((v * 1000).rounded() / 1000)" }
            return "{\"devices\": \(count), \"iterations\": \(iterations), \"minMs\": \(ms(times[0])), "
                + "\"medianMs\": \(ms(times[times.count / 2])), \"maxMs\": \(ms(times[times.count - 1]))}"
        } catch {
            throw .probe(namespace: netnsPath ?? "self", cause: error)
        }
    }
}
