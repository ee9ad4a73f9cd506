import Foundation
import HTTPServer
import KubeClient
import KubeCore
import Testing
@testable import KubeRuntime

/// The watcher over the real client against a scripted API server (plain HTTP, real sockets).
@Suite struct WatchReconnectTests {
    static func lease(_ name: String, rv: String) -> String {
        #"{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"\#(name)","namespace":"default","resourceVersion":"\#(rv)"},"spec":{"holderIdentity":"x"}}"#
    }

    /// A watch line longer than the client's limit fails that watch with an error naming the limit;
    /// the watcher reconnects from the same resourceVersion (no relist needed) and goes on.
    @Test func watcherReconnectsAfterAnOverlongWatchLine() async throws {
        let watches = Locked<[String]>([])
        let lists = Locked(0)
        let server = HTTPServer(port: 0) { request, writer in
            guard request.queryValue("watch") == "1" else {
                lists.withLock { $0 += 1 }
                writer.respond(status: 200, headers: ["Content-Type": "application/json"], body: Array(
                    #"{"apiVersion":"coordination.k8s.io/v1","kind":"LeaseList","metadata":{"resourceVersion":"10"},"items":[\#(Self.lease("a", rv: "5"))]}"#.utf8))
                return
            }
            let n = watches.withLock { $0.append(request.queryValue("resourceVersion") ?? ""); return $0.count }
            writer.writeHead(status: 200, headers: ["Content-Type": "application/json"])
            if n == 1 {
                // 64 KiB in one event: over the client's 4 KiB limit.
                let padding = String(repeating: "p", count: 64 << 10)
                _ = writer.writeBody(Array((#"{"type":"ADDED","object":{"metadata":{"name":"big","annotations":{"x":"\#(padding)"}}}}"# + "\n").utf8))
                // Held open: only the client can end this watch.
                for _ in 0..<100 where !writer.isClientGone { usleep(50_000) }
            } else if n == 2 {
                _ = writer.writeBody(Array((#"{"type":"ADDED","object":\#(Self.lease("b", rv: "11"))}"# + "\n").utf8))
            }
            writer.finish()
        }
        let port = try server.start()
        defer { server.stop() }
        var config = ClientConfiguration(server: "http://127.0.0.1:\(port)", maxRetries: 0)
        config.maxWatchLineBytes = 4096
        let client = try KubernetesClient(configuration: config)
        let failures = Locked<[String]>([])
        let watcher = Watcher(source: client.resource(Lease.self, namespace: "default"),
                              configuration: WatcherConfiguration(pageSize: nil, bookmarks: false, timeoutSeconds: 30),
                              backoff: Backoff(initial: .milliseconds(50), maximum: .seconds(1)),
                              onFailure: { error in failures.withLock { $0.append("\(error)") } })
        var applied: [String] = []
        for await event in watcher.events() {
            if case .applied(let lease) = event { applied.append(lease.metadata.name ?? "") }
            if !applied.isEmpty { break }
        }
        #expect(applied == ["b"])
        let failure = try #require(failures.value.first)
        #expect(failure.contains("4 KiB limit") && failure.contains("maxWatchLineBytes"), "the error names the limit: \(failure)")
        #expect(watches.value.prefix(2) == ["10", "10"], "both watches start from the list's resourceVersion: \(watches.value)")
        #expect(lists.value == 1, "a reconnect, not a relist")
    }
}
