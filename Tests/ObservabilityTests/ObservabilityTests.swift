import Foundation
import Synchronization
import HTTPServer
import Testing

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

@Suite struct MetricsTests {
    @Test func expositionFormat() {
        let registry = MetricsRegistry()
        let requests = registry.counter("automagic_requests_total", help: "Requests by code.\nSecond \\ line.", labelNames: ["code", "path"])
        requests.increment(labels: ["code": "200", "path": "/a"])
        requests.increment(by: 2, labels: ["code": "200", "path": "/a"])
        requests.increment(labels: ["code": "500", "path": "say \"hi\"\\\n"])
        requests.increment(by: -5, labels: ["code": "200", "path": "/a"])  // ignored
        let devices = registry.gauge("automagic_devices", help: "Devices.")
        devices.set(3)
        devices.decrement()
        let latency = registry.histogram("automagic_latency_seconds", help: "Latency.", buckets: [0.1, 1, 0.5])
        latency.observe(0.05)
        latency.observe(0.5)
        latency.observe(7)
        registry.gaugeFunction("automagic_cache_objects", help: "Cached objects.") { 42.5 }
        _ = registry.counter("automagic_empty_total", help: "Never incremented.")

        let expected = """
            # HELP automagic_cache_objects Cached objects.
            # TYPE automagic_cache_objects gauge
            automagic_cache_objects 42.5
            # HELP automagic_devices Devices.
            # TYPE automagic_devices gauge
            automagic_devices 2
            # HELP automagic_empty_total Never incremented.
            # TYPE automagic_empty_total counter
            automagic_empty_total 0
            # HELP automagic_latency_seconds Latency.
            # TYPE automagic_latency_seconds histogram
            automagic_latency_seconds_bucket{le="0.1"} 1
            automagic_latency_seconds_bucket{le="0.5"} 2
            automagic_latency_seconds_bucket{le="1"} 2
            automagic_latency_seconds_bucket{le="+Inf"} 3
            automagic_latency_seconds_sum 7.55
            automagic_latency_seconds_count 3
            # HELP automagic_requests_total Requests by code.\\nSecond \\\\ line.
            # TYPE automagic_requests_total counter
            automagic_requests_total{code="200",path="/a"} 3
            automagic_requests_total{code="500",path="say \\"hi\\"\\\\\\n"} 1

            """
        #expect(registry.exposition() == expected)
        #expect(requests.value(labels: ["code": "200", "path": "/a"]) == 3)
        #expect(latency.count() == 3)
    }

    @Test func histogramWithLabelsAndSpecialValues() {
        let registry = MetricsRegistry()
        let h = registry.histogram("op_seconds", help: "h", labelNames: ["op"], buckets: [1])
        h.observe(2, labels: ["op": "b"])
        h.observe(0.5, labels: ["op": "a"])
        let g = registry.gauge("g", help: "g", labelNames: ["k"])
        g.set(.infinity, labels: ["k": "inf"])
        g.set(.nan, labels: ["k": "nan"])
        g.set(-1e-7, labels: ["k": "small"])
        let text = registry.exposition()
        #expect(text.contains("op_seconds_bucket{op=\"a\",le=\"1\"} 1\nop_seconds_bucket{op=\"a\",le=\"+Inf\"} 1\n"))
        #expect(text.contains("op_seconds_bucket{op=\"b\",le=\"1\"} 0\nop_seconds_bucket{op=\"b\",le=\"+Inf\"} 1\n"))
        #expect(text.contains("g{k=\"inf\"} +Inf\n"))
        #expect(text.contains("g{k=\"nan\"} NaN\n"))
        #expect(text.contains("g{k=\"small\"} -1e-07\n"))
        #expect(text.range(of: "op=\"a\"")!.lowerBound < text.range(of: "op=\"b\"")!.lowerBound)
    }

