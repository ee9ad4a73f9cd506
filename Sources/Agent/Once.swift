import DeviceProbe

/// `automagic-agent --once`: probe, print, exit; no cluster.
public enum OnceProbe {
    /// Probes the devices of `netnsPath` (nil: the current namespace) once and returns them as
    /// pretty JSON in the `NodeDevice.status` shape (`devices`, `deviceCount`, `probedAt`).
    public static func json(hostRoot: String = "/", netnsPath: String? = nil) throws(AgentError) -> String {
        do {
            return try DeviceProber.snapshotJSON(hostRoot: hostRoot, netnsPath: netnsPath, pretty: true)
        } catch {
            throw .probe(namespace: netnsPath ?? "self", cause: error)
        }
    }
}
