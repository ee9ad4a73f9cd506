import Synchronization

/// A registry of Prometheus metrics, rendered in the text exposition format 0.0.4.
///
/// Thread-safe: metrics may be registered and updated from any thread.
/// ```swift
/// let metrics = MetricsRegistry()
/// let reconciles = metrics.counter("automagic_reconcile_total", help: "Reconciles by result.", labelNames: ["result"])
/// reconciles.increment(labels: ["result": "success"])
/// let latency = metrics.histogram("automagic_reconcile_duration_seconds", help: "Reconcile latency.")
/// latency.observe(0.012)
/// print(metrics.exposition())
/// ```
/// Registering a name again returns the existing metric when the kind matches. Registering it
/// with another kind returns a working metric that is *not* exported (names are unique in
/// Prometheus); invalid characters in names are replaced by `_`.
public final class MetricsRegistry: Sendable {
    /// The `Content-Type` of `exposition()`.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    private let families = Mutex<[String: any MetricFamily]>([:])

    /// Creates an empty registry.
    public init() {}

    /// Registers (or returns) a counter: a value that only goes up.
    public func counter(_ name: String, help: String, labelNames: [String] = []) -> Counter {
        register(Counter(name: sanitizeMetricName(name), help: help, labelNames: labelNames.map(sanitizeLabelName)))
    }

    /// Registers (or returns) a gauge: a value that goes up and down.
    public func gauge(_ name: String, help: String, labelNames: [String] = []) -> Gauge {
        register(Gauge(name: sanitizeMetricName(name), help: help, labelNames: labelNames.map(sanitizeLabelName)))
    }

    /// Registers (or returns) a histogram with the given upper bounds (`+Inf` is implicit).
    public func histogram(
        _ name: String, help: String, labelNames: [String] = [], buckets: [Double] = Histogram.defaultBuckets
    ) -> Histogram {
        register(
            Histogram(name: sanitizeMetricName(name), help: help, labelNames: labelNames.map(sanitizeLabelName), buckets: buckets))
    }

    /// Registers a gauge whose value is computed at scrape time (for example a cache size).
    public func gaugeFunction(_ name: String, help: String, _ value: @escaping @Sendable () -> Double) {
        let gauge = GaugeFunction(name: sanitizeMetricName(name), help: help, value: value)
        _ = register(gauge)
    }

    /// Registers a counter whose value is read at scrape time (it must never decrease).
    public func counterFunction(_ name: String, help: String, _ value: @escaping @Sendable () -> Double) {
        _ = register(GaugeFunction(name: sanitizeMetricName(name), help: help, value: value, typeName: "counter"))
    }

    private func register<M: MetricFamily>(_ metric: M) -> M {
        families.withLock { families in
            if let existing = families[metric.name] {
                return existing as? M ?? metric
            }
            families[metric.name] = metric
            return metric
        }
    }

    /// The metrics in Prometheus text format 0.0.4, families sorted by name, series by label values.
    public func exposition() -> String {
        let sorted = families.withLock { $0.values.sorted { $0.name < $1.name } }
        var out = ""
        for family in sorted {
            out += "# HELP \(family.name) \(escapeHelp(family.help))\n"
            out += "# TYPE \(family.name) \(family.typeName)\n"
            family.render(into: &out)
        }
        return out
    }
}

/// A metric family the registry can render.
protocol MetricFamily: AnyObject, Sendable {
    var name: String { get }
    var help: String { get }
    var typeName: String { get }
    func render(into out: inout String)
}

/// Label values in `labelNames` order: names missing from `labels` get "", unknown names are ignored.
func labelValues(_ labelNames: [String], _ labels: [String: String]) -> [String] {
    labelNames.map { labels[$0] ?? "" }
}

/// `{a="x",b="y"}` (empty when there are no labels).
func renderLabels(_ names: [String], _ values: [String], extra: (String, String)? = nil) -> String {
    var pairs = zip(names, values).map { "\($0)=\"\(escapeLabelValue($1))\"" }
    if let extra { pairs.append("\(extra.0)=\"\(escapeLabelValue(extra.1))\"") }
    return pairs.isEmpty ? "" : "{" + pairs.joined(separator: ",") + "}"
}