    @Test func registrationIsIdempotentAndNamesAreSanitized() {
        let registry = MetricsRegistry()
        let a = registry.counter("x_total", help: "x")
        let b = registry.counter("x_total", help: "x")
        a.increment()
        b.increment()
        #expect(a === b)
        #expect(a.value() == 2)
        let clash = registry.gauge("x_total", help: "other kind")
        clash.set(99)
        #expect(!registry.exposition().contains("99"))
        _ = registry.counter("1bad-name.total", help: "h", labelNames: ["bad-label"])
        #expect(registry.exposition().contains("# TYPE _bad_name_total counter"))
    }

    @Test func concurrentUpdatesAreCounted() async {
        let registry = MetricsRegistry()
        let c = registry.counter("c_total", help: "c", labelNames: ["w"])
        let h = registry.histogram("h", help: "h")
        await withTaskGroup(of: Void.self) { group in
            for w in 0..<8 {
                group.addTask {
                    for _ in 0..<1000 {
                        c.increment(labels: ["w": "\(w % 2)"])
                        h.observe(0.01)
                    }
                }
            }
        }
        #expect(c.value(labels: ["w": "0"]) == 4000)
        #expect(c.value(labels: ["w": "1"]) == 4000)
        #expect(h.count() == 8000)
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
        let registry = MetricsRegistry()
        registry.counter("automagic_up_total", help: "up").increment()
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
            healthAddress: "127.0.0.1:0", metricsAddress: "[::1]:0", registry: MetricsRegistry(), checks: HealthChecks())
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
        let first = try HealthServer(healthAddress: "127.0.0.1:0", metricsAddress: nil, registry: MetricsRegistry(), checks: HealthChecks())
        let bound = try first.start()
        defer { first.stop() }
        let second = try HealthServer(
            healthAddress: bound[0].description, metricsAddress: nil, registry: MetricsRegistry(), checks: HealthChecks())
        #expect(throws: ObservabilityError.self) { try second.start() }
    }
}

@Suite struct ProcessMetricsTests {
    @Test func processMetricsAreExported() throws {
        let registry = MetricsRegistry()
        registry.registerProcessMetrics()
        let text = registry.exposition()
        var values: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            values[String(parts[0])] = Double(parts[1])
        }
        #expect(text.contains("# TYPE process_cpu_seconds_total counter\n"))
        #expect(try #require(values["process_resident_memory_bytes"]) > 1_000_000)
        #expect(try #require(values["process_open_fds"]) >= 3)
        #expect(try #require(values["process_max_fds"]) >= 64)
        #expect(try #require(values["process_cpu_seconds_total"]) >= 0)
        let start = try #require(values["process_start_time_seconds"])
        #expect(abs(start - Date().timeIntervalSince1970) < 24 * 3600)
    }
}

@Suite struct InstrumentationTests {
    @Test func instrumentedHandlerCountsAndTimesRequests() throws {
        let registry = MetricsRegistry()
        let handler = registry.instrument { request, writer in
            if request.path == "/missing" {
                writer.respond(status: 404, text: "no")
            } else {
                writer.respond(status: 200, text: "yes")
            }
        }
        for target in ["/a", "/b", "/missing"] {
            let recorder = HTTPResponseRecorder()
            handler(try #require(HTTPRequest(method: "GET", target: target)), recorder)
            #expect(recorder.isFinished)
        }
        handler(try #require(HTTPRequest(method: "BREW", target: "/pot")), HTTPResponseRecorder())
        let text = registry.exposition()
        #expect(text.contains("http_requests_total{method=\"GET\",code=\"200\"} 2\n"))
        #expect(text.contains("http_requests_total{method=\"GET\",code=\"404\"} 1\n"))
        #expect(text.contains("http_requests_total{method=\"OTHER\",code=\"200\"} 1\n"))
        #expect(text.contains("http_request_duration_seconds_count{method=\"GET\"} 3\n"))
    }
}
