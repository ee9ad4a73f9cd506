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
    /// Multus's annotation naming the device-plugin resource of a NAD: Multus looks up the device
    /// the kubelet allocated to the pod for it and passes its ID to the CNI plugin as `deviceID`.
    public static let resourceNameAnnotation = "k8s.v1.cni.cncf.io/resourceName"

    /// The value of ``resourceNameAnnotation`` for `map`: `automagic.dev/<network>` for an
    /// exclusive network (its device plugin's resource), nil for a shared one and for a `dra`
    /// network (allocated through a ResourceClaim, not a device-plugin resource).
    public static func resourceName(for map: NetworkDeviceMap) -> String? {
        map.spec.isExclusive && !map.spec.isDRA ? Automagic.extendedResource(for: map.network) : nil
    }

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
        var annotations = meta.annotations ?? [:]
        if let resource = resourceName(for: map) {
            annotations[resourceNameAnnotation] = resource
        } else if annotations[resourceNameAnnotation] == Automagic.extendedResource(for: map.network) {
            // The map stopped being exclusive: drop the resource this controller set (someone
            // else's resource name is left alone).
            annotations[resourceNameAnnotation] = nil
        }
        meta.annotations = annotations.isEmpty ? nil : annotations
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
        let resource = meta.annotations?[resourceNameAnnotation]
        if let wanted = resourceName(for: map) {
            guard resource == wanted else { return false }
        } else if resource == Automagic.extendedResource(for: map.network) {
            return false
        }
        return (meta.ownerReferences ?? []).contains { $0.uid == map.metadata.uid && $0.kind == NetworkDeviceMap.kind && $0.controller == true }
    }
}
