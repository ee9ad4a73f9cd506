import KubeCore

/// Every failure of the Kubernetes client. Each case names the step that failed and carries its cause.
///
/// ```swift
/// do { _ = try await client.resource(Widget.self).get("w1") }
/// catch let error where error.isNotFound { /* create it */ }
/// ```
public enum KubeClientError: Error, CustomStringConvertible, Sendable {
    /// The API server answered with a non-success HTTP status. `status` is the decoded `metav1.Status`
    /// (synthesized from the HTTP code and body when the server did not send one).
    case api(Status, httpCode: Int, url: String)
    /// The request never produced an HTTP response: DNS, connect, TLS (including certificate verification), reset.
    case transport(url: String, message: String)
    /// A time limit expired: `limit` says which (connect, TLS handshake, idle, whole request), `seconds` is
    /// that limit and `elapsed` how long the request had run when it was given up (nil when unknown).
    case timedOut(url: String, seconds: Double, limit: TimeoutLimit = .idle, elapsed: Double? = nil)
    /// A response body that is not the JSON expected.
    case decoding(url: String, message: String)
    /// A request body or query that could not be built.
    case encoding(what: String, message: String)
    /// A kubeconfig or in-cluster configuration problem; `file` and `field` say where.
    case configuration(file: String?, field: String?, message: String)
    /// Credentials could not be obtained (token file unreadable, exec plugin failed).
    case credentials(source: String, message: String)
    /// The watch's resourceVersion is too old (HTTP 410 or an ERROR event with code 410): list again.
    case watchExpired(url: String, message: String)
    /// The caller cancelled the request.
    case cancelled(url: String)

    public var description: String {
        switch self {
        case let .api(status, code, url):
            var text = "request to '\(url)' failed with HTTP \(code)"
            if let reason = status.reason, !reason.isEmpty { text += " \(reason)" }
            if let message = status.message, !message.isEmpty { text += ": \(message)" }
            if let causes = status.details?.causes, !causes.isEmpty {
                let list = causes.map { cause in
                    [cause.field, cause.reason, cause.message].compactMap { $0 }.joined(separator: " ")
                }
                text += " [\(list.joined(separator: "; "))]"
            }
            return text
        case let .transport(url, message):
            return "failed to reach '\(url)': \(message)"
        case let .timedOut(url, seconds, limit, elapsed):
            let after = elapsed.map { ", gave up after \(formatSeconds($0)) s" } ?? ""
            let limitText = "the \(formatSeconds(seconds)) s \(limit.rawValue) timeout"
            switch limit {
            case .connect:
                return "failed to connect to '\(url)': no TCP connection within \(limitText)\(after)"
            case .tlsHandshake:
                return "failed to connect to '\(url)': the TLS handshake did not finish within the \(formatSeconds(seconds)) s "
                    + "connect timeout\(after)"
            case .idle:
                return "failed to read from '\(url)': no data for \(formatSeconds(seconds)) s (\(limit.rawValue) timeout: "
                    + "stalled connection\(after))"
            case .request:
                return "request to '\(url)' did not complete within \(limitText)\(after)"
            case .watchDeadline:
                return "watch '\(url)' did not end within \(formatSeconds(seconds)) s (its timeoutSeconds plus "
                    + "\(formatSeconds(KubernetesClient.watchDeadlineGrace)) s): the server never closed it, so the "
                    + "connection is taken for dead\(after)"
            }
        case let .decoding(url, message):
            return "failed to decode the response from '\(url)': \(message)"
        case let .encoding(what, message):
            return "failed to encode \(what): \(message)"
        case let .configuration(file, field, message):
            var place = "client configuration"
            if let file { place = "kubeconfig \(file)" }
            if let field { place += ": \(field)" }
            return "\(place): \(message)"
        case let .credentials(source, message):
            return "failed to obtain credentials from \(source): \(message)"
        case let .watchExpired(url, message):
            return "watch '\(url)' expired (410 Gone): \(message)"
        case let .cancelled(url):
            return "request to '\(url)' was cancelled"
        }
    }

    /// The HTTP status code of an `.api` error (410 for `.watchExpired`), else nil.
    public var httpCode: Int? {
        switch self {
        case let .api(_, code, _): return code
        case .watchExpired: return 410
        default: return nil
        }
    }

    /// The decoded server `Status` of an `.api` error.
    public var status: Status? {
        if case let .api(status, _, _) = self { return status }
        return nil
    }

    /// 404 / reason NotFound.
    public var isNotFound: Bool { reasonOrCode("NotFound", 404) }
    /// 409 / reason Conflict (a stale resourceVersion on update).
    public var isConflict: Bool { reasonOrCode("Conflict", 409) && status?.reason != "AlreadyExists" }
    /// 409 / reason AlreadyExists (create of an existing name).
    public var isAlreadyExists: Bool { status?.reason == "AlreadyExists" }
    /// 410 Gone, as an HTTP status or a watch ERROR event.
    public var isGone: Bool {
        if case .watchExpired = self { return true }
        return reasonOrCode("Expired", 410) || status?.reason == "Gone"
    }
    /// 429 / reason TooManyRequests.
    public var isTooManyRequests: Bool { reasonOrCode("TooManyRequests", 429) }
    /// 422 / reason Invalid.
    public var isInvalid: Bool { reasonOrCode("Invalid", 422) }
    /// 403 / reason Forbidden.
    public var isForbidden: Bool { reasonOrCode("Forbidden", 403) }
    /// 401 / reason Unauthorized.
    public var isUnauthorized: Bool { reasonOrCode("Unauthorized", 401) }
    /// A stalled connection or request timeout.
    public var isTimeout: Bool {
        if case .timedOut = self { return true }
        return false
    }

    private func reasonOrCode(_ reason: String, _ code: Int) -> Bool {
        guard case let .api(status, httpCode, _) = self else { return false }
        return status.reason == reason || httpCode == code || status.code == code
    }
}

/// Which time limit of a request expired (``KubeClientError/timedOut(url:seconds:limit:elapsed:)``).
public enum TimeoutLimit: String, Sendable, Hashable {
    /// No TCP connection (name resolution included) within the connect timeout.
    case connect
    /// Connected, but the TLS handshake did not finish within the connect timeout.
    case tlsHandshake = "TLS handshake"
    /// No byte arrived for the idle (low-speed) time: a stalled or half-open connection.
    case idle
    /// The whole request took longer than its timeout.
    case request = "whole-request"
    /// A watch was still open past its `timeoutSeconds` plus the grace: the server would have ended
    /// it, so the connection is taken for dead.
    case watchDeadline = "watch deadline"
}

func formatSeconds(_ seconds: Double) -> String {
    if seconds == seconds.rounded(), abs(seconds) < 1e15 { return String(Int(seconds)) }
    return String((seconds * 10).rounded() / 10)
}
