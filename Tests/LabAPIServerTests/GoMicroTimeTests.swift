import Testing
@testable import LabAPIServer

/// MicroTime errors carry Go's `time.Parse` text, as kube-apiserver's do (traces 172, 173).
@Suite struct GoMicroTimeTests {
    static let prefix = #"as "2006-01-02T15:04:05.000000Z07:00": "#

    @Test(arguments: ["2026-11-28T23:02:50.123456Z", "2026-11-28T23:02:50.123456+02:00", "2024-02-29T00:00:00.000000-05:30"])
    func validMicroTimes(_ value: String) {
        #expect(GoMicroTime.parseError(value) == nil)
    }

    @Test func recordedErrors() {
        #expect(GoMicroTime.parseError("2026-11-28T23:02:57Z") == #"parsing time "2026-11-28T23:02:57Z" "# + Self.prefix + #"cannot parse "Z" as ".000000""#)
        #expect(GoMicroTime.parseError("yesterday") == #"parsing time "yesterday" "# + Self.prefix + #"cannot parse "yesterday" as "2006""#)
    }

    @Test func otherErrors() {
        #expect(GoMicroTime.parseError("2026-11-28T23:02:50.1234Z") == #"parsing time "2026-11-28T23:02:50.1234Z" "# + Self.prefix + #"cannot parse ".1234Z" as ".000000""#)
        #expect(GoMicroTime.parseError("2026-11-28 23:02:50.123456Z") == #"parsing time "2026-11-28 23:02:50.123456Z" "# + Self.prefix + #"cannot parse " 23:02:50.123456Z" as "T""#)
        #expect(GoMicroTime.parseError("2026-13-28T23:02:50.123456Z") == #"parsing time "2026-13-28T23:02:50.123456Z": month out of range"#)
        #expect(GoMicroTime.parseError("2026-02-29T23:02:50.123456Z") == #"parsing time "2026-02-29T23:02:50.123456Z": day out of range"#)
        #expect(GoMicroTime.parseError("2026-11-28T23:02:50.123456Zjunk") == #"parsing time "2026-11-28T23:02:50.123456Zjunk": extra text: "junk""#)
        #expect(GoMicroTime.parseError("2026-11-28T23:02:50.123456+0200") == #"parsing time "2026-11-28T23:02:50.123456+0200" "# + Self.prefix + #"cannot parse "+0200" as "Z07:00""#)
    }
}
