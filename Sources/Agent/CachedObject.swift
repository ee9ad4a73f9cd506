import JSON
import KubeCore

/// What the agent's caches keep of the objects it watches: all but `metadata.managedFields`. The
/// server attaches one entry per writer to every object (for the agent's own NodeDevice, a field
/// set as large as the device list) and the agent never reads them; an update it sends without
/// them leaves the server's record as it is.
enum CachedObject {
    /// `object` without `metadata.managedFields`.
    static func withoutManagedFields<O: KubernetesObject>(_ object: O) -> O {
        guard object.metadata.managedFields != nil else { return object }
        var trimmed = object
        trimmed.metadata.managedFields = nil
        return trimmed
    }

    /// `object` without `metadata.managedFields`, edited in its JSON (no round trip through `ObjectMeta`).
    static func withoutManagedFields(_ object: DynamicObject) -> DynamicObject {
        guard object.json[path: ["metadata", "managedFields"]] != nil else { return object }
        var trimmed = object
        trimmed.json[path: ["metadata", "managedFields"]] = nil
        return trimmed
    }
}
