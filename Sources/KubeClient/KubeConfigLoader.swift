#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Loads a ``ClientConfiguration`` from kubeconfig files or from the in-cluster service account,
/// following kubectl's rules.
///
/// ```swift
/// // --kubeconfig, else in-cluster, else $KUBECONFIG, else ~/.kube/config
/// let config = try KubeConfigLoader.defaultConfiguration(kubeconfig: options.kubeconfig)
/// ```
public enum KubeConfigLoader {
    /// The service account folder mounted into every pod.
    public static let serviceAccountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// Loads a kubeconfig.
    ///
    /// - `explicitPath` (`--kubeconfig`): only that file, which must exist.
    /// - else `$KUBECONFIG` (colon-separated): the files are merged like kubectl does — for every
    ///   cluster, user and context name the first file that defines it wins, and so does the first
    ///   `current-context`; files that do not exist are skipped.
    /// - else `$HOME/.kube/config`.
    ///
    /// `context` overrides `current-context`. Relative file paths are resolved against the folder of
    /// the kubeconfig that names them. Referenced certificate, key and token files must exist.
    public static func load(explicitPath: String? = nil, context: String? = nil,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws(KubeClientError) -> ClientConfiguration {
        let paths: [String]
        var mustExist = true
        if let explicitPath {
            paths = [explicitPath]
        } else if let list = environment["KUBECONFIG"], !list.isEmpty {
            paths = list.split(separator: ":", omittingEmptySubsequences: true).map(String.init)
            mustExist = false
        } else {
            guard let home = environment["HOME"], !home.isEmpty else {
                throw .configuration(file: nil, field: nil, message: "no kubeconfig: neither --kubeconfig, $KUBECONFIG nor $HOME is set")
            }
            paths = [home + "/.kube/config"]
        }
        var files: [KubeConfigFile] = []
        for path in paths {
            guard FileManager.default.fileExists(atPath: path) else {
                if mustExist { throw .configuration(file: path, field: nil, message: "file not found") }
                continue
            }
            files.append(try KubeConfigFile.parse(path: path))
        }
        guard !files.isEmpty else {
            throw .configuration(file: paths.joined(separator: ":"), field: nil, message: "none of the kubeconfig files exists")
        }
        return try merge(files).resolve(context: context)
    }

    /// Parses one kubeconfig from its text (for tests and tools); `path` names it in errors and anchors relative paths.
    public static func load(yaml: String, path: String, context: String? = nil) throws(KubeClientError) -> ClientConfiguration {
        try merge([KubeConfigFile.parse(text: yaml, path: path)]).resolve(context: context)
    }

    /// The configuration of a pod's service account: `KUBERNETES_SERVICE_HOST`/`_PORT` (IPv6 hosts
    /// bracketed), `<root>/ca.crt`, `<root>/token` (re-read when it changes) and `<root>/namespace`.
    public static func inCluster(environment: [String: String] = ProcessInfo.processInfo.environment,
                                 root: String = serviceAccountPath) throws(KubeClientError) -> ClientConfiguration {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty else {
            throw .configuration(file: nil, field: "KUBERNETES_SERVICE_HOST", message: "not running in a cluster: the variable is not set")
        }
        guard let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty else {
            throw .configuration(file: nil, field: "KUBERNETES_SERVICE_PORT", message: "not running in a cluster: the variable is not set")
        }
        guard let portNumber = Int(port), (1...65535).contains(portNumber) else {
            throw .configuration(file: nil, field: "KUBERNETES_SERVICE_PORT", message: "'\(port)' is not a port number")
        }
        let hostPart = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        let tokenPath = root + "/token"
        let caPath = root + "/ca.crt"
        guard FileManager.default.isReadableFile(atPath: tokenPath) else {
            throw .configuration(file: tokenPath, field: nil, message: "service account token file not found or unreadable")
        }
        guard FileManager.default.isReadableFile(atPath: caPath) else {
            throw .configuration(file: caPath, field: nil, message: "service account CA file not found or unreadable")
        }
        var namespace: String?
        if let data = FileManager.default.contents(atPath: root + "/namespace"),
           let text = String(data: data, encoding: .utf8) {
            let trimmed = text.trimmingWhitespace()
            if !trimmed.isEmpty { namespace = trimmed }
        }
        return ClientConfiguration(server: "https://\(hostPart):\(portNumber)", certificateAuthority: .file(caPath),
                                   tokenFile: tokenPath, namespace: namespace)
    }

    /// The configuration a program should use: `kubeconfig` (`--kubeconfig`) when given, else in-cluster
    /// when `KUBERNETES_SERVICE_HOST` is set, else `$KUBECONFIG`, else `~/.kube/config`.
    public static func defaultConfiguration(kubeconfig: String? = nil, context: String? = nil,
                                            environment: [String: String] = ProcessInfo.processInfo.environment,
                                            inClusterRoot: String = serviceAccountPath) throws(KubeClientError) -> ClientConfiguration {
        if let kubeconfig, !kubeconfig.isEmpty {
            return try load(explicitPath: kubeconfig, context: context, environment: environment)
        }
        if let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty, context == nil {
            return try inCluster(environment: environment, root: inClusterRoot)
        }
        return try load(explicitPath: nil, context: context, environment: environment)
    }

    static func merge(_ files: [KubeConfigFile]) -> MergedKubeConfig {
        var merged = MergedKubeConfig()
        for file in files {
            if merged.currentContext == nil, let current = file.currentContext, !current.isEmpty {
                merged.currentContext = current
                merged.currentContextFile = file.path
            }
            for entry in file.clusters where merged.clusters[entry.name] == nil { merged.clusters[entry.name] = entry }
            for entry in file.users where merged.users[entry.name] == nil { merged.users[entry.name] = entry }
            for entry in file.contexts where merged.contexts[entry.name] == nil { merged.contexts[entry.name] = entry }
        }
        merged.firstFile = files.first?.path
        return merged
    }
}

/// One named entry (cluster, user or context) with where it came from.
struct KubeConfigEntry {
    var name: String
    var file: String
    /// e.g. `users[0].user`
    var fieldPath: String
    var node: YAMLMapping
}

struct KubeConfigFile {
    var path: String
    var currentContext: String?
    var clusters: [KubeConfigEntry] = []
    var users: [KubeConfigEntry] = []
    var contexts: [KubeConfigEntry] = []

