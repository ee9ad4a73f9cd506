import Foundation
import Prometheus
import Synchronization
import Testing
import TestSupport

@testable import Observability

func curl(_ arguments: [String]) throws -> (status: Int32, stdout: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    process.arguments = ["--silent", "--max-time", "10"] + arguments
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

struct NotSynced: Error, CustomStringConvertible {
    var description: String { "caches not synced" }
}

/// The label families over swift-prometheus' registry (the own registry and text format are gone;
/// the format is swift-prometheus').
@Suite struct MetricsTests {
    @Test func familiesKeepOneSeriesPerLabelSetByName() throws {
        let registry = PrometheusCollectorRegistry()
        let requests = CounterFamily(registry, name: "automagic_requests_total", help: "Requests by code.", labelNames: ["code", "path"])
        requests.increment(labels: ["code": "200", "path": "/a"])
        requests.increment(by: 2, labels: ["path": "/a", "code": "200"])  // the same series, whatever the order
        requests.increment(labels: ["code": "500", "other": "ignored"])  // a missing label is ""
        let latency = HistogramFamily(registry, name: "automagic_latency_seconds", help: "Latency.", labelNames: ["op"], buckets: [0.1, 1])
        latency.observe(0.05, labels: ["op": "get"])
        latency.observe(7, labels: ["op": "get"])
        let text = registry.emitToString()
        #expect(sampleValue(text, "automagic_requests_total", labels: ["code": "200", "path": "/a"]) == 3)
        #expect(sampleValue(text, "automagic_requests_total", labels: ["code": "500", "path": ""]) == 1)
        #expect(text.contains("# HELP automagic_requests_total Requests by code.\n"))
        #expect(text.contains("# TYPE automagic_requests_total counter\n"))
        #expect(sampleValue(text, "automagic_latency_seconds_bucket", labels: ["op": "get", "le": "0.1"]) == 1)
        #expect(sampleValue(text, "automagic_latency_seconds_bucket", labels: ["op": "get", "le": "+Inf"]) == 2)
        #expect(sampleValue(text, "automagic_latency_seconds_count", labels: ["op": "get"]) == 2)
    }

    /// Label values come from objects (network names): quotes, backslashes and line feeds are escaped
    /// in the text, so a scraper reads the series back whole.
    @Test func labelValuesAreEscaped() {
        let registry = PrometheusCollectorRegistry()
        let errors = CounterFamily(registry, name: "automagic_errors_total", help: "Errors\\ by step.", labelNames: ["step"])
        let odd = "say \"hi\"\\\n{x=\"1\"}"
        errors.increment(labels: ["step": odd])
        let text = registry.emitToString()
        #expect(text.contains(#"automagic_errors_total{step="say \"hi\"\\\n{x=\"1\"}"} 1"#), "\(text)")
        #expect(text.contains(#"# HELP automagic_errors_total Errors\\ by step."#), "\(text)")
        #expect(sampleValue(text, "automagic_errors_total", labels: ["step": odd]) == 1)
        #expect(text.split(separator: "\n").count == 3, "one HELP, one TYPE and one sample line: \(text)")
    }

    @Test func gaugeSeriesCanBeRemoved() {
        let registry = PrometheusCollectorRegistry()
        let resolutions = GaugeFamily(registry, name: "automagic_resolutions", help: "Resolutions.", labelNames: ["network", "result"])
        resolutions.set(1, labels: ["network": "a", "result": "Resolved"])
        resolutions.set(1, labels: ["network": "b", "result": "Unresolved"])
        resolutions.remove(labels: ["network": "a", "result": "Resolved"])
        var text = registry.emitToString()
        #expect(sampleValue(text, "automagic_resolutions", labels: ["network": "a", "result": "Resolved"]) == nil)
        #expect(sampleValue(text, "automagic_resolutions", labels: ["network": "b", "result": "Unresolved"]) == 1)
        // Removing the last series and setting one again works (the family is registered anew).
        resolutions.remove(labels: ["network": "b", "result": "Unresolved"])
        resolutions.set(1, labels: ["network": "a", "result": "Unresolved"])
        text = registry.emitToString()
        #expect(sampleValue(text, "automagic_resolutions", labels: ["network": "a", "result": "Unresolved"]) == 1)
        #expect(sampleValue(text, "automagic_resolutions", labels: ["network": "b", "result": "Unresolved"]) == nil)
    }

    @Test func concurrentUpdatesAreCounted() async {
        let registry = PrometheusCollectorRegistry()
        let c = CounterFamily(registry, name: "c_total", help: "c", labelNames: ["w"])
        await withTaskGroup(of: Void.self) { group in
            for w in 0..<8 {
                group.addTask {
                    for _ in 0..<1000 { c.increment(labels: ["w": "\(w % 2)"]) }
                }
            }
        }
        let text = registry.emitToString()
        #expect(sampleValue(text, "c_total", labels: ["w": "0"]) == 4000)
        #expect(sampleValue(text, "c_total", labels: ["w": "1"]) == 4000)
    }
}

@Suite struct HealthTests {
    @Test func listenAddressParsing() throws {
        #expect(try ListenAddress(parsing: "127.0.0.1:8080") == ListenAddress(host: "127.0.0.1", port: 8080))
        #expect(try ListenAddress(parsing: "[::1]:0") == ListenAddress(host: "::1", port: 0))
        #expect(try ListenAddress(parsing: ":9090") == ListenAddress(host: "0.0.0.0", port: 9090))
        #expect(ListenAddress(host: "::1", port: 5).description == "[::1]:5")
        for bad in ["8080", "::1:80", "[::1]80", "host:", "host:99999", "[::1"] {
            #expect(throws: ObservabilityError.self) { try ListenAddress(parsing: bad) }
        }
    }

    @Test func sharedAddressServesHealthAndMetrics() throws {
        let registry = PrometheusCollectorRegistry()
        registry.makeCounter(descriptor: descriptor("automagic_up_total", "up")).increment()
        let checks = HealthChecks()
        let synced = Atomic(false)
        checks.addReadinessCheck("informer-sync") { if !synced.load(ordering: .relaxed) { throw NotSynced() } }
        checks.addLivenessCheck("log") {}
        let server = try HealthServer(healthAddress: "127.0.0.1:0", metricsAddress: "127.0.0.1:0", registry: registry, checks: checks)
        let addresses = try server.start()
        defer { server.stop() }
        #expect(addresses.count == 1)
        let base = "http://127.0.0.1:\(try #require(addresses.first).port)"

        #expect(try curl([base + "/healthz"]).stdout == "ok")
        #expect(try curl([base + "/livez?verbose"]).stdout == "[+]ping ok\n[+]log ok\nlivez check passed\n")
        let notReady = try curl(["-w", "\n%{http_code}", base + "/readyz"])
        #expect(notReady.stdout == "[+]ping ok\n[-]informer-sync failed: reason withheld\n[+]log ok\nreadyz check failed\n\n500")
        let excluded = try curl(["-w", "\n%{http_code}", base + "/readyz?verbose&exclude=informer-sync"])
        #expect(excluded.stdout == "[+]ping ok\n[+]informer-sync excluded: ok\n[+]log ok\nreadyz check passed\n\n200")
        #expect(try curl(["-w", " %{http_code}", base + "/readyz/informer-sync"]).stdout.hasSuffix(" 500"))
        synced.store(true, ordering: .relaxed)
        #expect(try curl([base + "/readyz"]).stdout == "ok")
        #expect(try curl([base + "/readyz?verbose"]).stdout == "[+]ping ok\n[+]informer-sync ok\n[+]log ok\nreadyz check passed\n")
        #expect(try curl([base + "/readyz/informer-sync"]).stdout == "ok")
        #expect(try curl(["-w", "%{http_code}", "-o", "/dev/null", base + "/healthz/nope"]).stdout == "404")
        let metrics = try curl(["-D", "-", base + "/metrics"])
        #expect(metrics.stdout.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"))
        #expect(metrics.stdout.contains("automagic_up_total 1\n"))
        #expect(try curl(["-w", "%{http_code}", "-o", "/dev/null", base + "/other"]).stdout == "404")
    }

    @Test func separateAddressesSplitTheEndpoints() throws {
        let server = try HealthServer(
            healthAddress: "127.0.0.1:0", metricsAddress: "[::1]:0", registry: PrometheusCollectorRegistry(), checks: HealthChecks())
        let addresses = try server.start()
        defer { server.stop() }
        #expect(addresses.count == 2)
        let health = "http://127.0.0.1:\(addresses[0].port)"
        let metrics = "http://[::1]:\(addresses[1].port)"
        #expect(try curl([health + "/healthz"]).stdout == "ok")
        #expect(try curl(["-w", "%{http_code}", "-o", "/dev/null", health + "/metrics"]).stdout == "404")
        #expect(try curl(["-g", "-w", "%{http_code}", "-o", "/dev/null", metrics + "/metrics"]).stdout == "200")
        #expect(try curl(["-g", "-w", "%{http_code}", "-o", "/dev/null", metrics + "/healthz"]).stdout == "404")
    }

    @Test func busyPortIsReported() throws {
        let first = try HealthServer(healthAddress: "127.0.0.1:0", metricsAddress: nil, registry: PrometheusCollectorRegistry(), checks: HealthChecks())
        let bound = try first.start()
        defer { first.stop() }
        let second = try HealthServer(
            healthAddress: bound[0].description, metricsAddress: nil, registry: PrometheusCollectorRegistry(), checks: HealthChecks())
        #expect(throws: ObservabilityError.self) { try second.start() }
    }
}

@Suite struct ProcessMetricsTests {
    @Test func processMetricsAreExported() throws {
        let registry = PrometheusCollectorRegistry()
        let process = ProcessMetrics(registry: registry)
        var burn = 0.0
        for i in 0..<3_000_000 { burn += Double(i).squareRoot() }  // some CPU time to count
        #expect(burn > 0)
        process.update()
        let text = registry.emitToString()
        #expect(text.contains("# TYPE process_cpu_seconds_total counter\n"))
        #expect(try #require(sampleValue(text, "process_resident_memory_bytes")) > 1_000_000)
        #expect(try #require(sampleValue(text, "process_open_fds")) >= 3)
        #expect(try #require(sampleValue(text, "process_max_fds")) >= 64)
        let cpu = try #require(sampleValue(text, "process_cpu_seconds_total"))
        #expect(cpu > 0)
        let start = try #require(sampleValue(text, "process_start_time_seconds"))
        #expect(abs(start - Date().timeIntervalSince1970) < 24 * 3600)
        // The counter follows the process' CPU time and never goes down.
        process.update()
        #expect(try #require(sampleValue(registry.emitToString(), "process_cpu_seconds_total")) >= cpu)
    }

    /// `/metrics` refreshes the process metrics it serves.
    @Test func scrapesUpdateProcessMetrics() throws {
        let registry = PrometheusCollectorRegistry()
        let process = ProcessMetrics(registry: registry)
        let server = try HealthServer(
            healthAddress: nil, metricsAddress: "127.0.0.1:0", registry: registry, processMetrics: process, checks: HealthChecks())
        let port = try #require(try server.start().first).port
        defer { server.stop() }
        let before = try #require(sampleValue(registry.emitToString(), "process_open_fds"))
        let files = (0..<20).compactMap { _ in FileHandle(forReadingAtPath: "/dev/null") }
        defer {
            for file in files {
                do { try file.close() } catch { Issue.record("closing /dev/null failed: \(error)") }
            }
        }
        let served = try curl(["http://127.0.0.1:\(port)/metrics"]).stdout
        #expect(try #require(sampleValue(served, "process_open_fds")) >= before + 20)
    }
}
