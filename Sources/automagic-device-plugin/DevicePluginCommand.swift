import ArgumentParser
import DevicePlugin
import Dispatch
import Glibc
import KubeClient
import Logging
import MappingFile

/// `automagic-device-plugin`: the node's kubelet-facing gRPC process (docs/device-plugin.md,
/// docs/dra.md): the kubelet device plugin of Automagic's exclusive networks and, when the node's
/// name is known, the DRA kubelet plugin of driver `automagic.dev`. Runs beside the agent in its
/// DaemonSet; SIGTERM or SIGINT withdraws every resource (sockets removed) and exits 0.
@main
struct DevicePluginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "automagic-device-plugin",
        abstract: "Serves a kubelet device plugin (resource automagic.dev/<network>) for each exclusive network of the agent's mapping file, and the DRA kubelet plugin of driver automagic.dev.")

    @Option(help: "The agent's mapping file.")
    var mappingFile: String = MappingFile.defaultPath

    @Option(help: "The kubelet's device-plugin folder (kubelet.sock is there; the plugin's sockets go there).")
    var devicePluginDir: String = DevicePluginConfiguration.defaultPluginDirectory

    @Option(help: "Watch the links of this network namespace (a path such as /var/run/netns/NAME) instead of the process's own.")
    var netns: String?

    @Option(help: "How often the mapping file and the sockets are looked at, in milliseconds.")
    var pollIntervalMs: Int = 250

    @Option(help: ArgumentHelp("The kubelet's pod resources API socket, asked which pods hold which devices; empty: never ask "
                               + "(a device several exclusive networks offer is then given back when its link returns to the host).",
                               valueName: "path"))
    var podResourcesSocket: String = DevicePluginConfiguration.defaultPodResourcesSocket

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(help: "This node's name (default: $NODE_NAME). Without one the DRA plugin is not served.")
    var nodeName: String?

    @Option(help: "Kubeconfig for reading ResourceClaims (default: in-cluster configuration, else $KUBECONFIG, else ~/.kube/config).")
    var kubeconfig: String?

    @Option(help: "The DRA plugin's registration socket, in the kubelet's plugin registry folder.")
    var draRegistrationSocket: String = DRAPluginConfiguration.defaultRegistrationSocket

    @Option(help: "The DRA plugin's service socket (absolute path, given to the kubelet at registration).")
    var draEndpoint: String = DRAPluginConfiguration.defaultEndpoint

    @Option(help: "Where prepared ResourceClaims are recorded for the CNI plugin (its configuration key draStateDir).")
    var draStateDir: String = PreparedClaimStore.defaultDirectory

    @Flag(help: "Do not serve the DRA plugin.")
    var noDRA = false

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level '\(logLevel)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        guard (10...60_000).contains(pollIntervalMs) else {
            throw ValidationError("--poll-interval-ms \(pollIntervalMs) is outside 10...60000")
        }
        guard !devicePluginDir.isEmpty else { throw ValidationError("--device-plugin-dir must not be empty") }
        for (flag, path) in [("--dra-registration-socket", draRegistrationSocket), ("--dra-endpoint", draEndpoint), ("--dra-state-dir", draStateDir)]
            where !path.hasPrefix("/") {
            throw ValidationError("\(flag) '\(path)' must be an absolute path")
        }
        if let netns, access(netns, R_OK) != 0 {
            throw ValidationError("--netns '\(netns)': \(String(cString: strerror(errno)))")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "automagic-device-plugin")
        let daemon = DevicePluginDaemon(
            configuration: DevicePluginConfiguration(mappingFile: mappingFile, pluginDirectory: devicePluginDir, netnsPath: netns,
                                                     pollInterval: .milliseconds(pollIntervalMs),
                                                     podResourcesSocket: podResourcesSocket.isEmpty ? nil : podResourcesSocket),
            logger: logger)
        let dra = try draPlugin(logger: logger)
        let work = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await daemon.run() }
                if let dra { group.addTask { try await dra.run() } }
                // Either ending (cancelled, or failed at start) ends both.
                defer { group.cancelAll() }
                try await group.next()
            }
        }
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { work.cancel() }
            source.resume()
            sources.append(source)
        }
        defer { for s in sources { s.cancel() } }
        try await work.value
        logger.info("stopped")
    }

    /// The DRA plugin, or nil when it is turned off or the node's name is unknown.
    func draPlugin(logger: Logger) throws -> DRAPlugin? {
        if noDRA { return nil }
        let env = getenv("NODE_NAME").map { String(cString: $0) }
        guard let node = nodeName ?? env, !node.isEmpty else {
            logger.notice("DRA plugin not served: no --node-name and no NODE_NAME")
            return nil
        }
        let client = try KubernetesClient(configuration: try KubeConfigLoader.defaultConfiguration(kubeconfig: kubeconfig),
                                          logger: Logger(label: "automagic-device-plugin.kubeclient"))
        let configuration = DRAPluginConfiguration(nodeName: node, registrationSocket: draRegistrationSocket, endpoint: draEndpoint,
                                                   stateDirectory: draStateDir, mappingFile: mappingFile,
                                                   pollInterval: .milliseconds(pollIntervalMs))
        return DRAPlugin(configuration: configuration, reader: KubeResourceClaimReader(client: client), logger: logger)
    }
}