    static func parse(path: String) throws(KubeClientError) -> KubeConfigFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .configuration(file: path, field: nil, message: "file cannot be read")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .configuration(file: path, field: nil, message: "file is not UTF-8 text")
        }
        return try parse(text: text, path: path)
    }

    static func parse(text: String, path: String) throws(KubeClientError) -> KubeConfigFile {
        let root: YAMLNode?
        do throws(YAMLSyntaxError) {
            root = try KubeConfigYAML.parse(text)
        } catch {
            throw .configuration(file: path, field: nil, message: "not valid YAML: \(error)")
        }
        var file = KubeConfigFile(path: path)
        guard let root else { return file }  // an empty file is an empty config, as for kubectl
        guard let top = root.mapping else {
            throw .configuration(file: path, field: nil, message: "expected a mapping at the top level")
        }
        let reader = YAMLReader(file: path)
        file.currentContext = try reader.string(top, "current-context", at: "")
        file.clusters = try reader.namedList(top, "clusters", inner: "cluster")
        file.users = try reader.namedList(top, "users", inner: "user")
        file.contexts = try reader.namedList(top, "contexts", inner: "context")
        return file
    }
}

/// Typed field access on a YAML mapping with errors naming file and field.
struct YAMLReader {
    var file: String

    func join(_ base: String, _ key: String) -> String { base.isEmpty ? key : base + "." + key }

    func string(_ map: YAMLMapping, _ key: String, at base: String) throws(KubeClientError) -> String? {
        guard let node = map[key] else { return nil }
        if case .scalar(let scalar) = node {
            if scalar.style == .plain && (scalar.string == "null" || scalar.string == "~" || scalar.string.isEmpty) { return nil }
            return scalar.string
        }
        throw .configuration(file: file, field: join(base, key), message: "expected a string")
    }

    func bool(_ map: YAMLMapping, _ key: String, at base: String) throws(KubeClientError) -> Bool? {
        guard let node = map[key] else { return nil }
        if case .scalar(let scalar) = node {
            switch scalar.string.lowercased() {
            case "true", "yes", "on": return true
            case "false", "no", "off": return false
            case "", "null", "~": return nil
            default: break
            }
        }
        throw .configuration(file: file, field: join(base, key), message: "expected true or false")
    }

    func mapping(_ map: YAMLMapping, _ key: String, at base: String) throws(KubeClientError) -> YAMLMapping? {
        guard let node = map[key] else { return nil }
        if let mapping = node.mapping { return mapping }
        if case .scalar(let scalar) = node, scalar.string.isEmpty || scalar.string == "null" || scalar.string == "~" { return nil }
        throw .configuration(file: file, field: join(base, key), message: "expected a mapping")
    }