/// Sorts series keys lexicographically by label values.
func sortedKeys<V>(_ series: [[String]: V]) -> [[String]] {
    series.keys.sorted { $0.lexicographicallyPrecedes($1) }
}

/// A monotonically increasing value, per label set.
public final class Counter: MetricFamily {
    let name: String
    let help: String
    let labelNames: [String]
    var typeName: String { "counter" }
    private let series = Mutex<[[String]: Double]>([:])

    init(name: String, help: String, labelNames: [String]) {
        self.name = name
        self.help = help
        self.labelNames = labelNames
    }

    /// Adds `amount` (negative or NaN amounts are ignored: counters never go down).
    public func increment(by amount: Double = 1, labels: [String: String] = [:]) {
        guard amount >= 0 else { return }
        let key = labelValues(labelNames, labels)
        series.withLock { $0[key, default: 0] += amount }
    }

    /// The current value for a label set (0 when never incremented).
    public func value(labels: [String: String] = [:]) -> Double {
        series.withLock { $0[labelValues(labelNames, labels)] ?? 0 }
    }

    func render(into out: inout String) {
        let snapshot = series.withLock { $0 }
        if snapshot.isEmpty && labelNames.isEmpty {
            out += "\(name) 0\n"
            return
        }
        for key in sortedKeys(snapshot) {
            out += "\(name)\(renderLabels(labelNames, key)) \(formatSampleValue(snapshot[key] ?? 0))\n"
        }
    }
}

/// A value that can go up and down, per label set.
public final class Gauge: MetricFamily {
    let name: String
    let help: String
    let labelNames: [String]
    var typeName: String { "gauge" }
    private let series = Mutex<[[String]: Double]>([:])

    init(name: String, help: String, labelNames: [String]) {
        self.name = name
        self.help = help
        self.labelNames = labelNames
    }

    /// Sets the value.
    public func set(_ value: Double, labels: [String: String] = [:]) {
        let key = labelValues(labelNames, labels)
        series.withLock { $0[key] = value }
    }

    /// Adds `amount` (may be negative).
    public func add(_ amount: Double, labels: [String: String] = [:]) {
        let key = labelValues(labelNames, labels)
        series.withLock { $0[key, default: 0] += amount }
    }

    /// Adds 1.
    public func increment(labels: [String: String] = [:]) { add(1, labels: labels) }

    /// Subtracts 1.
    public func decrement(labels: [String: String] = [:]) { add(-1, labels: labels) }

    /// Removes a label set from the output (for series whose object went away).
    public func remove(labels: [String: String]) {
        let key = labelValues(labelNames, labels)
        series.withLock { _ = $0.removeValue(forKey: key) }
    }

    /// The current value for a label set (0 when never set).
    public func value(labels: [String: String] = [:]) -> Double {
        series.withLock { $0[labelValues(labelNames, labels)] ?? 0 }
    }

    func render(into out: inout String) {
        let snapshot = series.withLock { $0 }
        if snapshot.isEmpty && labelNames.isEmpty {
            out += "\(name) 0\n"
            return
        }
        for key in sortedKeys(snapshot) {
            out += "\(name)\(renderLabels(labelNames, key)) \(formatSampleValue(snapshot[key] ?? 0))\n"
        }
    }
}

/// A gauge (or counter) computed when scraped.
final class GaugeFunction: MetricFamily {
    let name: String
    let help: String
    let value: @Sendable () -> Double
    let typeName: String

    init(name: String, help: String, value: @escaping @Sendable () -> Double, typeName: String = "gauge") {
        self.name = name
        self.help = help
        self.value = value
        self.typeName = typeName
    }

    func render(into out: inout String) {
        out += "\(name) \(formatSampleValue(value()))\n"
    }
}

