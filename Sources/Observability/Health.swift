import HTTPServer
import Logging
import Prometheus
import Synchronization

/// Errors of the Observability module.
public enum ObservabilityError: Error, Sendable, CustomStringConvertible, Equatable {
    /// A `host:port` listen address could not be parsed.
    case invalidAddress(address: String, cause: String)
    /// The HTTP listener could not start.
    case listen(address: String, cause: String)

    public var description: String {
        switch self {
        case .invalidAddress(let address, let cause): "failed to parse listen address '\(address)': \(cause)"
        case .listen(let address, let cause): "failed to start health/metrics server on '\(address)': \(cause)"
        }
    }
}

/// Named health checks in the style of kube-apiserver's `/healthz`, `/livez` and `/readyz`.
///
/// A check passes by returning and fails by throwing (the error is logged; the HTTP answer
/// says "reason withheld", as kube-apiserver does). `/healthz` and `/livez` run the liveness
/// checks; `/readyz` runs liveness and readiness checks. A `ping` check is always present.
/// ```swift
/// let checks = HealthChecks()
/// checks.addReadinessCheck("informer-sync") { if !synced.value { throw NotSynced() } }
/// ```
public final class HealthChecks: Sendable {
    /// A check: returns when healthy, throws why not.
    public typealias Check = @Sendable () throws -> Void

    private struct Entry {
        var name: String
        var check: Check
        var readinessOnly: Bool
    }

    private let entries = Mutex<[Entry]>([Entry(name: "ping", check: {}, readinessOnly: false)])

    /// Creates the check set with the built-in `ping` check.
    public init() {}

    /// Adds a check run by `/healthz`, `/livez` and `/readyz`. A name used before is replaced.
    public func addLivenessCheck(_ name: String, _ check: @escaping Check) {
        add(Entry(name: name, check: check, readinessOnly: false))
    }

    /// Adds a check run only by `/readyz` (for example "caches synced", "leader elected or standby").
    public func addReadinessCheck(_ name: String, _ check: @escaping Check) {
        add(Entry(name: name, check: check, readinessOnly: true))
    }

    private func add(_ entry: Entry) {
        entries.withLock { list in
            if let i = list.firstIndex(where: { $0.name == entry.name }) {
                list[i] = entry
            } else {
                list.append(entry)
            }
        }
    }

    /// Outcome of one check run.
    public struct Outcome: Sendable, Equatable {
        /// The check's name.
        public var name: String
        /// Nil when it passed; the error description when it failed.
        public var failure: String?
        /// Whether it was excluded by the request (`?exclude=name`).
        public var excluded: Bool
    }

    /// Runs the checks of an endpoint (`readiness` includes the liveness checks).
    public func run(readiness: Bool, excluding excluded: Set<String> = []) -> [Outcome] {
        let list = entries.withLock { $0 }.filter { readiness || !$0.readinessOnly }
        return list.map { entry in
            if excluded.contains(entry.name) { return Outcome(name: entry.name, failure: nil, excluded: true) }
            do {
                try entry.check()
                return Outcome(name: entry.name, failure: nil, excluded: false)
            } catch {
                return Outcome(name: entry.name, failure: "\(error)", excluded: false)
            }
        }
    }

    /// Answers `/healthz`, `/livez`, `/readyz` and `/<endpoint>/<check>` like kube-apiserver;
    /// returns false (writing nothing) for other paths.
    public func handle(_ request: HTTPRequest, _ writer: any HTTPResponseWriter, logger: Logger) -> Bool {
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard let endpoint = parts.first, ["healthz", "livez", "readyz"].contains(endpoint), parts.count <= 2 else {
            return false
        }
        let headers: HTTPHeaders = [
            "Cache-Control": "no-cache, private", "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff",
        ]
        guard request.method == "GET" || request.method == "HEAD" else {
            writer.respond(status: 405, headers: headers, text: "405 method not allowed\n")
            return true
        }
        let outcomes = run(readiness: endpoint == "readyz", excluding: Set(request.queryValues("exclude")))
        for outcome in outcomes {
            if let failure = outcome.failure {
                logger.warning("health check failed", metadata: ["endpoint": "\(endpoint)", "check": "\(outcome.name)", "cause": "\(failure)"])
            }
        }
        if parts.count == 2 {
            guard let outcome = outcomes.first(where: { $0.name == parts[1] }) else {
                writer.respond(status: 404, headers: headers, text: "404 page not found\n")
                return true
            }
            if outcome.failure != nil {
                writer.respond(status: 500, headers: headers, text: "internal server error: check \(outcome.name) failed\n")
            } else {
                writer.respond(status: 200, headers: headers, text: "ok")
            }
            return true
        }
        var lines = ""
        for outcome in outcomes {
            if outcome.excluded {
                lines += "[+]\(outcome.name) excluded: ok\n"
            } else if outcome.failure != nil {
                lines += "[-]\(outcome.name) failed: reason withheld\n"
            } else {
                lines += "[+]\(outcome.name) ok\n"
            }
        }
        if outcomes.contains(where: { $0.failure != nil }) {
            writer.respond(status: 500, headers: headers, text: lines + "\(endpoint) check failed\n")
        } else if request.hasQueryParameter("verbose") {
            writer.respond(status: 200, headers: headers, text: lines + "\(endpoint) check passed\n")
        } else {
            writer.respond(status: 200, headers: headers, text: "ok")
        }
        return true
    }
}

