import AutomagicAPI
import JSON
import KubeClient
import KubeCore

/// Rendering of Multus `NetworkAttachmentDefinition`s (`k8s.cni.cncf.io/v1`) from a map's
/// `spec.networkAttachmentDefinition`. Pure; the controller does the I/O.
public enum NADRenderer {
    /// Label on every NAD the controller manages.
    public static let managedByLabel = "app.kubernetes.io/managed-by"
    /// Value of ``managedByLabel``.
    public static let managedByValue = "automagic"
    /// Label naming the network (= map) a managed NAD belongs to.
    public static let networkLabel = "automagic.dev/network"

    /// The label selector of the NADs rendered for `network`.
    public static func selector(for network: String) -> String {
        "\(managedByLabel)=\(managedByValue),\(networkLabel)=\(network)"
    }

    /// The CNI configuration (a JSON string, keys sorted) of the NAD for `map`:
    /// `{"cniVersion":"1.0.0","ipam":{…},"name":"storage","network":"storage","type":"automagic"}`.
    public static func config(for map: NetworkDeviceMap) -> String {
        var object: [String: JSONValue] = [
            "cniVersion": "1.0.0", "name": .string(map.network), "type": "automagic", "network": .string(map.network),
        ]
        if let ipam = map.spec.networkAttachmentDefinition?.ipam, case .object = ipam { object["ipam"] = ipam }
        return JSONValue.object(object).jsonString(pretty: false)
    }

    /// The namespaces the map asks for, unique and sorted.
    public static func namespaces(of map: NetworkDeviceMap) -> [String] {
        Array(Set(map.spec.networkAttachmentDefinition?.namespaces ?? [])).sorted()
    }

    /// The owner reference of every NAD of `map` (controller, no blockOwnerDeletion).
    public static func ownerReference(_ map: NetworkDeviceMap) -> OwnerReference {
        OwnerReference(apiVersion: Automagic.apiVersion, kind: NetworkDeviceMap.kind, name: map.network,
                       uid: map.metadata.uid ?? "", controller: true)
    }

    /// The NAD for `map` in `namespace`, merged onto `existing` (whose other labels, annotations and
    /// owners are kept) when given.
    public static func render(_ map: NetworkDeviceMap, namespace: String, existing: DynamicObject? = nil) -> DynamicObject {
        var meta = existing?.metadata ?? ObjectMeta(name: map.network, namespace: namespace)
        meta.managedFields = nil
        var labels = meta.labels ?? [:]
        labels[managedByLabel] = managedByValue
        labels[networkLabel] = map.network
        meta.labels = labels
        let owner = ownerReference(map)
        var owners = (meta.ownerReferences ?? []).filter { !($0.kind == owner.kind && $0.apiVersion == owner.apiVersion) }
        owners.append(owner)
        meta.ownerReferences = owners
        var json: JSONValue = existing?.json ?? [:]
        json["apiVersion"] = "k8s.cni.cncf.io/v1"
        json["kind"] = "NetworkAttachmentDefinition"
        var spec = json["spec"]?.objectValue ?? [:]
        spec["config"] = .string(config(for: map))
        json["spec"] = .object(spec)
        var object = DynamicObject(json)
        object.metadata = meta
        return object
    }

    /// Whether `existing` already is what `render` would produce.
    public static func isUpToDate(_ existing: DynamicObject, for map: NetworkDeviceMap) -> Bool {
        let meta = existing.metadata
        guard existing.json[path: ["spec", "config"]]?.stringValue == config(for: map) else { return false }
        guard meta.labels?[managedByLabel] == managedByValue, meta.labels?[networkLabel] == map.network else { return false }
        return (meta.ownerReferences ?? []).contains { $0.uid == map.metadata.uid && $0.kind == NetworkDeviceMap.kind && $0.controller == true }
    }
}
