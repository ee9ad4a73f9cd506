// Backoff policies. Both are plain values: callers pass `now` and a random number in [0, 1),
// so tests are deterministic and no clock or RNG hides inside.

/// Exponential backoff with jitter and a reset timer, for reconnecting watches
/// (kube-rs `DefaultBackoff`: 0.8 s → 30 s, ×2, jitter, reset after 2 minutes without failures).
///
/// Jitter multiplies each delay by a factor in `[1 - jitter, 1 + jitter)`; the result never exceeds
/// `maximum`. When the previous delay was handed out more than `resetAfter` ago, the sequence starts
/// over at `initial`: a watch that was healthy for two minutes retries fast again.
public struct Backoff: Sendable, Equatable {
    /// The first delay.
    public var initial: Duration
    /// The largest delay.
    public var maximum: Duration
    /// The growth factor between consecutive delays.
    public var multiplier: Double
    /// The relative jitter, 0 ... 1 (0.2 means ±20 %).
    public var jitter: Double
    /// Start over after this long without a call to `next` (nil: never).
    public var resetAfter: Duration?

    private var current: Duration?
    private var lastUse: ContinuousClock.Instant?

    /// kube-rs' defaults: 0.8 s → 30 s, ×2, ±20 % jitter, reset after 120 s.
    public static let watchDefault = Backoff(
        initial: .milliseconds(800), maximum: .seconds(30), multiplier: 2, jitter: 0.2, resetAfter: .seconds(120))

    /// Creates a policy.
    public init(initial: Duration, maximum: Duration, multiplier: Double = 2, jitter: Double = 0.2, resetAfter: Duration? = nil) {
        self.initial = initial
        self.maximum = max(initial, maximum)
        self.multiplier = max(1, multiplier)
        self.jitter = min(max(jitter, 0), 1)
        self.resetAfter = resetAfter
    }

    /// The undelayed base of the next delay (before jitter), for inspection and tests.
    public var nextBase: Duration { current ?? initial }

    /// Returns the next delay and advances the sequence. `random` is a number in [0, 1).
    public mutating func next(now: ContinuousClock.Instant, random: Double) -> Duration {
        if let lastUse, let resetAfter, now - lastUse >= resetAfter { current = nil }
        let base = current ?? initial
        lastUse = now
        current = min(Duration.fromSeconds(base.seconds * multiplier), maximum)
        let factor = 1 - jitter + 2 * jitter * min(max(random, 0), 1)
        return min(Duration.fromSeconds(base.seconds * factor), maximum)
    }

    /// Returns the next delay using the system random number generator.
    public mutating func next(now: ContinuousClock.Instant) -> Duration {
        next(now: now, random: Double.random(in: 0..<1))
    }

    /// Starts the sequence over.
    public mutating func reset() {
        current = nil
        lastUse = nil
    }
}

/// Per-key exponential backoff for failed reconciles (controller-runtime's item limiter:
/// `base × 2^failures`, capped), with jitter.
///
/// Defaults: 5 ms → 5 minutes. controller-runtime caps at 1000 s; a node agent that waits more
/// than 16 minutes to retry a mapping after a transient API outage is worse than a few more
/// requests, so the cap here is 5 minutes (configurable).
public struct KeyedBackoff<Key: Hashable & Sendable>: Sendable {
    /// The first delay after one failure.
    public var base: Duration
    /// The largest delay.
    public var maximum: Duration
    /// The relative jitter, 0 ... 1.
    public var jitter: Double
    private var failures: [Key: Int] = [:]

    /// Creates a per-key policy.
    public init(base: Duration = .milliseconds(5), maximum: Duration = .seconds(300), jitter: Double = 0.1) {
        self.base = base
        self.maximum = max(base, maximum)
        self.jitter = min(max(jitter, 0), 1)
    }

    /// Records a failure of `key` and returns how long to wait before retrying it.
    public mutating func failure(_ key: Key, random: Double) -> Duration {
        let count = failures[key, default: 0]
        failures[key] = count + 1
        let exponent = Double(min(count, 62))
        let raw = min(base.seconds * pow2(exponent), maximum.seconds)
        let factor = 1 - jitter + 2 * jitter * min(max(random, 0), 1)
        return min(Duration.fromSeconds(raw * factor), maximum)
    }

    /// Forgets the failures of `key` (after a successful reconcile).
    public mutating func forget(_ key: Key) { failures[key] = nil }

    /// How many consecutive failures `key` has had.
    public func failureCount(_ key: Key) -> Int { failures[key, default: 0] }

    private func pow2(_ exponent: Double) -> Double {
        var result = 1.0
        var remaining = Int(exponent)
        while remaining > 0 { result *= 2; remaining -= 1 }
        return result
    }
}
