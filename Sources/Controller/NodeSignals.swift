import AutomagicAPI
import JSON

/// Merge-patch fragments that bring a node's scheduling signals (labels `networks.automagic.dev/*`,
/// extended resources `automagic.dev/*`) to the desired set without touching anything else. Pure.
enum NodeSignals {
    /// `{"<key>": "true", "<gone>": null}` for the labels under `networks.automagic.dev/`, or nil when nothing changes.
    static func labelPatch(current: [String: String], desired: [String: String]) -> JSONValue? {
        patch(current: current, desired: desired, prefix: Automagic.networkLabelPrefix)
    }

    /// The same for `status.capacity` entries under `automagic.dev/`.
    static func capacityPatch(current: [String: String], desired: [String: String]) -> JSONValue? {
        patch(current: current, desired: desired, prefix: Automagic.extendedResourcePrefix)
    }

    static func patch(current: [String: String], desired: [String: String], prefix: String) -> JSONValue? {
        var changes: [String: JSONValue] = [:]
        for (key, value) in desired where current[key] != value { changes[key] = .string(value) }
        for key in current.keys where key.hasPrefix(prefix) && desired[key] == nil { changes[key] = .null }
        return changes.isEmpty ? nil : .object(changes)
    }
}
