import AutomagicAPI
import JSON

/// Merge-patch fragments that bring a node's scheduling labels (`networks.automagic.dev/*`) to the
/// desired set without touching anything else. Pure. (Extended resources `automagic.dev/*` are
/// the kubelet's: the device plugin advertises them.)
enum NodeSignals {
    /// `{"<key>": "true", "<gone>": null}` for the labels under `networks.automagic.dev/`, or nil when nothing changes.
    static func labelPatch(current: [String: String], desired: [String: String]) -> JSONValue? {
        patch(current: current, desired: desired, prefix: Automagic.networkLabelPrefix)
    }

    static func patch(current: [String: String], desired: [String: String], prefix: String) -> JSONValue? {
        var changes: [String: JSONValue] = [:]
        for (key, value) in desired where current[key] != value { changes[key] = .string(value) }
        for key in current.keys where key.hasPrefix(prefix) && desired[key] == nil { changes[key] = .null }
        return changes.isEmpty ? nil : .object(changes)
    }
}
