import Foundation
import HTTPServer
import JSON
import KubeCore
import LabAPIServer
import LabTesting
import Testing
import TestSupport
@testable import KubeClient

/// nghttpx (Debian's `nghttp2-proxy`) in front of a test server: HTTP/2 over TLS on the front, the
/// server's HTTPS/1.1 behind, as a real HTTP/2 peer for the client (kube-apiserver speaks HTTP/2;
/// the lab server does not).
final class HTTP2Proxy: @unchecked Sendable {
    static let binary = "/usr/sbin/nghttpx"
    let port: Int
    let folder: String
    private let process = Process()

    init(backendPort: Int, certificatePEM: String, keyPEM: String) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw ProxyError("\(Self.binary) not found: install the Debian package nghttp2-proxy (hack/install-deps.sh does)")
        }
        folder = try makeTempDir("kubeclient-test")
        try write(certificatePEM, to: folder + "/server.crt")
        try write(keyPEM, to: folder + "/server.key")
        port = try freeLoopbackPort()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = [
            "--single-process", "--conf=/dev/null", "--no-ocsp",
            "--frontend=127.0.0.1,\(port)", "--backend=127.0.0.1,\(backendPort);;tls", "--insecure",
            "--errorlog-file=\(folder)/error.log", "--accesslog-file=\(folder)/access.log",
            folder + "/server.key", folder + "/server.crt",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        // Ready when the front port accepts connections.
        let deadline = Date().addingTimeInterval(10)
        while !Self.accepts(port) {
            guard Date() < deadline, process.isRunning else {
                stop()
                let log = try errorLog
                throw ProxyError("nghttpx did not start listening on 127.0.0.1:\(port): \(log)")
            }
            usleep(20_000)
        }
    }

    var accessLog: String { get throws { try contentsIfPresent(folder + "/access.log") } }
    /// Whether the access log (written a moment after each response) mentions `text` within 5 s.
    func accessLogEventually(contains text: String) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            if try accessLog.contains(text) { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    var errorLog: String { get throws { try contentsIfPresent(folder + "/error.log") } }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        removeTestFiles(folder)
    }

    deinit { stop() }

    private static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    struct ProxyError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct HTTP2Tests {
    /// The lab API server behind an HTTP/2 proxy: requests and several open watches share one
    /// connection, and watch events stream through HTTP/2 as they happen.
    @Test func requestsAndWatchesShareOneHTTP2Connection() async throws {
        let testLab = try TestLab { $0.tokens = ["h2-test-token": LabUser(name: "h2-admin", groups: ["system:masters"])] }
        defer { testLab.stop() }
        let lab = testLab.server
        let proxy = try HTTP2Proxy(
            backendPort: lab.port,
            certificatePEM: try String(contentsOfFile: testLab.directory + "/server.crt", encoding: .utf8),
            keyPEM: try String(contentsOfFile: testLab.directory + "/server.key", encoding: .utf8))
        defer { proxy.stop() }

        var configuration = ClientConfiguration(
            server: "https://127.0.0.1:\(proxy.port)", certificateAuthority: .data(Array(lab.caPEM.utf8)), token: "h2-test-token")
        configuration.qps = 0
        let client = try KubernetesClient(configuration: configuration)
        let namespaces = client.resource(Namespace.self)
        let prefix = "h2-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let list = try await namespaces.list()

        // Eight watches from the list's resourceVersion, each collecting our namespaces.
        let watchers = (0..<8).map { _ in
            Task { () throws -> [String] in
                var names: [String] = []
                for try await event in namespaces.watch(WatchOptions(resourceVersion: list.metadata.resourceVersion, labelSelector: "h2-test=\(prefix)")) {
                    if event.type == .added, let name = event.object?.metadata.name { names.append(name) }
                    if names.count == 5 { break }
                }
                return names
            }
        }
        var created: [String] = []
        for i in 0..<5 {
            let name = "\(prefix)-\(i)"
            _ = try await namespaces.create(Namespace(metadata: ObjectMeta(name: name, labels: ["h2-test": prefix])))
            created.append(name)
        }
        for _ in 0..<30 { _ = try await namespaces.get("default") }
        for watcher in watchers {
            #expect(try await watcher.value == created)
        }
        #expect(client.connectionsOpened == 1, "requests and watches should share one HTTP/2 connection")
        #expect(client.requestsCompletedOverHTTP2 >= 36)  // list, 5 creates, 30 gets, the 8 watches
        #expect(client.requestsCompletedOverHTTP2 == client.requestsCompleted)
        #expect(try await proxy.accessLogEventually(contains: "HTTP/2"))
    }

    /// Flow control per stream: a paused watch does not hold up another watch on the same HTTP/2
    /// connection, and loses nothing once its consumer catches up.
    @Test func aPausedWatchDoesNotBlockTheConnection() async throws {
        let events = 2000
        let padding = String(repeating: "y", count: 8000)
        let server = try FakeAPIServer { request, writer in
            writer.writeHead(status: 200, headers: ["Content-Type": "application/json"])
            let flood = request.rawQuery.contains("labelSelector=flood")
            for i in 0..<(flood ? events : 20) {
                if !flood { usleep(20_000) }
                guard writer.writeBody(WatchFlowControlTests.eventLine(i, padding: flood ? padding : "red")) else { return }
            }
            writer.finish()
        }
        let proxy = try HTTP2Proxy(backendPort: server.port, certificatePEM: server.pki.serverCert, keyPEM: server.pki.serverKey)
        defer { proxy.stop() }
        var configuration = server.pki.configuration(port: proxy.port)
        configuration.clientCertificate = nil
        configuration.clientKey = nil
        let client = try KubernetesClient(configuration: configuration)
        let widgets = client.resource(Widget.self)

        let (flood, statistics) = widgets.openWatch(WatchOptions(resourceVersion: "0", labelSelector: "flood"))
        var floodIterator = flood.makeAsyncIterator()
        #expect(try await floodIterator.next()?.object?.metadata.name == "w0")
        // The flood's consumer now sleeps until its transfer is paused (however fast the server
        // writes); then a second watch on the same connection must still flow.
        let deadline = ContinuousClock.now + .seconds(30)
        while statistics.pauses == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        try #require(statistics.pauses >= 1, "the flood was never paused while its consumer slept")
        var ticks = 0
        for try await event in widgets.watch(WatchOptions(resourceVersion: "0", labelSelector: "tick")) where event.type == .added {
            ticks += 1
        }
        #expect(ticks == 20)
        var count = 1
        var inOrder = true
        while let event = try await floodIterator.next() {
            if event.object?.spec?.size != count { inOrder = false }
            count += 1
        }
        #expect(count == events)
        #expect(inOrder)
        #expect(statistics.peakQueuedEvents <= 128)
        #expect(client.connectionsOpened == 1)
        #expect(client.requestsCompletedOverHTTP2 == 2)
    }

    /// `http2 = false` keeps to HTTP/1.1 even when the server offers HTTP/2.
    @Test func http2CanBeTurnedOff() async throws {
        let server = try FakeAPIServer { _, writer in respondJSON(writer, widgetJSON("w1", rv: "1")) }
        let proxy = try HTTP2Proxy(backendPort: server.port, certificatePEM: server.pki.serverCert, keyPEM: server.pki.serverKey)
        defer { proxy.stop() }
        var configuration = server.pki.configuration(port: proxy.port)
        configuration.clientCertificate = nil
        configuration.clientKey = nil
        configuration.http2 = false
        let client = try KubernetesClient(configuration: configuration)
        _ = try await client.resource(Widget.self).get("w1")
        #expect(client.requestsCompleted == 1)
        #expect(client.requestsCompletedOverHTTP2 == 0)
        #expect(try await proxy.accessLogEventually(contains: "HTTP/1.1"))
    }
}
