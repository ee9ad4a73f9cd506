import Agent
import DeviceProbe
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import KubeClient
import KubeRuntime
import Logging
import Metrics
import Observability
import Prometheus

/// `automagic-agent`: the node agent (DaemonSet, host network, one per node).
///
/// malloc is set up before anything else runs (and before any other thread exists, so no
/// thread got an arena of its own yet); the command line is parsed by ``AgentCommandLine``.
/// Exit codes: 0 done, 1 the agent failed, 64 a command-line mistake.
@main
enum AgentMain {
    static func main() async {
        HeapTuning.useSingleArena()
        let options: AgentCommandLine
        do {
            options = try AgentCommandLine.parse(Array(CommandLine.arguments.dropFirst()))
        } catch {
            usageError(error.message)
        }
        if options.help {
            print(AgentCommandLine.helpText, terminator: "")
            exit(0)
        }
        do {
            try await run(options)
        } catch let error as AgentCommandLine.UsageError {
            usageError(error.message)
        } catch {
            printError("Error: \(error)")
            exit(1)
        }
        exit(0)
    }

    static func printError(_ text: String) {
        var line = text + "\n"
        line.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
    }

    static func usageError(_ message: String) -> Never {
        printError("Error: \(message)\nUsage: automagic-agent [<options>]\n  See 'automagic-agent --help' for more information.")
        exit(64)
    }

    static func run(_ options: AgentCommandLine) async throws {
        guard let level = Logger.Level(rawValue: options.logLevel.lowercased()) else {
            throw AgentCommandLine.UsageError(
                message: "--log-level: '\(options.logLevel)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "automagic.agent")

        if options.once {
            print(try OnceProbe.json(hostRoot: options.hostRoot, netnsPath: options.netns))
            return
        }

        guard let resync = AgentConfiguration.parseDuration(options.resyncPeriod) else {
            throw AgentCommandLine.UsageError(
                message: "--resync-period: '\(options.resyncPeriod)' is not a duration like 30s, 5m or 1h")
        }
        let node = options.nodeName ?? ProcessInfo.processInfo.environment["NODE_NAME"] ?? ""
        let patterns = (options.lldpDevices ?? "").split(separator: ",")
            .map { String($0.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()) }
            .filter { !$0.isEmpty }
        var configuration = AgentConfiguration(
            nodeName: node, mappingFile: options.mappingFile, netnsPath: options.netns, hostRoot: options.hostRoot,
            lldp: options.noLLDP ? nil : LLDPOptions(patterns: patterns), resyncPeriod: resync)
        configuration.publishResourceSlices = !options.noResourceSlices

        try configuration.validate()  // flag errors before any file or network access
        let clientConfiguration: ClientConfiguration
        do {
            clientConfiguration = try KubeConfigLoader.defaultConfiguration(kubeconfig: options.kubeconfig)
        } catch {
            throw AgentError.client(cause: error)
        }
        let client: KubernetesClient
        do {
            client = try KubernetesClient(configuration: clientConfiguration, logger: logger)
        } catch {
            throw AgentError.client(cause: error)
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))  // libraries' swift-metrics land here too
        let processMetrics = ProcessMetrics(registry: registry)  // process_* (docs/operations.md), read at each scrape
        let agent = try NodeAgent(configuration: configuration, client: client, metrics: AgentMetrics(registry: registry), logger: logger)

        let server: HealthServer
        do {
            server = try HealthServer(
                healthAddress: options.healthAddr.isEmpty ? nil : options.healthAddr,
                metricsAddress: options.metricsAddr.isEmpty ? nil : options.metricsAddr,
                registry: registry, processMetrics: processMetrics, checks: agent.health, logger: logger)
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
