import Agent
import ArgumentParser
import DeviceProbe
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeClient
import KubeRuntime
import Logging
import Observability

/// The entry point: malloc is set up before anything else runs (and before any other thread
/// exists, so no thread got an arena of its own yet), then the command line is handled.
@main
enum AgentMain {
    static func main() async {
        HeapTuning.useSingleArena()
        await AgentCommand.main()
    }
}

/// `automagic-agent`: the node agent (DaemonSet, host network, one per node).
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "automagic-agent",
        abstract: "Probe this node's network devices, publish its NodeDevice, resolve NetworkDeviceMaps and write the mapping file.",
        discussion: """
            Examples:
              automagic-agent --once                                   # print this machine's devices as JSON
              automagic-agent --once --netns /var/run/netns/node-a     # ... of another network namespace
              automagic-agent --node-name worker-1 --kubeconfig ~/.kube/config \\
                  --mapping-file /run/automagic/mapping.json --health-addr 127.0.0.1:9740 --metrics-addr 127.0.0.1:9741
            """)

    @Option(help: "Kubeconfig file (default: in-cluster configuration, else $KUBECONFIG, else ~/.kube/config).")
    var kubeconfig: String?

    @Option(help: "The node this agent runs for (default: $NODE_NAME).")
    var nodeName: String?

    @Option(help: "Where to write the mapping file the CNI plugin reads.")
    var mappingFile: String = "/run/automagic/mapping.json"

    @Flag(help: "Probe the devices, print them as JSON (NodeDevice status.devices shape) and exit; touches no cluster.")
    var once = false

    @Option(help: "Probe the devices of this network namespace (e.g. /proc/1/ns/net, /var/run/netns/NAME).")
    var netns: String?

    @Option(help: "Extra devices to listen on for LLDP, beyond the physical ones: comma-separated shell-style patterns (e.g. 'eth*,bond0').")
    var lldpDevices: String?

    @Flag(help: "Do not listen for LLDP.")
    var noLldp = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(help: "host:port for /healthz and /readyz ('' disables).")
    var healthAddr: String = ":9740"

    @Option(help: "host:port for /metrics ('' disables).")
    var metricsAddr: String = ":9741"

    @Option(help: "Period of the full re-probe safety net (e.g. 30s, 5m, 1h).")
    var resyncPeriod: String = "5m"

    @Option(help: "Root below which /sys is read (for a containerized agent with the host's / mounted elsewhere).")
    var hostRoot: String = "/"

    @Option(help: ArgumentHelp("Benchmark: probe N times (in --netns), print timings as JSON and exit.", visibility: .hidden))
    var benchProbes: Int?

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel.lowercased()) else {
            throw ValidationError("--log-level: '\(logLevel)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "automagic.agent")

        if let benchProbes {
            print(try await OnceProbe.benchmark(iterations: benchProbes, hostRoot: hostRoot, netnsPath: netns))
            return
        }
        if once {
            print(try OnceProbe.json(hostRoot: hostRoot, netnsPath: netns))
            return
        }

        guard let resync = AgentConfiguration.parseDuration(resyncPeriod) else {
            throw ValidationError("--resync-period: '\(resyncPeriod)' is not a duration like 30s, 5m or 1h")
        }
        let node = nodeName ?? ProcessInfo.processInfo.environment["NODE_NAME"] ?? ""
        let patterns = (lldpDevices ?? "").split(separator: ",")
            .map { String($0.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()) }
            .filter { !$0.isEmpty }
        let configuration = AgentConfiguration(
            nodeName: node, mappingFile: mappingFile, netnsPath: netns, hostRoot: hostRoot,
            lldp: noLldp ? nil : LLDPOptions(patterns: patterns), resyncPeriod: resync)

        try configuration.validate()  // flag errors before any file or network access
        let clientConfiguration: ClientConfiguration
        do {
            clientConfiguration = try KubeConfigLoader.defaultConfiguration(kubeconfig: kubeconfig)
        } catch {
            throw AgentError.client(cause: error)
        }
        let client: KubernetesClient
        do {
            client = try KubernetesClient(configuration: clientConfiguration, logger: logger)
        } catch {
            throw AgentError.client(cause: error)
        }
        let agent = try NodeAgent(configuration: configuration, client: client, logger: logger)

        let server: HealthServer
        do {
            server = try HealthServer(
                healthAddress: healthAddr.isEmpty ? nil : healthAddr, metricsAddress: metricsAddr.isEmpty ? nil : metricsAddr,
                registry: agent.metrics.registry, checks: agent.health, logger: logger)
            let bound = try server.start()
            logger.info("serving health and metrics", metadata: ["addresses": .string(bound.map(\.description).joined(separator: ","))])
        } catch {
            throw AgentError.listen(cause: "\(error)")
        }
        defer { server.stop() }

        let signal = try await ShutdownSignals.runUntilSignalled {
            try await agent.run()
        }
        if let signal { logger.info("shutting down", metadata: ["signal": .stringConvertible(signal)]) }
    }
}
