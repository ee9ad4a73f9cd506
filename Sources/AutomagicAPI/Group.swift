import KubeCore

/// Names fixed by the Automagic API contract: the API group and version, the label and
/// extended-resource prefixes the controller writes, and the default mapping-file path.
///
/// ```swift
/// let path = "/apis/\(Automagic.group)/\(Automagic.version)/networkdevicemaps"
/// let label = Automagic.networkLabel(for: "storage") // "networks.automagic.dev/storage"
/// ```
public enum Automagic {
    /// The API group of both custom resources: `automagic.dev`.
    public static let group = "automagic.dev"
    /// The served and stored version: `v1alpha1`.
    public static let version = "v1alpha1"
    /// `apiVersion` of both kinds: `automagic.dev/v1alpha1`.
    public static let apiVersion = "\(group)/\(version)"
    /// Prefix of the node label the controller sets where a network resolves (`networks.automagic.dev/`).
    public static let networkLabelPrefix = "networks.automagic.dev/"
    /// Prefix of the extended resource of exclusive networks (`automagic.dev/`).
    public static let extendedResourcePrefix = "automagic.dev/"
    /// Category both CRDs belong to (`kubectl get automagic`).
    public static let category = "automagic"

    /// The node label that says `network` resolves on a node: `networks.automagic.dev/<network>`.
    public static func networkLabel(for network: String) -> String { networkLabelPrefix + network }

    /// The extended resource of an exclusive network, `automagic.dev/<network>`: one unit per
    /// candidate device, advertised to the kubelet by the network's device plugin and named on the
    /// network's NADs (`k8s.v1.cni.cncf.io/resourceName`) so that Multus passes the allocated device on.
    public static func extendedResource(for network: String) -> String { extendedResourcePrefix + network }
}
