/// SplitMix64: a small deterministic random number generator, so that a generated test input
/// (fuzzed bytes, random documents) is the same on every run and a failure reproduces from its seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The random state; the same seed gives the same sequence.
    public var state: UInt64

    public init(state: UInt64) { self.state = state }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<n` (0 when n ≤ 1).
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }

    /// true or false, evenly.
    public mutating func chance() -> Bool { below(2) == 0 }
}
