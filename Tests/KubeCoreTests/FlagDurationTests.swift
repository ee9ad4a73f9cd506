import KubeCore
import Testing

@Suite struct FlagDurationTests {
    @Test(arguments: [
        ("90", Duration.seconds(90)), ("1.5", .milliseconds(1500)), ("0", .zero), ("30s", .seconds(30)),
        ("500ms", .milliseconds(500)), ("10m", .seconds(600)), ("1h", .seconds(3600)), ("1h30m", .seconds(5400)),
        ("2m0.5s", .milliseconds(120_500)), ("250us", .microseconds(250)), ("250µs", .microseconds(250)),
        ("100ns", .nanoseconds(100)), ("366h", .seconds(366 * 3600)),
    ])
    func acceptsGoDurations(_ text: String, _ expected: Duration) {
        #expect(FlagDuration.parse(text) == expected)
    }

    /// Found by the fuzzer's sibling bug: huge, NaN and infinite values used to trap when converted
    /// to integer milliseconds; now they are refused like any other bad flag.
    @Test(arguments: ["", "s", "-5s", "-1", "1e300", "1e300s", "nan", "inf", "-inf", "9e18ms",
                      "10x", "1h30", "5 m", "1..5s", "m5", "367d", "8785h", "1e6h"])
    func refusesWhatIsNotADuration(_ text: String) {
        #expect(FlagDuration.parse(text) == nil, "\(text)")
    }
}
