import Foundation
import KubeClient
import LabAPIServer
import Testing

/// The API server an integration test talks to: the real cluster named by
/// `AUTOMAGIC_TEST_KUBECONFIG` (see ``RealCluster``), or else a ``TestLab`` started for the test.
///
/// On a real cluster the test shares the server with others: it names what it creates with a
/// unique prefix and deletes it afterwards; its suite runs `.serialized` where its tests would
/// otherwise disturb each other.
public final class TestAPIServer: Sendable {
    /// A client of the server (admin on the lab).
    public let client: KubernetesClient
    /// The lab, or nil on a real cluster.
    public let lab: TestLab?
    /// The kubeconfig of the server (for kubectl and programs the test starts).
    public let kubeconfigPath: String

    /// Whether the test runs against a real cluster (so lab-only knobs are unavailable).
    public var isRealCluster: Bool { lab == nil }

    /// Connects to the real cluster, or starts a lab with `configureLab`; `configureClient` adjusts
    /// the client's configuration in both cases.
    public init(lab configureLab: (inout LabServerOptions) -> Void = { _ in },
                client configureClient: (inout ClientConfiguration) -> Void = { _ in }) throws {
        if let path = RealCluster.kubeconfig {
            lab = nil
            kubeconfigPath = path
        } else {
            let lab = try TestLab(configureLab)
            self.lab = lab
            kubeconfigPath = lab.kubeconfigPath
        }
        do {
            var configuration = try KubeConfigLoader.load(explicitPath: kubeconfigPath)
            configureClient(&configuration)
            client = try KubernetesClient(configuration: configuration)
        } catch {
            lab?.stop()
            throw error
        }
    }

    /// Stops the lab and removes its files; nothing on a real cluster.
    public func stop(sourceLocation: SourceLocation = #_sourceLocation) { lab?.stop(sourceLocation: sourceLocation) }
}