/// A parsed `host:port` listen address (`127.0.0.1:8080`, `[::1]:8080`, `:8080` for all interfaces).
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// The host part, without brackets (`0.0.0.0` when empty in the input).
    public var host: String
    /// The port (0 picks a free one).
    public var port: Int

    /// Creates an address from parts.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`.
    public init(parsing text: String) throws(ObservabilityError) {
        var hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw .invalidAddress(address: text, cause: "missing ']' after IPv6 address")
            }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw .invalidAddress(address: text, cause: "missing ':port'") }
            portPart = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw .invalidAddress(address: text, cause: "missing ':port'")
            }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
            if hostPart.contains(":") {
                throw .invalidAddress(address: text, cause: "IPv6 addresses must be in brackets, e.g. [::1]:8080")
            }
        }
        guard let port = Int(portPart), (0...65535).contains(port) else {
            throw .invalidAddress(address: text, cause: "port must be a number from 0 to 65535")
        }
        if hostPart.isEmpty { hostPart = "0.0.0.0" }
        self.host = String(hostPart)
        self.port = port
    }

    /// `host:port`, with brackets for IPv6.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// Serves `/healthz`, `/livez`, `/readyz` and `/metrics` over plain HTTP, for the agent and
/// the controller (`--health-addr`, `--metrics-addr`). When both addresses are equal one
/// listener serves everything; otherwise the metrics listener serves `/metrics` and the
/// health listener the health endpoints. A nil address disables that listener.
///
/// ```swift
/// let server = try HealthServer(healthAddress: ":8081", metricsAddress: ":8080", registry: registry, checks: checks)
/// try server.start()
/// defer { server.stop() }
/// ```
public final class HealthServer: Sendable {
    private let servers: [(address: ListenAddress, server: HTTPServer)]
    private let bound = Mutex<[ListenAddress]>([])

    /// Prepares the listeners; nothing is bound until `start()`.
    /// - Parameters:
    ///   - healthAddress: `host:port` for the health endpoints, or nil.
    ///   - metricsAddress: `host:port` for `/metrics`, or nil.
    ///   - registry: What `/metrics` serves.
    ///   - processMetrics: Updated before each scrape, when the registry holds them.
    public init(
        healthAddress: String?, metricsAddress: String?, registry: PrometheusCollectorRegistry,
        processMetrics: ProcessMetrics? = nil, checks: HealthChecks, logger: Logger = Logger(label: "automagic.health")
    ) throws(ObservabilityError) {
        let health = try healthAddress.map { text throws(ObservabilityError) in try ListenAddress(parsing: text) }
        let metrics = try metricsAddress.map { text throws(ObservabilityError) in try ListenAddress(parsing: text) }
        var servers: [(ListenAddress, HTTPServer)] = []
        // A small server: a few scrapers and probes at a time. Its requests are tiny and its answers
        // quick, so a client that is slow to send its head (5 s) or to read an answer (5 s) is cut
        // off early; when all 64 connections are taken, the one waiting longest for a request makes
        // room (HTTPServer), so kubelet probes are answered whatever other clients do.
        let limits = HTTPLimits(maxBodyBytes: 64 * 1024, maxConnections: 64, headerTimeout: .seconds(5), readTimeout: .seconds(5),
                                bodyTimeout: .seconds(10), idleTimeout: .seconds(60), writeTimeout: .seconds(5))
        func make(_ address: ListenAddress, serveHealth: Bool, serveMetrics: Bool) -> HTTPServer {
            HTTPServer(host: address.host, port: address.port, limits: limits, logger: logger) { request, writer in
                if serveMetrics, request.path == "/metrics" {
                    guard request.method == "GET" || request.method == "HEAD" else {
                        writer.respond(status: 405, text: "405 method not allowed\n")
                        return
                    }
                    processMetrics?.update()
                    writer.respond(status: 200, headers: ["Content-Type": prometheusContentType], body: registry.emitToBuffer())
                    return
                }
                if serveHealth, checks.handle(request, writer, logger: logger) { return }
                writer.respond(status: 404, text: "404 page not found\n")
            }
        }
        switch (health, metrics) {
        case let (h?, m?) where h == m:
            servers.append((h, make(h, serveHealth: true, serveMetrics: true)))
        default:
            if let health { servers.append((health, make(health, serveHealth: true, serveMetrics: false))) }
            if let metrics { servers.append((metrics, make(metrics, serveHealth: false, serveMetrics: true))) }
        }
        self.servers = servers
    }

    /// Binds and starts the listeners. Returns the bound addresses (health first), with real ports.
    @discardableResult
    public func start() throws(ObservabilityError) -> [ListenAddress] {
        var result: [ListenAddress] = []
        for (address, server) in servers {
            do {
                let port = try server.start()
                result.append(ListenAddress(host: address.host, port: port))
            } catch {
                for (_, started) in servers { started.stop() }
                throw .listen(address: address.description, cause: "\(error)")
            }
        }
        bound.withLock { $0 = result }
        return result
    }

    /// The bound addresses after `start()`.
    public var addresses: [ListenAddress] { bound.withLock { $0 } }

    /// Stops all listeners.
    public func stop() {
        for (_, server) in servers { server.stop() }
    }
}
