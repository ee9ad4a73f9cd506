import Foundation
import Glibc
import Testing
import TestSupport

/// The real agent's health and metrics endpoint (plain HTTP, what the kubelet probes) under hostile
/// clients: each attack is cut off or made room for, the agent's memory stays bounded, and probes
/// keep being answered meanwhile.
@Suite(.serialized, .enabled(if: geteuid() == 0, "the agent runs in a network namespace of its own"))
struct AgentEndpointTests {
    /// A TCP connection to 127.0.0.1:`port`; nil when it cannot be made.
    static func connect(_ port: Int, receiveBuffer: Int32? = nil) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port)).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { close(fd); return nil }
        return fd
    }

    /// Sends what it can of `bytes` within `seconds` (the server may stop reading, or close).
    @discardableResult
    static func send(_ fd: Int32, _ bytes: [UInt8], seconds: Double = 5) -> Int {
        var sent = 0
        let deadline = Date().addingTimeInterval(seconds)
        while sent < bytes.count, Date() < deadline {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            if n > 0 { sent += n; continue }
            if n < 0, errno == EAGAIN || errno == EINTR {
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&pfd, 1, 100)
                continue
            }
            break
        }
        return sent
    }

    /// What the server sent until it closed the connection or `seconds` passed.
    static func receive(_ fd: Int32, seconds: Double) -> (text: String, closed: Bool) {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return (String(decoding: out, as: UTF8.self), true) }
            out.append(contentsOf: buffer[0..<n])
        }
        return (String(decoding: out, as: UTF8.self), false)
    }

    /// A kubelet-like probe (curl, 2 s limit): answered 200 within 2 s.
    static func probeIsAnswered(_ port: Int, during attack: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let start = Date()
        let out = try run("/usr/bin/curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", "http://127.0.0.1:\(port)/healthz"], timeout: 10)
        let seconds = Date().timeIntervalSince(start)
        #expect(out.stdout == "200", "during \(attack): /healthz answered \(out.stdout) after \(seconds) s: \(out.stderr)", sourceLocation: sourceLocation)
        #expect(seconds < 2, "during \(attack): /healthz took \(seconds) s", sourceLocation: sourceLocation)
    }

    @Test func probesAreAnsweredWhileHostileClientsAttack() async throws {
        let netns = try TestNetns()
        defer { netns.remove() }
        let dir = try makeTempDir("amhep", inMemory: true)
        defer { removeTestFiles(dir) }
        let (lab, kubeconfig) = try await SignalTests.startLab(dir: dir)
        defer { lab.reap() }
        let agent = try BackgroundProgram("automagic-agent", [
            "--kubeconfig", kubeconfig, "--node-name", "hostile-node", "--netns", netns.path, "--mapping-file", "\(dir)/mapping.json",
            "--no-lldp", "--health-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--log-level", "info",
        ], dir: dir)
        defer { agent.reap() }
        var port: Int?
        #expect(try await eventually(timeout: .seconds(20)) {
            let log = try agent.readLog()
            guard let line = log.split(separator: "\n").first(where: { $0.contains("serving health and metrics") }),
                  let range = line.range(of: #"127\.0\.0\.1:[0-9]+"#, options: .regularExpression) else { return false }
            port = Int(line[range].split(separator: ":").last ?? "")
            return port != nil
        }, "\(agent.output)")
        let endpoint = try #require(port)
        try Self.probeIsAnswered(endpoint, during: "nothing")
        let before = try BadClientTests.residentKiB(agent.pid)
        var sockets: [Int32] = []
        defer { for fd in sockets { close(fd) } }

        // 1,000 connections at once that never send a byte: they take every slot (64), yet a probe
        // gets in (the connection idle longest makes room) instead of a 503.
        for _ in 0..<1000 { if let fd = Self.connect(endpoint) { sockets.append(fd) } }
        #expect(sockets.count == 1000)
        try await Task.sleep(for: .milliseconds(500))
        try Self.probeIsAnswered(endpoint, during: "1,000 idle connections")

        // Headers forever: 100 clients add a header line every 500 ms.
        let slow = (0..<100).compactMap { _ in Self.connect(endpoint) }
        sockets += slow
        for fd in slow { Self.send(fd, Array("GET /healthz HTTP/1.1\r\nHost: x\r\n".utf8), seconds: 1) }
        for round in 0..<4 {
            for fd in slow { Self.send(fd, Array("X-Drip-\(round): y\r\n".utf8), seconds: 0.1) }
            try Self.probeIsAnswered(endpoint, during: "headers forever")
            try await Task.sleep(for: .milliseconds(500))
        }

        // Clients that never read: each pipelines 2,000 requests for /metrics into a small receive
        // buffer; the agent's writes stall (cut off after its 5 s write timeout).
        let readers = (0..<10).compactMap { _ in Self.connect(endpoint, receiveBuffer: 4096) }
        sockets += readers
        let pipelined = Array(String(repeating: "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", count: 2000).utf8)
        for fd in readers { Self.send(fd, pipelined, seconds: 1) }
        try await Task.sleep(for: .seconds(1))
        try Self.probeIsAnswered(endpoint, during: "clients that never read")

        // A request line of 1 MiB: refused with 431 (the head limit is 64 KiB), never read whole.
        let long = try #require(Self.connect(endpoint))
        sockets.append(long)
        Self.send(long, Array(("GET /healthz?x=" + String(repeating: "a", count: 1 << 20) + " HTTP/1.1\r\nHost: x\r\n\r\n").utf8), seconds: 3)
        let answer = Self.receive(long, seconds: 5)
        #expect(answer.text.hasPrefix("HTTP/1.1 431 "), "\(answer.text.prefix(200))")
        try Self.probeIsAnswered(endpoint, during: "a 1 MiB request line")
        let during = try BadClientTests.residentKiB(agent.pid)

        // The slow senders were cut off: each got 408 or a close, within the 5 s head limit (or sooner, to make room).
        let deadline = Date().addingTimeInterval(8)
        let cut = slow.map { Self.receive($0, seconds: max(0.01, deadline.timeIntervalSinceNow)) }
        #expect(cut.allSatisfy { $0.closed }, "\(cut.filter { !$0.closed }.count) of 100 slow senders still connected")
        for fd in sockets { close(fd) }
        sockets = []
        try await Task.sleep(for: .seconds(1))
        try Self.probeIsAnswered(endpoint, during: "after the attacks")
        let after = try BadClientTests.residentKiB(agent.pid)
        print("agent RSS: before \(before) KiB, during the attacks \(during) KiB, after \(after) KiB")
        #expect(during - before < 50 * 1024, "RSS grew from \(before) KiB to \(during) KiB")
        #expect(after - before < 50 * 1024, "RSS grew from \(before) KiB to \(after) KiB after the attacks")
        #expect(agent.wait(timeout: .zero) == nil, "the agent died: \(agent.output)")
    }
}
