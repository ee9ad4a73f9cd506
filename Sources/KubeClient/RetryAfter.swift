import CCurl
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The one parser of a `Retry-After` header value (RFC 9110 §10.2.3): either delay-seconds
/// (`1*DIGIT`; a decimal fraction is tolerated) or an HTTP-date in any of its three forms.
///
/// Whatever the server sends, the result is a finite number of seconds in `0...maximum`, or nil
/// when the value is not one of those forms (`nan`, `inf`, `-1`, `1e400`, text): the caller then
/// uses its default. A delay longer than `maximum` (20 digits, a date next year) is cut to `maximum`;
/// a date in the past means "now".
///
/// ```swift
/// RetryAfter.seconds("120")                            // 60 (capped)
/// RetryAfter.seconds("Sun, 06 Nov 1994 08:49:37 GMT") // 0 (in the past)
/// RetryAfter.seconds("nan")                            // nil
/// ```
public enum RetryAfter {
    /// The longest wait a `Retry-After` can impose, in seconds.
    public static let maximum: Double = 60

    /// Seconds to wait for `value`, bounded to `0...maximum`; nil when `value` is neither delay-seconds
    /// nor an HTTP-date. `now` is seconds since 1970 (for HTTP-dates).
    public static func seconds(_ value: String, now: Double = currentTime()) -> Double? {
        let text = value.trimmingWhitespace()
        if let delay = delaySeconds(text) { return min(delay, maximum) }
        if let date = httpDate(text) {
            let delay = date - now
            guard delay.isFinite else { return nil }
            return min(max(delay, 0), maximum)
        }
        return nil
    }

    /// `1*DIGIT` with an optional `.` and fraction; no sign, exponent, `nan` or `inf`. Any number of
    /// digits is accepted (a value beyond `maximum` is not converted at all).
    static func delaySeconds(_ text: String) -> Double? {
        let utf8 = Array(text.utf8)
        let isDigit: (UInt8) -> Bool = { $0 >= 0x30 && $0 <= 0x39 }
        guard let first = utf8.first, isDigit(first) else { return nil }
        let dot = utf8.firstIndex(of: UInt8(ascii: "."))
        let whole = utf8[..<(dot ?? utf8.endIndex)]
        guard whole.allSatisfy(isDigit) else { return nil }
        if let dot {
            let fraction = utf8[(dot + 1)...]
            guard !fraction.isEmpty, fraction.allSatisfy(isDigit) else { return nil }
        }
        // Leading zeros aside, more than 4 integer digits is always beyond the cap.
        let significant = whole.drop { $0 == UInt8(ascii: "0") }
        if significant.count > 4 { return maximum }
        guard let parsed = Double(text), parsed.isFinite, parsed >= 0 else { return nil }
        return parsed
    }

    /// The three HTTP-date forms RFC 9110 §5.6.7 requires a recipient to accept (IMF-fixdate
    /// `Sun, 06 Nov 1994 08:49:37 GMT`, RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT`, asctime
    /// `Sun Nov  6 08:49:37 1994`), as seconds since 1970; parsed by libcurl's `curl_getdate`, the
    /// parser it uses for its own Retry-After and cookie dates.
    static func httpDate(_ text: String) -> Double? {
        // A date has letters (day or month names); this also keeps bare numbers away from curl_getdate.
        guard !text.isEmpty, text.utf8.count < 64, text.utf8.contains(where: { ($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7A }) else {
            return nil
        }
        let seconds = curl_getdate(text, nil)
        guard seconds != -1 else { return nil }
        return Double(seconds)
    }

    /// Seconds since 1970, now.
    public static func currentTime() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