    func sequence(_ map: YAMLMapping, _ key: String, at base: String) throws(KubeClientError) -> [YAMLNode]? {
        guard let node = map[key] else { return nil }
        if let sequence = node.sequence { return Array(sequence) }
        if case .scalar(let scalar) = node, scalar.string.isEmpty || scalar.string == "null" || scalar.string == "~" { return nil }
        throw .configuration(file: file, field: join(base, key), message: "expected a list")
    }

    func stringList(_ map: YAMLMapping, _ key: String, at base: String) throws(KubeClientError) -> [String] {
        guard let nodes = try sequence(map, key, at: base) else { return [] }
        var result: [String] = []
        for (index, node) in nodes.enumerated() {
            guard case .scalar(let scalar) = node else {
                throw .configuration(file: file, field: "\(join(base, key))[\(index)]", message: "expected a string")
            }
            result.append(scalar.string)
        }
        return result
    }

    func namedList(_ top: YAMLMapping, _ key: String, inner: String) throws(KubeClientError) -> [KubeConfigEntry] {
        guard let nodes = try sequence(top, key, at: "") else { return [] }
        var entries: [KubeConfigEntry] = []
        var seen = Set<String>()
        for (index, node) in nodes.enumerated() {
            let base = "\(key)[\(index)]"
            guard let item = node.mapping else {
                throw .configuration(file: file, field: base, message: "expected a mapping with 'name' and '\(inner)'")
            }
            guard let name = try string(item, "name", at: base), !name.isEmpty else {
                throw .configuration(file: file, field: base + ".name", message: "missing")
            }
            if seen.contains(name) { continue }  // within one file the first definition wins too
            seen.insert(name)
            let body = try mapping(item, inner, at: base) ?? YAMLMapping([])
            entries.append(KubeConfigEntry(name: name, file: file, fieldPath: base + "." + inner, node: body))
        }
        return entries
    }
}

struct MergedKubeConfig {
    var currentContext: String?
    var currentContextFile: String?
    var firstFile: String?
    var clusters: [String: KubeConfigEntry] = [:]
    var users: [String: KubeConfigEntry] = [:]
    var contexts: [String: KubeConfigEntry] = [:]

    func resolve(context override: String?) throws(KubeClientError) -> ClientConfiguration {
        guard let contextName = override ?? currentContext else {
            throw .configuration(file: firstFile, field: "current-context", message: "not set and no context was given")
        }
        guard let context = contexts[contextName] else {
            let file = override == nil ? currentContextFile : firstFile
            throw .configuration(file: file, field: override == nil ? "current-context" : nil,
                                 message: "context '\(contextName)' not found")
        }
        let contextReader = YAMLReader(file: context.file)
        guard let clusterName = try contextReader.string(context.node, "cluster", at: context.fieldPath) else {
            throw .configuration(file: context.file, field: context.fieldPath + ".cluster", message: "missing")
        }
        guard let cluster = clusters[clusterName] else {
            throw .configuration(file: context.file, field: context.fieldPath + ".cluster", message: "cluster '\(clusterName)' not found")
        }
        let userName = try contextReader.string(context.node, "user", at: context.fieldPath)
        var user: KubeConfigEntry?
        if let userName {
            guard let found = users[userName] else {
                throw .configuration(file: context.file, field: context.fieldPath + ".user", message: "user '\(userName)' not found")
            }
            user = found
        }
        let namespace = try contextReader.string(context.node, "namespace", at: context.fieldPath)

        let clusterReader = YAMLReader(file: cluster.file)
        let cbase = cluster.fieldPath
        guard let server = try clusterReader.string(cluster.node, "server", at: cbase), !server.isEmpty else {
            throw .configuration(file: cluster.file, field: cbase + ".server", message: "missing")
        }
        guard server.hasPrefix("https://") || server.hasPrefix("http://") else {
            throw .configuration(file: cluster.file, field: cbase + ".server", message: "'\(server)' is not an http(s) URL")
        }
        var config = ClientConfiguration(server: server)
        config.namespace = namespace
        config.tlsServerName = try clusterReader.string(cluster.node, "tls-server-name", at: cbase)
        config.insecureSkipTLSVerify = try clusterReader.bool(cluster.node, "insecure-skip-tls-verify", at: cbase) ?? false
        config.proxyURL = try clusterReader.string(cluster.node, "proxy-url", at: cbase)
        config.certificateAuthority = try pem(cluster, reader: clusterReader, dataKey: "certificate-authority-data", fileKey: "certificate-authority")

        if let user {
            let reader = YAMLReader(file: user.file)
            let ubase = user.fieldPath
            config.clientCertificate = try pem(user, reader: reader, dataKey: "client-certificate-data", fileKey: "client-certificate")
            config.clientKey = try pem(user, reader: reader, dataKey: "client-key-data", fileKey: "client-key")
            if (config.clientCertificate == nil) != (config.clientKey == nil) {
                let missing = config.clientCertificate == nil ? "client-certificate" : "client-key"
                throw .configuration(file: user.file, field: ubase + "." + missing, message: "missing: a client certificate needs its key and the key its certificate")
            }
            config.token = try reader.string(user.node, "token", at: ubase)
            if let tokenFile = try reader.string(user.node, "tokenFile", at: ubase) {
                let path = Self.absolute(tokenFile, relativeTo: user.file)
                guard FileManager.default.fileExists(atPath: path) else {
                    throw .configuration(file: user.file, field: ubase + ".tokenFile", message: "file '\(path)' not found")
                }
                config.tokenFile = path
            }
            config.username = try reader.string(user.node, "username", at: ubase)
            config.password = try reader.string(user.node, "password", at: ubase)
            if let exec = try reader.mapping(user.node, "exec", at: ubase) {
                config.exec = try execConfiguration(exec, reader: reader, base: ubase + ".exec")
            }
            if user.node["auth-provider"] != nil && config.token == nil && config.exec == nil && config.tokenFile == nil {
                throw .configuration(file: user.file, field: ubase + ".auth-provider", message: "auth-provider plugins are not supported; use an exec plugin")
            }
        }
        return config
    }

