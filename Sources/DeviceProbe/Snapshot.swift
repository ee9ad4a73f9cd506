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

extension DeviceProber {
    /// Probes once (in `netnsPath` when given) and returns the `NodeDevice.status` shape as
    /// JSON (sorted keys; absent fields omitted). Blocks the calling thread briefly: the probe
    /// runs on its own namespace thread, which is stopped before returning.
    ///
    /// ```swift
    /// print(try DeviceProber.snapshotJSON(netnsPath: "/proc/1/ns/net", pretty: true))
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
