import ArgumentParser
import DevicePlugin
import Dispatch
import Glibc
import Logging
import MappingFile

/// `automagic-device-plugin`: the kubelet device plugin of Automagic's exclusive networks
/// (docs/device-plugin.md). Runs beside the agent in its DaemonSet; SIGTERM or SIGINT withdraws
/// every resource (sockets removed) and exits 0.
@main
struct DevicePluginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "automagic-device-plugin",
        abstract: "Serves a kubelet device plugin (resource automagic.dev/<network>) for each exclusive network of the agent's mapping file.")

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

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level '\(logLevel)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        guard (10...60_000).contains(pollIntervalMs) else {
            throw ValidationError("--poll-interval-ms \(pollIntervalMs) is outside 10...60000")
        }
        guard !devicePluginDir.isEmpty else { throw ValidationError("--device-plugin-dir must not be empty") }
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
        let work = Task { try await daemon.run() }
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
}
