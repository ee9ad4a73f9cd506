import Foundation

/// The real cluster the integration tests run against instead of the in-process lab API server:
/// the kubeconfig named by `AUTOMAGIC_TEST_KUBECONFIG` (set and not empty).
///
/// Tests that need lab-only behaviour (a knob of the lab server, writing what only a scheduler or
/// a kubelet writes) are disabled there with `.enabled(if: RealCluster.isAbsent, "<why>")`.
public enum RealCluster {
    /// The kubeconfig of the real cluster, or nil: the tests start the lab API server in-process.
    public static var kubeconfig: String? {
        let path = ProcessInfo.processInfo.environment["AUTOMAGIC_TEST_KUBECONFIG"] ?? ""
        return path.isEmpty ? nil : path
    }

    /// Whether the tests run against the in-process lab (no real cluster named).
    public static var isAbsent: Bool { kubeconfig == nil }
}
