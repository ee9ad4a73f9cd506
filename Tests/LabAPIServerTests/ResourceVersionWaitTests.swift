import Foundation
import JSON
import Testing
import TestSupport
@testable import LabAPIServer
import LabTesting

/// Reads at a resourceVersion the store has not reached (kube-apiserver's watch cache, traces 096 and 098):
/// lists and gets wait for it without holding the store lock, then are served or answer 504; watches
/// start at once and skip the changes up to it. The wait is shortened here; the replay checks the 3 s default.
@Suite struct ResourceVersionWaitTests {
    static let widgets = "/apis/example.com/v1/widgets"

    /// Runs `body` on its own thread (like a connection thread of the server); the returned function waits for its result.
    func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) -> @Sendable () -> T {
        let box = ResultBox<T>()
        Thread { box.set(body()) }.start()
        return { box.wait() }
    }

    func apiWaiting(_ seconds: TimeInterval) -> (LabAPI, APIClient) {
        Fixtures.apiWithWidgets { $0.resourceVersionWait = seconds }
    }

    @Test func listAtFutureResourceVersionWaitsThenTimesOut() throws {
        let (_, client) = apiWaiting(0.3)
        let current = try #require(Int64(client.currentRV()))
        let requested = current + 100
        let started = Date()
        let r = client.call("GET", Self.widgets, query: [("resourceVersion", String(requested))])
        let elapsed = Date().timeIntervalSince(started)
        #expect(elapsed >= 0.3 && elapsed < 2, "waited \(elapsed) s")
        #expect(r.status == 504)
        #expect(r.header("Retry-After") == "1")
        let status = try #require(r.json)
        #expect(status["reason"]?.stringValue == "Timeout")
        #expect(status["message"]?.stringValue == "Timeout: Too large resource version: \(requested), current: \(current)")
        #expect(status[path: ["details", "causes"]] == [["reason": "ResourceVersionTooLarge", "message": "Too large resource version"]])
        #expect(status[path: ["details", "retryAfterSeconds"]] == 1)
        // NotOlderThan is the same read; a reached resourceVersion is served at once.
        let notOlder = client.call("GET", Self.widgets, query: [("resourceVersion", String(requested)), ("resourceVersionMatch", "NotOlderThan")])
        #expect(notOlder.status == 504)
        let reached = Date()
        #expect(client.call("GET", Self.widgets, query: [("resourceVersion", String(current))]).status == 200)
        #expect(Date().timeIntervalSince(reached) < 0.25)
    }

    @Test func getAtFutureResourceVersionWaitsThenTimesOut() throws {
        let (_, client) = apiWaiting(0.3)
        #expect(client.call("POST", Self.widgets, json: Fixtures.widget("w1")).status == 201)
        let current = try #require(Int64(client.currentRV()))
        let started = Date()
        let r = client.call("GET", Self.widgets + "/w1", query: [("resourceVersion", String(current + 5))])
        #expect(Date().timeIntervalSince(started) >= 0.3)
        #expect(r.status == 504)
        #expect(r.json?["message"]?.stringValue == "Timeout: Too large resource version: \(current + 5), current: \(current)")
        #expect(client.call("GET", Self.widgets + "/w1", query: [("resourceVersion", String(current))]).status == 200)
    }

    @Test func writeDuringTheWaitLetsTheListSucceed() throws {
        let (api, client) = apiWaiting(10)
        let target = try #require(Int64(client.currentRV())) + 1
        let started = Date()
        let list = onThread { client.call("GET", Self.widgets, query: [("resourceVersion", String(target))]) }
        try waitUntil { api.store.freshness.waiting.load(ordering: .sequentiallyConsistent) == 1 }
        #expect(client.call("POST", Self.widgets, json: Fixtures.widget("late")).status == 201)
        let r = list()
        #expect(Date().timeIntervalSince(started) < 5, "the write should end the wait, not the 10 s timeout")
        #expect(r.status == 200, "\(r.text)")
        #expect(r.json?["items"]?.arrayValue?.compactMap { $0[path: ["metadata", "name"]]?.stringValue } == ["late"])
        #expect(api.store.freshness.waiting.load(ordering: .sequentiallyConsistent) == 0)
    }

    @Test func manyWaitingListsDoNotSlowOtherRequests() throws {
        let (api, client) = apiWaiting(2)
        let future = try #require(Int64(client.currentRV())) + 1_000_000
        let waiters = 64
        let lists = (0..<waiters).map { _ in onThread { client.call("GET", Self.widgets, query: [("resourceVersion", String(future))]) } }
        try waitUntil { api.store.freshness.waiting.load(ordering: .sequentiallyConsistent) == waiters }
        // Writes (each wakes every waiter) and reads go on at their usual pace while all of them wait.
        let started = Date()
        var slowest: TimeInterval = 0
        for i in 0..<50 {
            let t = Date()
            #expect(client.call("POST", Self.widgets, json: Fixtures.widget("w\(i)")).status == 201)
            #expect(client.call("GET", Self.widgets + "/w\(i)").status == 200)
            slowest = max(slowest, Date().timeIntervalSince(t))
        }
        let total = Date().timeIntervalSince(started)
        #expect(total < 1.5 && slowest < 0.5, "100 requests took \(total) s (slowest \(slowest) s) beside \(waiters) waiting lists")
        #expect(api.store.freshness.waiting.load(ordering: .sequentiallyConsistent) == waiters, "still waiting: the writes did not reach their resourceVersion")
        for list in lists { #expect(list().status == 504) }
        #expect(api.store.freshness.waiting.load(ordering: .sequentiallyConsistent) == 0)
    }

    @Test func clientLeavingEndsTheWait() throws {
        let (api, _) = apiWaiting(30)
        let sink = CollectingSink()
        let request = LabRequest(method: "GET", path: Self.widgets, query: [(name: "resourceVersion", value: "1000000")],
                                 headers: [(name: "Accept", value: "application/json")], body: [], clientCertificate: admin)
        let started = Date()
        let handled = onThread { api.handle(request, sink: sink); return Date() }
        try waitUntil { api.store.freshness.waiting.load(ordering: .sequentiallyConsistent) == 1 }
        sink.gone = true
        let ended = handled()
        #expect(ended.timeIntervalSince(started) < 5, "the wait should end when the client leaves, not after 30 s")
        #expect(api.store.freshness.waiting.load(ordering: .sequentiallyConsistent) == 0)
    }

    @Test func watchFromFutureResourceVersionSendsOnlyLaterChanges() throws {
        let (_, client) = apiWaiting(0.1)
        let current = try #require(Int64(client.currentRV()))
        let started = Date()
        let watch = onThread {
            client.call("GET", Self.widgets, query: [("watch", "1"), ("resourceVersion", String(current + 2)), ("timeoutSeconds", "1")])
        }
        Thread.sleep(forTimeInterval: 0.2)
        for name in ["a", "b", "c"] { #expect(client.call("POST", Self.widgets, json: Fixtures.widget(name)).status == 201) }
        let r = watch()
        #expect(Date().timeIntervalSince(started) >= 0.9, "a watch does not fail at once on a future resourceVersion")
        #expect(r.status == 200)
        let events = try r.text.split(separator: "\n").map { try JSONValue.parse(Array($0.utf8)) }
        #expect(events.map { "\($0["type"]?.stringValue ?? "") \($0[path: ["object", "metadata", "name"]]?.stringValue ?? "")" } == ["ADDED c"])
    }

    /// Over HTTPS: clients that give up during the wait free their waits (long before its 3 s end), and a
    /// request on another connection is answered meanwhile.
    @Test func waitingHTTPClientsThatLeaveFreeTheirWait() throws {
        let lab = try TestLab()
        defer { lab.stop() }
        let server = lab.server
        #expect(server.api.perform(LabRequest(method: "POST", path: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                              headers: [(name: "Content-Type", value: "application/json")],
                                              body: Fixtures.widgetCRD.serialized(), clientCertificate: admin)).status == 201)
        let curl = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", server.certDir + "/ca.crt",
                    "--cert", server.certDir + "/admin.crt", "--key", server.certDir + "/admin.key"]
        let waiters = 12
        let started = Date()
        let leaving = (0..<waiters).map { _ in
            onThread { Result { try run("/usr/bin/curl", curl + ["--max-time", "1", "\(server.url)\(Self.widgets)?resourceVersion=1000000"], timeout: 10) } }
        }
        let waiting = { server.api.store.freshness.waiting.load(ordering: .sequentiallyConsistent) }
        try waitUntil { waiting() == waiters }
        let other = try run("/usr/bin/curl", curl + ["--max-time", "1", "\(server.url)\(Self.widgets)"], timeout: 10)
        #expect(other.stdout == "200", "\(other)")
        for client in leaving {
            let out = try client().get()
            #expect(out.stdout == "000", "the client gave up: \(out)")
        }
        try waitUntil { waiting() == 0 }
        #expect(Date().timeIntervalSince(started) < 2.8, "the waits ended with their clients, not at the 3 s timeout")
    }

    func waitUntil(_ condition: () -> Bool, timeout: TimeInterval = 5) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            try #require(Date() < deadline, "condition not reached within \(timeout) s")
            Thread.sleep(forTimeInterval: 0.005)
        }
    }
}

/// One value handed from a thread to the test.
final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var value: T?

    func set(_ v: T) {
        condition.lock(); value = v; condition.broadcast(); condition.unlock()
    }

    func wait() -> T {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let value { return value }
            condition.wait()
        }
    }
}
