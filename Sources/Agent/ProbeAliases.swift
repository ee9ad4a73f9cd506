// Only DeviceProbe is imported here: `DeviceProbe.WatchOptions` would name a member of the
// module's `DeviceProbe` enum, and KubeClient has a `WatchOptions` of its own.
import DeviceProbe

/// Debounce and resync settings of the netlink change subscription.
typealias ProbeWatchOptions = WatchOptions
