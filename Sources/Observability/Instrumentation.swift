import HTTPServer
import Synchronization

extension MetricsRegistry {
    /// Wraps `handler` to count requests and time them:
    /// `<prefix>_requests_total{method,code}` and `<prefix>_request_duration_seconds{method}`
    /// (the duration runs until the handler returns, so a watch counts its whole stream).
    ///
    /// ```swift
    /// let server = HTTPServer(port: 8080, handler: metrics.instrument(myHandler))
    /// ```
    public func instrument(_ handler: @escaping HTTPHandler, prefix: String = "http") -> HTTPHandler {
        let requests = counter("\(prefix)_requests_total", help: "HTTP requests by method and status code.", labelNames: ["method", "code"])
        let duration = histogram(
            "\(prefix)_request_duration_seconds", help: "Time to serve HTTP requests, by method.", labelNames: ["method"])
        return { request, writer in
            let recording = StatusRecordingWriter(writer)
            let start = ContinuousClock.now
            handler(request, recording)
            let elapsed = ContinuousClock.now - start
            let method = knownMethods.contains(request.method) ? request.method : "OTHER"
            let status = recording.status ?? 500
            requests.increment(labels: ["method": method, "code": String(status)])
            let (seconds, attoseconds) = elapsed.components
            duration.observe(Double(seconds) + Double(attoseconds) / 1e18, labels: ["method": method])
        }
    }
}

/// Methods kept as label values; anything else is "OTHER" (bounded label cardinality).
private let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

/// Forwards to another writer and remembers the status written.
final class StatusRecordingWriter: HTTPResponseWriter {
    let inner: any HTTPResponseWriter
    private let recorded = Mutex<Int?>(nil)

    init(_ inner: any HTTPResponseWriter) {
        self.inner = inner
    }

    var status: Int? { recorded.withLock { $0 } }

    func writeHead(status: Int, headers: HTTPHeaders) {
        recorded.withLock { if $0 == nil { $0 = status } }
        inner.writeHead(status: status, headers: headers)
    }

    func writeBody(_ bytes: [UInt8]) -> Bool {
        recorded.withLock { if $0 == nil { $0 = 200 } }
        return inner.writeBody(bytes)
    }

    func finish() {
        recorded.withLock { if $0 == nil { $0 = 200 } }
        inner.finish()
    }

    var isClientGone: Bool { inner.isClientGone }

    func onClientGone(_ action: @escaping @Sendable () -> Void) { inner.onClientGone(action) }
}
