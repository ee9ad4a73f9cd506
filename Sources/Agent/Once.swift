import AutomagicAPI
import DeviceProbe
import JSON

/// `automagic-agent --once`: probe, print, exit; no cluster.
public enum OnceProbe {
    /// Probes the devices of `netnsPath` (nil: the current namespace) once.
    public static func devices(hostRoot: String = "/", netnsPath: String? = nil) async throws(AgentError) -> [NetworkDevice] {
        do {
            let prober = try DeviceProber(hostRoot: hostRoot, netnsPath: netnsPath, watch: .init(resyncInterval: nil))
            defer { prober.shutdown() }
            return DeviceConversion.networkDevices(try await prober.probe())
        } catch {
            throw .probe(namespace: netnsPath ?? "self", cause: error)
        }
    }

    /// The devices as pretty JSON with sorted keys: an array in the shape of
    /// `NodeDevice.status.devices`.
    public static func json(_ devices: [NetworkDevice]) throws(AgentError) -> String {
        do {
            return try JSONValue(encoding: devices).jsonString(pretty: true)
        } catch {
            throw .encode(what: "devices", cause: "\(error)")
        }
    }
}