    func pem(_ entry: KubeConfigEntry, reader: YAMLReader, dataKey: String, fileKey: String) throws(KubeClientError) -> PEMSource? {
        if let encoded = try reader.string(entry.node, dataKey, at: entry.fieldPath) {
            let compact = encoded.filter { !$0.isWhitespace }
            guard let data = Data(base64Encoded: compact) else {
                throw .configuration(file: entry.file, field: entry.fieldPath + "." + dataKey, message: "not valid base64")
            }
            return .data([UInt8](data))
        }
        if let path = try reader.string(entry.node, fileKey, at: entry.fieldPath) {
            let absolute = Self.absolute(path, relativeTo: entry.file)
            guard FileManager.default.fileExists(atPath: absolute) else {
                throw .configuration(file: entry.file, field: entry.fieldPath + "." + fileKey, message: "file '\(absolute)' not found")
            }
            return .file(absolute)
        }
        return nil
    }

    func execConfiguration(_ map: YAMLMapping, reader: YAMLReader, base: String) throws(KubeClientError) -> ExecConfiguration {
        guard let command = try reader.string(map, "command", at: base), !command.isEmpty else {
            throw .configuration(file: reader.file, field: base + ".command", message: "missing")
        }
        let apiVersion = try reader.string(map, "apiVersion", at: base) ?? "client.authentication.k8s.io/v1"
        guard apiVersion == "client.authentication.k8s.io/v1" || apiVersion == "client.authentication.k8s.io/v1beta1" else {
            throw .configuration(file: reader.file, field: base + ".apiVersion", message: "unsupported exec plugin API version '\(apiVersion)'")
        }
        var env: [String: String] = [:]
        if let items = try reader.sequence(map, "env", at: base) {
            for (index, item) in items.enumerated() {
                let field = "\(base).env[\(index)]"
                guard let pair = item.mapping, let name = try reader.string(pair, "name", at: field) else {
                    throw .configuration(file: reader.file, field: field, message: "expected a mapping with 'name' and 'value'")
                }
                env[name] = try reader.string(pair, "value", at: field) ?? ""
            }
        }
        // A command with a path separator is relative to the kubeconfig's folder (kubectl does the same).
        var resolved = command
        if command.contains("/") { resolved = KubeConfigLoader.absolute(command, relativeTo: reader.file) }
        return ExecConfiguration(command: resolved, args: try reader.stringList(map, "args", at: base), env: env,
                                 apiVersion: apiVersion, installHint: try reader.string(map, "installHint", at: base),
                                 provideClusterInfo: try reader.bool(map, "provideClusterInfo", at: base) ?? false)
    }

    static func absolute(_ path: String, relativeTo file: String) -> String {
        KubeConfigLoader.absolute(path, relativeTo: file)
    }
}

extension KubeConfigLoader {
    static func absolute(_ path: String, relativeTo file: String) -> String {
        if path.hasPrefix("/") { return path }
        var expanded = path
        if path.hasPrefix("~/"), let home = ProcessInfo.processInfo.environment["HOME"] {
            return home + String(path.dropFirst(1))
        }
        let folder: String
        if let slash = file.lastIndex(of: "/") { folder = String(file[..<slash]) } else { folder = "." }
        if expanded.hasPrefix("./") { expanded.removeFirst(2) }
        return (folder.isEmpty ? "" : folder) + "/" + expanded
    }
}
