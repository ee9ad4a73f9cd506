import AutomagicAPI

/// Ordering of probed devices as published.
public enum DeviceConversion {
    /// Every probed device sorted by name (byte order), as `NodeDevice.status.devices` lists them.
    public static func sorted(_ devices: [NetworkDevice]) -> [NetworkDevice] {
        devices.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }
}
