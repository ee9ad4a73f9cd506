import Foundation
import HTTPServer
import JSON
import KubeClient
import KubeCore
import Testing

/// Properties of the client over real HTTPS against scripted API servers: list restarts after an
/// expired `continue` token, randomized watch timeouts, and the client-side rate limit, each
/// asserted on the requests the server received.
@Suite struct ClientPropertyTests {
    static func list(_ names: [String], rv: String, continueToken: String? = nil) -> JSONValue {
        var metadata: JSONValue = ["resourceVersion": .string(rv)]
        if let continueToken { metadata["continue"] = .string(continueToken) }
        return ["apiVersion": "example.com/v1", "kind": "WidgetList", "metadata": metadata,
                "items": .array(names.map { widgetJSON($0, rv: rv) })]
    }

    /// kube-apiserver's answer to an expired continue token (trace 202), with the token for an
    /// inconsistent continuation.
    static let expired: JSONValue = [
        "kind": "Status", "apiVersion": "v1", "metadata": ["continue": "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6LTEsInN0YXJ0IjoidzJcdTAwMDAifQ"],
        "status": "Failure", "reason": "Expired", "code": 410,
        "message": "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results.",
    ]

    static func queryItem(_ query: String, _ name: String) -> String? {
        query.split(separator: "&").first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
    }

    /// Page 2 answers 410 (its token expired): `listAll` starts again from page 1, without the stale
    /// token or a resourceVersion, and returns the new snapshot whole.
    @Test func expiredContinueTokenRestartsTheListFromPageOne() async throws {
        let firstPages = Locked(0)
        let server = try FakeAPIServer { request, writer in
            switch Self.queryItem(request.rawQuery, "continue") {
            case nil:
                let n = firstPages.withLock { $0 += 1; return $0 }
                respondJSON(writer, Self.list(["w1", "w2"], rv: n == 1 ? "100" : "200", continueToken: n == 1 ? "old" : "new"))
            case "old"?:
                respondJSON(writer, status: 410, Self.expired)
            case "new"?:
                respondJSON(writer, Self.list(["w3"], rv: "200"))
            case let other?:
                respondJSON(writer, status: 400, ["kind": "Status", "code": 400, "message": .string("unexpected token \(other)")])
            }
        }
        let client = try KubernetesClient(configuration: server.configuration)
        let all = try await client.resource(Widget.self).listAll(pageSize: 2)
        #expect(all.items.map(\.metadata.name) == ["w1", "w2", "w3"])
        #expect(all.metadata.resourceVersion == "200", "the restarted list's snapshot")
        let requests = server.requests.map(\.query)
        try #require(requests.count == 4, "\(requests)")
        #expect(Self.queryItem(requests[0], "continue") == nil && Self.queryItem(requests[0], "limit") == "2")
        #expect(Self.queryItem(requests[1], "continue") == "old")
        // Page 1 again: no continue token, no resourceVersion (a fresh, consistent read).
        #expect(Self.queryItem(requests[2], "continue") == nil && Self.queryItem(requests[2], "resourceVersion") == nil)
        #expect(Self.queryItem(requests[2], "limit") == "2")
        #expect(Self.queryItem(requests[3], "continue") == "new")
    }

    /// A server whose tokens always expire: the restarts are bounded, then the 410 is the error.
    @Test func listRestartsAfterExpiryAreBounded() async throws {
        let server = try FakeAPIServer { request, writer in
            if Self.queryItem(request.rawQuery, "continue") == nil {
                respondJSON(writer, Self.list(["w1"], rv: "1", continueToken: "t"))
            } else {
                respondJSON(writer, status: 410, Self.expired)
            }
        }
        let client = try KubernetesClient(configuration: server.configuration)
        let error = await #expect(throws: KubeClientError.self) { try await client.resource(Widget.self).listAll(pageSize: 1, restartsOnExpiry: 2) }
        #expect(error?.isGone == true, "\(String(describing: error))")
        #expect(server.requests.count == 6, "3 lists of 2 pages: \(server.requests.map(\.query))")
    }

    /// Watches without an explicit timeout ask for a random 5–10 minutes each (as client-go), so
    /// that many clients do not reconnect in step.
    @Test func watchTimeoutSecondsVaryAcrossWatches() async throws {
        let server = try FakeAPIServer { _, writer in
            writer.writeHead(status: 200, headers: ["Content-Type": "application/json"])
            writer.finish()
        }
        let client = try KubernetesClient(configuration: server.configuration)
        for _ in 0..<20 {
            for try await _ in client.resource(Widget.self).watch(WatchOptions(resourceVersion: "1")) {}
        }
        let timeouts = server.requests.compactMap { Self.queryItem($0.query, "timeoutSeconds").flatMap { Int($0) } }
        try #require(timeouts.count == 20, "\(server.requests.map(\.query))")
        #expect(timeouts.allSatisfy { (300..<600).contains($0) }, "\(timeouts)")
        // 20 draws from 300 values: fewer than 10 distinct ones would mean they are not random.
        #expect(Set(timeouts).count >= 10, "\(timeouts)")
    }

    /// QPS 5, burst 10, 100 requests at once: the first 10 reach the server at once, then one
    /// every 200 ms, never earlier (times taken at the server, from the moment the burst began).
    @Test func rateLimitLetsTheBurstThroughThenSpacesRequests() async throws {
        let arrivals = Locked<[ContinuousClock.Instant]>([])
        let server = try FakeAPIServer { _, writer in
            arrivals.withLock { $0.append(.now) }
            respondJSON(writer, widgetJSON("w1", rv: "1"))
        }
        var config = server.configuration
        config.qps = 5
        config.burst = 10
        let client = try KubernetesClient(configuration: config)
        let widgets = client.resource(Widget.self)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<100 { group.addTask { _ = try await widgets.get("w1") } }
            try await group.waitForAll()
        }
        let offsets = arrivals.value.sorted().map { ($0 - start).inSeconds }
        try #require(offsets.count == 100)
        print("rate limit QPS 5 / burst 10: 10th request at \(offsets[9]) s, 11th at \(offsets[10]) s, 100th at \(offsets[99]) s")
        #expect(offsets[9] < 1.5, "the burst of 10 took \(offsets[9]) s")
        for k in 10..<100 {
            // Request k may leave once k - 9 tokens have been refilled at 5 per second.
            let earliest = Double(k - 9) / 5
            #expect(offsets[k] >= earliest - 0.05, "request \(k + 1) arrived at \(offsets[k]) s, before \(earliest) s")
            #expect(offsets[k] < earliest + 3, "request \(k + 1) arrived at \(offsets[k]) s, long after \(earliest) s")
        }
        // The spacing after the burst: 89 intervals of 200 ms, with slack for a busy machine.
        let rate = (offsets[99] - offsets[10]) / (89 * 0.2)
        #expect(rate > 0.9 && rate < 1.2, "spacing was \(rate) times the limit's")
    }
}

extension Duration {
    var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
