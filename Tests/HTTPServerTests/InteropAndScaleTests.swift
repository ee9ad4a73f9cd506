import Foundation
import Glibc
import Synchronization
import Testing
import TestSupport

@testable import HTTPServer

@Suite struct InteropAndScaleTests {
    /// kubectl (Go's TLS stack) verifies our serving certificate, presents its client
    /// certificate from a kubeconfig, and speaks HTTP/1.1 through ALPN.
    @Test func kubectlTalksToTheServerWithClientCertificates() throws {
        let pki = try TestPKI.shared.get()
        let dir = try TempDir()
        defer { dir.cleanup() }
        let peers = Recorder<String>()
        try withServer(tls: pki.tls, handler: { request, writer in
            peers.append("\(request.peer?.commonName ?? "-") \(request.peer?.organizations ?? []) \(request.version)")
            writer.respond(status: 200, headers: ["Content-Type": "text/plain"], text: "ok")
        }) { port in
            func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }
            let kubeconfig = """
                apiVersion: v1
                kind: Config
                clusters:
                - name: lab
                  cluster:
                    server: https://127.0.0.1:\(port)
                    certificate-authority-data: \(b64(pki.ca.certificatePEM))
                users:
                - name: alice
                  user:
                    client-certificate-data: \(b64(pki.alice.certificatePEM))
                    client-key-data: \(b64(pki.alice.privateKeyPEM))
                contexts:
                - name: lab
                  context: {cluster: lab, user: alice}
                current-context: lab
                """
            let file = try dir.write("kubeconfig", kubeconfig)
            let out = try run("/usr/bin/kubectl", ["--kubeconfig", file, "get", "--raw", "/healthz"])
            #expect(out.status == 0, "\(out.stderr)")
            #expect(out.stdout == "ok")
            #expect(peers.all.first == "alice [\"devs\", \"system:masters\"] HTTP/1.1")
        }
    }

    /// Many long-lived chunked streams at once, each receiving every broadcast event.
    @Test func hundredAndTwentyConcurrentWatchers() throws {
        let watchers = 120
        let subscribed = Mutex<[any HTTPResponseWriter]>([])
        let done = Signal()
        try withServer(handler: { _, writer in
            writer.writeHead(status: 200, headers: ["Content-Type": "application/json"])
            writer.writeBody(Array("{\"type\":\"BOOKMARK\"}\n".utf8))
            let ended = Signal()
            writer.onClientGone { ended.fire() }
            subscribed.withLock { $0.append(writer) }
            _ = ended.wait(timeout: 30)
        }) { port in
            let clients = try (0..<watchers).map { _ in try RawClient(port: port) }
            for client in clients { try client.send("GET /watch HTTP/1.1\r\nHost: x\r\n\r\n") }
            for client in clients { #expect(try client.read(until: "BOOKMARK")) }
            let deadline = Date().addingTimeInterval(10)
            while subscribed.withLock({ $0.count }) < watchers && Date() < deadline { usleep(10_000) }
            let writers = subscribed.withLock { $0 }
            #expect(writers.count == watchers)
            for i in 0..<5 {
                for writer in writers { #expect(writer.writeBody(Array("{\"type\":\"ADDED\",\"n\":\(i)}\n".utf8))) }
            }
            var complete = 0
            for client in clients where try client.read(until: "\"n\":4}") { complete += 1 }
            #expect(complete == watchers)
            done.fire()
        }
    }
}

/// TCP states (from /proc/net/tcp{,6}) of sockets whose local port is `port`.
func socketStates(localPort port: Int) throws -> [String] {
    var states: [String] = []
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 3, let colon = fields[1].lastIndex(of: ":") else { continue }
            if Int(fields[1][fields[1].index(after: colon)...], radix: 16) == port { states.append(String(fields[3])) }
        }
    }
    return states
}

@Suite struct ResourceTests {
    /// After clients leave — normally, mid-stream, mid-request, or with garbage — the server
    /// closes its side: no socket of the server's port stays ESTABLISHED (01) or CLOSE_WAIT (08).
    @Test func serverClosesEveryConnectionItsClientsLeave() throws {
        let pki = try TestPKI.shared.get()
        let dir = try TempDir()
        defer { dir.cleanup() }
        let caFile = try dir.write("ca.crt", pki.ca.certificatePEM)
        try withServer(tls: pki.tls, handler: { request, writer in
            if request.path == "/stream" {
                writer.writeHead(status: 200, headers: [:])
                while writer.writeBody(Array("x\n".utf8)) { usleep(20_000) }
            } else {
                writer.respond(status: 200, text: "ok")
            }
        }) { port in
            for _ in 0..<5 {
                #expect(try curl(["--cacert", caFile, "https://127.0.0.1:\(port)/a", "https://127.0.0.1:\(port)/b"]).stdout == "okok")
            }
            let streamed = try curl(["--cacert", caFile, "--max-time", "0.5", "https://127.0.0.1:\(port)/stream"])
            #expect(streamed.status == 28)  // curl gave up mid-stream
            for garbage in ["\u{16}\u{3}\u{1}garbage", "GET / HTTP/1.1\r\n"] {
                let client = try RawClient(port: port)
                try client.send(garbage)
            }
            // Server sides of closed connections go away (give the threads a moment).
            let deadline = Date().addingTimeInterval(5)
            var lingering: [String] = []
            repeat {
                usleep(100_000)
                lingering = try socketStates(localPort: port).filter { $0 == "01" || $0 == "08" }
            } while !lingering.isEmpty && Date() < deadline
            #expect(lingering.isEmpty, "server-side sockets still open: \(lingering)")
        }
    }
}
