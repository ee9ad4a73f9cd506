import Observability
import Prometheus
import Synchronization

/// The controller's Prometheus metrics (registered in a swift-prometheus `PrometheusCollectorRegistry`).
///
/// - `automagic_controller_reconciles_total{kind,result}`: reconciles by kind (`NetworkDeviceMap`, `Node`) and result (`success`, `error`).
/// - `automagic_controller_reconcile_duration_seconds{kind}`: reconcile latency.
/// - `automagic_controller_queue_depth{kind}`: keys ready to be reconciled per work queue (delayed resyncs excluded).
/// - `automagic_controller_errors_total{kind}`: failed reconciles and failed API writes.
/// - `automagic_controller_api_writes_total{resource}`: API writes by resource (`networkdevicemaps/status`,
///   `nodes`, `nodedevices`, `network-attachment-definitions`, `events`). Lease renewals are not counted.
public final class ControllerMetrics: Sendable {
    /// The registry the metrics live in (serve it with `HealthServer`).
    public let registry: PrometheusCollectorRegistry
    let reconciles: CounterFamily
    let duration: HistogramFamily
    let queueDepth: GaugeFamily
    let errors: CounterFamily
    let writes: CounterFamily
    private let writeTotals = Mutex<[String: Int]>([:])
    private let objectWrites = Mutex<[String: Int]>([:])

    /// Registers the metrics on `registry`.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        reconciles = CounterFamily(
            registry, name: "automagic_controller_reconciles_total", help: "Reconciles by kind and result.", labelNames: ["kind", "result"])
        duration = HistogramFamily(
            registry, name: "automagic_controller_reconcile_duration_seconds", help: "Duration of reconciles.", labelNames: ["kind"])
        queueDepth = GaugeFamily(
            registry, name: "automagic_controller_queue_depth", help: "Keys ready to be reconciled (delayed resyncs excluded).",
            labelNames: ["kind"])
        errors = CounterFamily(registry, name: "automagic_controller_errors_total", help: "Failed reconciles and API writes.", labelNames: ["kind"])
        writes = CounterFamily(
            registry, name: "automagic_controller_api_writes_total", help: "API writes by resource (Lease renewals excluded).",
            labelNames: ["resource"])
    }

    /// Counts one API write to `object` (its name; `namespace/name` when namespaced) of `resource`.
    func wrote(_ resource: String, object: String) {
        writes.increment(labels: ["resource": resource])
        writeTotals.withLock { $0[resource, default: 0] += 1 }
        objectWrites.withLock { $0["\(resource) \(object)", default: 0] += 1 }
    }

    /// API writes so far to the objects whose name (after any `namespace/`) starts with `prefix`,
    /// keyed `"<resource> <object>"`: what a test sharing a cluster with others counts.
    func writes(toObjectsNamed prefix: String) -> [String: Int] {
        objectWrites.withLock { all in
            all.filter { key, _ in
                let object = key.split(separator: " ", maxSplits: 1).last ?? ""
                return (object.split(separator: "/").last ?? "").hasPrefix(prefix)
            }
        }
    }

    /// API writes so far by resource (Lease renewals excluded).
    public var writeCounts: [String: Int] { writeTotals.withLock { $0 } }

    /// All API writes so far (Lease renewals excluded).
    public var totalWrites: Int { writeTotals.withLock { $0.values.reduce(0, +) } }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
