/// Durations given on command lines (`--resync-period 10m`), in the syntax of Go's
/// `time.ParseDuration` that Kubernetes components use for their flags: one or more
/// `<number><unit>` terms (`1h30m`, `2.5s`, `500ms`; units h, m, s, ms, us/µs, ns) or a bare
/// number of seconds.
public enum FlagDuration {
    /// The longest duration accepted: longer values are almost certainly typos, and anything near
    /// Int64's range would trap in the conversion to integer nanoseconds.
    public static let maximum: Duration = .seconds(366 * 86_400)

    /// The duration `text` names, or nil when it is not one (empty, malformed, unknown unit,
    /// negative, NaN or infinite, or over `maximum`). Zero is a valid duration: callers that need
    /// a positive one check for it.
    public static func parse(_ text: String) -> Duration? {
        if let seconds = Double(text) { return duration(seconds: seconds) }
        let units: [(suffix: String, seconds: Double)] = [
            ("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600),
        ]
        var rest = Substring(text)
        var total = 0.0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix(while: { $0.isASCII && ($0.isNumber || $0 == ".") })
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            // Longest unit first: "ms" before "m", "ns"/"us" before "s".
            guard let unit = units.sorted(by: { $0.suffix.count > $1.suffix.count }).first(where: { rest.hasPrefix($0.suffix) })
            else { return nil }
            rest = rest.dropFirst(unit.suffix.count)
            total += value * unit.seconds
        }
        return duration(seconds: total)
    }

    private static func duration(seconds: Double) -> Duration? {
        guard seconds.isFinite, seconds >= 0, seconds <= 366 * 86_400 else { return nil }
        return .nanoseconds(Int64((seconds * 1e9).rounded()))
    }
}
