// automagic-controller: thin main over the Controller module.
import ArgumentParser
import Controller
import Foundation
import KubeClient
import KubeCore
import KubeRuntime
import Logging
import Metrics
import Observability
import Prometheus

@main
struct AutomagicControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "automagic-controller",
        abstract: "Reconciles NetworkDeviceMaps and NodeDevices: map status, node labels and extended resources, Multus NADs, clean-up.")

    @Option(help: "Path of a kubeconfig (default: in-cluster, else $KUBECONFIG, else ~/.kube/config).")
    var kubeconfig: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(help: "Address of /healthz and /readyz (host:port; empty disables).")
    var healthAddr: String = ":8081"

    @Option(help: "Address of /metrics (host:port; empty disables).")
    var metricsAddr: String = ":8080"

    @Flag(help: "Run only while holding the Lease 'automagic-controller' (for several replicas).")
    var leaderElect = false

    @Option(help: "Namespace of the leader-election Lease (default: $POD_NAMESPACE, else automagic-system).")
    var leaderElectNamespace: String?

    @Option(help: "Leader election: how long a holder's claim is honoured (e.g. 15s).")
    var leaderElectLeaseDuration: String = "15s"

    @Option(help: "Leader election: a leader that could not renew for this long stops leading (e.g. 10s).")
    var leaderElectRenewDeadline: String = "10s"

    @Option(help: "Leader election: time between attempts to acquire or renew (e.g. 2s).")
    var leaderElectRetryPeriod: String = "2s"

    @Option(help: "Reconcile every map this often even when nothing changed (e.g. 30s, 10m, 1h).")
    var resyncPeriod: String = "10m"

    @Option(help: "Client-side limit of API requests per second.")
    var kubeApiQps: Double = 50

    @Option(help: "Client-side burst of API requests.")
    var kubeApiBurst: Int = 100

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel.lowercased()) else {
            throw ValidationError("--log-level: unknown level '\(logLevel)' (trace, debug, info, notice, warning, error, critical)")
        }
        guard let resync = FlagDuration.parse(resyncPeriod), resync > .zero else {
            throw ValidationError("--resync-period: '\(resyncPeriod)' is not a positive duration like 30s, 10m or 1h")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "automagic.controller")
        let environment = ProcessInfo.processInfo.environment
        var configuration = try KubeConfigLoader.defaultConfiguration(kubeconfig: kubeconfig)
        configuration.qps = kubeApiQps
        configuration.burst = kubeApiBurst
        configuration.userAgent = "automagic-controller/0.1 (libcurl)"
        let client = try KubernetesClient(configuration: configuration, logger: logger)

        let host = ProcessInfo.processInfo.hostName
        let podName = environment["POD_NAME"].flatMap { $0.isEmpty ? nil : $0 } ?? host
        var options = ControllerOptions()
        options.resyncPeriod = resync
        options.instance = podName
        if leaderElect {
            let namespace = leaderElectNamespace ?? environment["POD_NAMESPACE"].flatMap { $0.isEmpty ? nil : $0 } ?? "automagic-system"
            let identity = "\(podName)_\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
            var election = LeaderElectionOptions(namespace: namespace, identity: identity)
            for (flag, text, field) in [("--leader-elect-lease-duration", leaderElectLeaseDuration, \LeaderElectionOptions.leaseDuration),
                                        ("--leader-elect-renew-deadline", leaderElectRenewDeadline, \LeaderElectionOptions.renewDeadline),
                                        ("--leader-elect-retry-period", leaderElectRetryPeriod, \LeaderElectionOptions.retryPeriod)] {
                guard let d = FlagDuration.parse(text), d > .zero else {
                    throw ValidationError("\(flag): '\(text)' is not a positive duration like 500ms, 2s or 1m")
                }
                election[keyPath: field] = d
            }
            options.leaderElection = election
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))  // libraries' swift-metrics land here too
        let processMetrics = ProcessMetrics(registry: registry)
        let metrics = ControllerMetrics(registry: registry)
        let controller = AutomagicController(client: client, options: options, metrics: metrics, logger: logger)

        let checks = HealthChecks()
        checks.addLivenessCheck("ping") {}
        checks.addReadinessCheck("caches-synced") {
            guard controller.hasSynced else {
                throw HealthCheckFailure(controller.cacheFailure.map { "caches not synced: \($0)" } ?? "caches not synced yet")
            }
        }
        let health = try HealthServer(
            healthAddress: healthAddr.isEmpty ? nil : healthAddr, metricsAddress: metricsAddr.isEmpty ? nil : metricsAddr,
            registry: registry, processMetrics: processMetrics, checks: checks, logger: logger)
        let bound = try health.start()
        logger.info("serving health and metrics", metadata: ["addresses": "\(bound.map(\.description).joined(separator: ", "))"])
        defer { health.stop() }

        do {
            let signal = try await ShutdownSignals.runUntilSignalled { try await controller.run() }
            if let signal { logger.info("shut down on signal \(signal)") }
        } catch let error as ControllerError {
            logger.critical("\(error)")
            throw ExitCode(1)
        }
    }
}

/// A failed health check with a message.
struct HealthCheckFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

