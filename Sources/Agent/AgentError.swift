import DeviceProbe
import KubeClient
import MappingFile

/// Everything that can go wrong in the node agent. Each case names the step that failed and
/// carries its cause; `description` reads "failed to <verb> <thing> '<name>': <cause>".
public enum AgentError: Error, Sendable, CustomStringConvertible {
    /// A flag or setting is unusable (`field` names it).
    case configuration(field: String, message: String)
    /// Probing the devices of a network namespace failed.
    case probe(namespace: String, cause: ProbeError)
    /// Loading the cluster configuration (kubeconfig, in-cluster) or creating the client failed.
    case client(cause: KubeClientError)
    /// Reading or writing the mapping file failed.
    case mappingFile(path: String, cause: MappingFileError)
    /// Watching the mapping file's folder for changes could not be set up.
    case watchMappingFile(path: String, cause: String)
    /// Creating or updating this node's `NodeDevice` failed.
    case publish(node: String, step: String, cause: String)
    /// The agent was asked to write an object (`kind`: a `NodeDevice` or a `ResourceSlice`) that
    /// belongs to another node or driver; it never does.
    case foreignObject(kind: String, name: String, node: String)
    /// The agent's credentials belong to another node (SelfSubjectReview): it does not start.
    case identity(node: String, message: String)
    /// The Node this agent serves does not exist (its `NodeDevice` is created once it does).
    case nodeMissing(node: String)
    /// The health or metrics listener could not start.
    case listen(cause: String)
    /// Encoding the `--once` output failed.
    case encode(what: String, cause: String)

    public var description: String {
        switch self {
        case let .configuration(field, message):
            "failed to configure '\(field)': \(message)"
        case let .probe(namespace, cause):
            "failed to probe devices of network namespace '\(namespace)': \(cause)"
        case let .client(cause):
            "failed to configure Kubernetes client 'automagic-agent': \(cause)"
        case let .mappingFile(path, cause):
            "failed to write mapping file '\(path)': \(cause)"
        case let .watchMappingFile(path, cause):
            "failed to watch mapping file '\(path)': \(cause)"
        case let .publish(node, step, cause):
            "failed to \(step) NodeDevice '\(node)': \(cause)"
        case let .foreignObject(kind, name, node):
            "failed to write \(kind) '\(name)': it belongs to another node (this agent runs for node '\(node)')"
        case let .identity(node, message):
            "failed to confirm identity for node '\(node)': \(message)"
        case let .nodeMissing(node):
            "failed to find Node '\(node)': it does not exist (its NodeDevice is created once it does)"
        case let .listen(cause):
            "failed to start health/metrics listener 'automagic-agent': \(cause)"
        case let .encode(what, cause):
            "failed to encode '\(what)': \(cause)"
        }
    }
}
