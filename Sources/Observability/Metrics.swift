import Prometheus

// The programs' Prometheus metrics live in swift-prometheus' `PrometheusCollectorRegistry`, which
// also renders the text exposition format; the programs bootstrap swift-metrics' `MetricsSystem`
// with a `PrometheusMetricsFactory` over the same registry, so metrics a library reports through
// swift-metrics are served as well. (The own registry this replaced: docs/decisions.md,
// "Metrics: swift-metrics and swift-prometheus".)
//
// The families below only name the labels once: swift-prometheus keeps one series per label set
// (`makeCounter(descriptor:labels:)` returns the existing one), and the code reporting a value
// knows its labels by name.

/// The `Content-Type` of the text exposition format that `PrometheusCollectorRegistry` emits.
public let prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

/// What every labelled family holds: where its series live, its name and help, its label names.
struct LabelledFamily: Sendable {
    let registry: PrometheusCollectorRegistry
    let name: String
    let help: String
    let labelNames: [String]

    init(_ registry: PrometheusCollectorRegistry, name: String, help: String, labelNames: [String], plain: String) {
        precondition(!labelNames.isEmpty, "a family has labels; use registry.\(plain) for a plain one")
        self.registry = registry
        self.name = name
        self.help = help
        self.labelNames = labelNames
    }

    /// The name and help as swift-prometheus takes them (its descriptor is not `Sendable`, so it is
    /// made per use).
    var descriptor: MetricNameDescriptor { Observability.descriptor(name, help) }

    /// `labels` as swift-prometheus takes them: in `labelNames` order, "" for a missing name, unknown
    /// names ignored.
    func pairs(_ labels: [String: String]) -> [(String, String)] {
        labelNames.map { ($0, labels[$0] ?? "") }
    }
}

/// A counter with labels: `increment(labels: ["step": "probe"])`. Label names missing from
/// `labels` get the value "", unknown names are ignored.
public struct CounterFamily: Sendable {
    let family: LabelledFamily

    /// Registers nothing until the first increment (a family without series is not exported).
    public init(_ registry: PrometheusCollectorRegistry, name: String, help: String, labelNames: [String]) {
        family = LabelledFamily(registry, name: name, help: help, labelNames: labelNames, plain: "makeCounter(descriptor:)")
    }

    /// Adds `amount` to the series of `labels`.
    public func increment(by amount: Int64 = 1, labels: [String: String]) {
        family.registry.makeCounter(descriptor: family.descriptor, labels: family.pairs(labels)).increment(by: amount)
    }
}

/// A gauge with labels, whose series can be removed (for objects that went away).
public struct GaugeFamily: Sendable {
    let family: LabelledFamily

    /// Registers nothing until the first `set`.
    public init(_ registry: PrometheusCollectorRegistry, name: String, help: String, labelNames: [String]) {
        family = LabelledFamily(registry, name: name, help: help, labelNames: labelNames, plain: "makeGauge(descriptor:)")
    }

    /// Sets the series of `labels` to `value`.
    public func set(_ value: Double, labels: [String: String]) {
        series(labels).set(value)
    }

    /// Removes the series of `labels` from the output.
    public func remove(labels: [String: String]) {
        family.registry.unregisterGauge(series(labels))
    }

    private func series(_ labels: [String: String]) -> Gauge {
        family.registry.makeGauge(descriptor: family.descriptor, labels: family.pairs(labels))
    }
}

/// A histogram with labels (upper bounds in the unit observed, `+Inf` implicit).
public struct HistogramFamily: Sendable {
    /// Prometheus' default buckets (seconds): 5 ms … 10 s.
    public static let defaultBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    let family: LabelledFamily
    let buckets: [Double]

    /// Registers nothing until the first observation.
    public init(
        _ registry: PrometheusCollectorRegistry, name: String, help: String, labelNames: [String], buckets: [Double] = Self.defaultBuckets
    ) {
        family = LabelledFamily(registry, name: name, help: help, labelNames: labelNames, plain: "makeValueHistogram(descriptor:buckets:)")
        self.buckets = buckets
    }

    /// Records one observation in the series of `labels`.
    public func observe(_ value: Double, labels: [String: String]) {
        family.registry.makeValueHistogram(descriptor: family.descriptor, labels: family.pairs(labels), buckets: buckets).record(value)
    }
}

/// A metric name with its help text (swift-prometheus' descriptor; the name is used as given).
public func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
}