/// Counts observations into buckets, per label set.
public final class Histogram: MetricFamily {
    /// Prometheus' default buckets (seconds): 5 ms … 10 s.
    public static let defaultBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    struct Series {
        var counts: [UInt64]  // per bucket, not cumulative; last is +Inf
        var sum: Double = 0
        var count: UInt64 = 0
    }

    let name: String
    let help: String
    let labelNames: [String]
    /// Sorted, distinct, finite upper bounds.
    let bounds: [Double]
    var typeName: String { "histogram" }
    private let series = Mutex<[[String]: Series]>([:])

    init(name: String, help: String, labelNames: [String], buckets: [Double]) {
        self.name = name
        self.help = help
        self.labelNames = labelNames.filter { $0 != "le" }
        self.bounds = Array(Set(buckets.filter { $0.isFinite })).sorted()
    }

    /// Records one observation.
    public func observe(_ value: Double, labels: [String: String] = [:]) {
        let key = labelValues(labelNames, labels)
        let index = bounds.firstIndex { value <= $0 } ?? bounds.count
        series.withLock { all in
            var s = all[key] ?? Series(counts: Array(repeating: 0, count: bounds.count + 1))
            s.counts[index] += 1
            s.sum += value
            s.count += 1
            all[key] = s
        }
    }

    /// The number of observations for a label set.
    public func count(labels: [String: String] = [:]) -> UInt64 {
        series.withLock { $0[labelValues(labelNames, labels)]?.count ?? 0 }
    }

    /// The sum of observations for a label set.
    public func sum(labels: [String: String] = [:]) -> Double {
        series.withLock { $0[labelValues(labelNames, labels)]?.sum ?? 0 }
    }

    func render(into out: inout String) {
        var snapshot = series.withLock { $0 }
        if snapshot.isEmpty && labelNames.isEmpty {
            snapshot[[]] = Series(counts: Array(repeating: 0, count: bounds.count + 1))
        }
        for key in sortedKeys(snapshot) {
            guard let s = snapshot[key] else { continue }
            var cumulative: UInt64 = 0
            for (i, bound) in bounds.enumerated() {
                cumulative += s.counts[i]
                out += "\(name)_bucket\(renderLabels(labelNames, key, extra: ("le", formatSampleValue(bound)))) \(cumulative)\n"
            }
            cumulative += s.counts[bounds.count]
            out += "\(name)_bucket\(renderLabels(labelNames, key, extra: ("le", "+Inf"))) \(cumulative)\n"
            out += "\(name)_sum\(renderLabels(labelNames, key)) \(formatSampleValue(s.sum))\n"
            out += "\(name)_count\(renderLabels(labelNames, key)) \(s.count)\n"
        }
    }
}

/// Formats a sample value: integers without a fraction, `+Inf`, `-Inf`, `NaN`.
func formatSampleValue(_ v: Double) -> String {
    if v.isNaN { return "NaN" }
    if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
    if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
    return "\(v)"
}

/// HELP text escaping: backslash and newline.
func escapeHelp(_ s: String) -> String {
    var out = ""
    for c in s.unicodeScalars {
        switch c {
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}

/// Label value escaping: backslash, double quote and newline.
func escapeLabelValue(_ s: String) -> String {
    var out = ""
    for c in s.unicodeScalars {
        switch c {
        case "\\": out += "\\\\"
        case "\"": out += "\\\""
        case "\n": out += "\\n"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}

/// Replaces characters outside `[a-zA-Z0-9_:]` (and a leading digit) with `_`.
func sanitizeMetricName(_ name: String) -> String {
    sanitize(name, allowColon: true)
}

/// Replaces characters outside `[a-zA-Z0-9_]` (and a leading digit) with `_`.
func sanitizeLabelName(_ name: String) -> String {
    sanitize(name, allowColon: false)
}

private func sanitize(_ name: String, allowColon: Bool) -> String {
    if name.isEmpty { return "_" }
    var out = ""
    for (i, c) in name.unicodeScalars.enumerated() {
        let ok =
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_" || (allowColon && c == ":")
            || (i > 0 && c >= "0" && c <= "9")
        out.unicodeScalars.append(ok ? c : "_")
    }
    return out
}
