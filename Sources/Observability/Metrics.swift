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

/// A counter with labels: `increment(labels: ["step": "probe"])`. Label names missing from
/// `labels` get the value "", unknown names are ignored.
public struct CounterFamily: Sendable {
    let registry: PrometheusCollectorRegistry
    let name: String
    let help: String
    let labelNames: [String]

    /// Registers nothing until the first increment (a family without series is not exported).
    public init(_ registry: PrometheusCollectorRegistry, name: String, help: String, labelNames: [String]) {
        precondition(!labelNames.isEmpty, "a family has labels; use registry.makeCounter(descriptor:) for a plain counter")
        self.registry = registry
        self.name = name
        self.help = help
        self.labelNames = labelNames
    }

    /// Adds `amount` to the series of `labels`.
    public func increment(by amount: Int64 = 1, labels: [String: String]) {
        registry.makeCounter(descriptor: descriptor(name, help), labels: pairs(labelNames, labels)).increment(by: amount)
    }
}

/// A gauge with labels, whose series can be removed (for objects that went away).
public struct GaugeFamily: Sendable {
    let registry: PrometheusCollectorRegistry
    let name: String
    let help: String
    let labelNames: [String]

    /// Registers nothing until the first `set`.
    public init(_ registry: PrometheusCollectorRegistry, name: String, help: String, labelNames: [String]) {
        precondition(!labelNames.isEmpty, "a family has labels; use registry.makeGauge(descriptor:) for a plain gauge")
        self.registry = registry
        self.name = name
        self.help = help
        self.labelNames = labelNames
    }

    /// Sets the series of `labels` to `value`.
    public func set(_ value: Double, labels: [String: String]) {
        registry.makeGauge(descriptor: descriptor(name, help), labels: pairs(labelNames, labels)).set(value)
    }

    /// Removes the series of `labels` from the output.
    public func remove(labels: [String: String]) {
        registry.unregisterGauge(registry.makeGauge(descriptor: descriptor(name, help), labels: pairs(labelNames, labels)))
    }
}

/// A histogram with labels (upper bounds in the unit observed, `+Inf` implicit).
public struct HistogramFamily: Sendable {
    /// Prometheus' default buckets (seconds): 5 ms … 10 s.
    public static let defaultBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    let registry: PrometheusCollectorRegistry
    let name: String
    let help: String
    let labelNames: [String]
    let buckets: [Double]

    /// Registers nothing until the first observation.
    public init(
        _ registry: PrometheusCollectorRegistry, name: String, help: String, labelNames: [String], buckets: [Double] = Self.defaultBuckets
    ) {
        precondition(!labelNames.isEmpty, "a family has labels; use registry.makeValueHistogram(descriptor:buckets:) for a plain one")
        self.registry = registry
        self.name = name
        self.help = help
        self.labelNames = labelNames
        self.buckets = buckets
    }

    /// Records one observation in the series of `labels`.
    public func observe(_ value: Double, labels: [String: String]) {
        registry.makeValueHistogram(descriptor: descriptor(name, help), labels: pairs(labelNames, labels), buckets: buckets).record(value)
    }
}

/// A metric name with its help text (swift-prometheus' descriptor; the name is used as given).
public func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
}

/// Label pairs in `names` order.
func pairs(_ names: [String], _ labels: [String: String]) -> [(String, String)] {
    names.map { ($0, labels[$0] ?? "") }
}
