import KubeClient
import Resolver

/// Every failure of `kubectl automagic`. Each case names the step that failed and carries its
/// cause; ``description`` is the one-line message printed to stderr (exit code 1).
public enum PluginError: Error, Sendable, CustomStringConvertible {
    /// No kubeconfig could be loaded (`--kubeconfig`, `$KUBECONFIG`, `~/.kube/config`, `--context`).
    case configuration(KubeClientError)
    /// An API request failed; `what` is the step, e.g. "list networkdevicemaps".
    case api(what: String, KubeClientError)
    /// `explain NETWORK`: no such map. `available` lists the maps that exist.
    case networkNotFound(String, available: [String])
    /// `explain --node` / `devices NODE`: the node has no NodeDevice. `nodeExists` says whether a Node of
    /// that name exists; `known` lists the nodes that have a NodeDevice.
    case noNodeDevice(String, nodeExists: Bool, known: [String])
    /// `preview -f`: the file (or stdin) could not be read.
    case readFile(path: String, cause: String)
    /// `preview -f`: the file is not YAML/JSON, or a document is not a NetworkDeviceMap.
    case parseFile(path: String, cause: String)
    /// `preview -f`: a map failed the resolver's validation.
    case invalidMap(name: String, path: String, errors: [ValidationError])
    /// `preview -f`: maps with fields their CRD does not define, each with its unknown fields.
    case unknownFields(path: String, maps: [(name: String, fields: [UnknownField])])
    /// `preview --fail-on-empty`: maps that would resolve on no node; `report` is the preview, printed
    /// to stdout before the error (exit code ``KubectlAutomagic/emptyMapExitCode``).
    case emptyMaps(names: [String], report: String)
    /// A flag value or argument is wrong.
    case usage(String)
    /// Output could not be rendered (should not happen).
    case render(what: String, cause: String)

    public var description: String {
        switch self {
        case .configuration(let e):
            return "failed to load the kubeconfig: \(e) (use --kubeconfig PATH or set KUBECONFIG; --context NAME picks a context)"
        case .api(let what, let e):
            return "failed to \(what): \(Self.describe(e, what: what))"
        case .networkNotFound(let name, let available):
            let list = available.isEmpty
                ? "there are no NetworkDeviceMaps; create one (kubectl apply -f MAP.yaml) or try 'kubectl automagic preview -f MAP.yaml'"
                : "available: \(available.joined(separator: ", "))"
            return "networkdevicemap '\(name)' not found; \(list)"
        case .noNodeDevice(let node, let nodeExists, let known):
            var text = "node '\(node)' has no NodeDevice (is the agent running there?)"
            if !nodeExists { text += "; there is no Node of that name either" }
            text += known.isEmpty ? "; no node has a NodeDevice yet" : "; nodes with a NodeDevice: \(known.joined(separator: ", "))"
            return text
        case .readFile(let path, let cause):
            return "failed to read map file '\(path)': \(cause)"
        case .parseFile(let path, let cause):
            return "failed to parse map file '\(path)': \(cause)"
        case .invalidMap(let name, let path, let errors):
            let shown = errors.map(\.description).joined(separator: "; ")
            return "invalid NetworkDeviceMap '\(name)' in '\(path)' (\(errors.count) problem\(errors.count == 1 ? "" : "s")): \(shown)"
        case .unknownFields(let path, let maps):
            let count = maps.reduce(0) { $0 + $1.fields.count }
            var text = "\(count) unknown field\(count == 1 ? "" : "s") in '\(path)' (an API server before 1.25, or one that ignores fieldValidation, would drop \(count == 1 ? "it" : "them") silently):"
            for m in maps {
                for f in m.fields { text += "\n  NetworkDeviceMap \(m.name): \(f)" }
            }
            return text
        case .emptyMaps(let names, _):
            return "NetworkDeviceMap\(names.count == 1 ? "" : "s") \(names.joined(separator: ", ")) would resolve on no node (--fail-on-empty)"
        case .usage(let message):
            return message
        case .render(let what, let cause):
            return "failed to render \(what): \(cause)"
        }
    }

    /// The client error with a hint for the common cases (CRDs missing, RBAC, unreachable server).
    static func describe(_ e: KubeClientError, what: String) -> String {
        let text = "\(e)"
        if e.isNotFound && (what.contains("networkdevicemaps") || what.contains("nodedevices")) {
            return text + " (are the Automagic CRDs installed? kubectl apply -f crds/)"
        }
        if e.isForbidden { return text + " (your user lacks RBAC permission for this; ask for read access to automagic.dev resources and nodes)" }
        if e.isUnauthorized { return text + " (the credentials in the kubeconfig were refused)" }
        if case .transport = e { return text + " (is the API server up? check --kubeconfig / --context)" }
        if e.isTimeout { return text + " (is the API server up and answering? check --kubeconfig / --context)" }
        return text
    }
}
