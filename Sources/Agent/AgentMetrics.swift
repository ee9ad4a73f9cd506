import Observability
import Prometheus

/// The agent's Prometheus metrics (served on `--metrics-addr` at `/metrics`), kept in a
/// swift-prometheus registry.
public struct AgentMetrics: Sendable {
    /// The registry the metrics live in.
    public let registry: PrometheusCollectorRegistry
    /// `automagic_agent_probes_total`: full probes run.
    public let probes: Counter
    /// `automagic_agent_probe_duration_seconds`: how long a full probe took.
    public let probeDuration: ValueHistogram
    /// `automagic_agent_publishes_total`: `NodeDevice` writes (create, status update).
    public let publishes: Counter
    /// `automagic_agent_resolutions{network,result}`: 1 for the current outcome of each network.
    public let resolutions: GaugeFamily
    /// `automagic_agent_watch_restarts_total`: list/watch failures that made a watch restart.
    public let watchRestarts: Counter
    /// `automagic_agent_errors_total{step}`: failures by step (probe, publish, mapping-file, watch).
    public let errors: CounterFamily
    /// `automagic_agent_mapping_writes_total`: mapping-file rewrites.
    public let mappingWrites: Counter
    /// `automagic_agent_mapping_restores_total`: rewrites of a mapping file found missing or
    /// altered on disk (content unchanged from what the agent last wrote).
    public let mappingRestores: Counter
    /// `automagic_agent_resourceslice_writes_total{verb}`: ResourceSlice creates, updates and deletes.
    public let resourceSliceWrites: CounterFamily

    /// Registers the agent's metrics in `registry`.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        probes = registry.makeCounter(descriptor: descriptor("automagic_agent_probes_total", "Full device probes run."))
        probeDuration = registry.makeValueHistogram(
            descriptor: descriptor("automagic_agent_probe_duration_seconds", "Duration of a full device probe."),
            buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5])
        publishes = registry.makeCounter(
            descriptor: descriptor("automagic_agent_publishes_total", "NodeDevice writes (create and status updates)."))
        resolutions = GaugeFamily(
            registry, name: "automagic_agent_resolutions", help: "Current resolution of each network on this node (1 for the current result).",
            labelNames: ["network", "result"])
        watchRestarts = registry.makeCounter(
            descriptor: descriptor("automagic_agent_watch_restarts_total", "List/watch failures that restarted a watch."))
        errors = CounterFamily(registry, name: "automagic_agent_errors_total", help: "Failures by step.", labelNames: ["step"])
        mappingWrites = registry.makeCounter(descriptor: descriptor("automagic_agent_mapping_writes_total", "Mapping file rewrites."))
        mappingRestores = registry.makeCounter(
            descriptor: descriptor(
                "automagic_agent_mapping_restores_total", "Mapping file rewrites because the file on disk was missing or altered."))
        resourceSliceWrites = CounterFamily(
            registry, name: "automagic_agent_resourceslice_writes_total", help: "ResourceSlice writes by verb (create, update, delete).",
            labelNames: ["verb"])
    }
}
