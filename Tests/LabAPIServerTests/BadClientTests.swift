import Foundation
import Glibc
import Testing
import TestSupport

/// The real lab API server (HTTPS) under hostile clients: each attack is refused or cut off, the server's
/// memory stays bounded, and another client keeps being answered meanwhile.
@Suite(.serialized) struct BadClientTests {
    /// Resident memory of `pid` in KiB (VmRSS); throws when the process is gone or reports none.
    static func residentKiB(_ pid: pid_t) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        guard let kib = line.split(separator: " ").compactMap({ Int($0) }).first else {
            throw TestFailure("no VmRSS in /proc/\(pid)/status: \(status)")
        }
        return kib
    }

    /// curl against the server with the lab's CA and admin client certificate; returns the HTTP status.
    static func curlStatus(_ dir: String, _ port: String, _ extra: [String], timeout: Double = 10) throws -> (status: String, output: ProcessOutput) {
        let out = try run("/usr/bin/curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "\(Int(timeout))",
                                            "--cacert", "\(dir)/pki/ca.crt", "--cert", "\(dir)/pki/admin.crt", "--key", "\(dir)/pki/admin.key"]
                          + extra, timeout: timeout + 5)
        return (out.stdout.trimmingCharacters(in: .whitespacesAndNewlines), out)
    }

    /// Another client is answered quickly while an attack runs.
    static func othersAreServed(_ dir: String, _ port: String, during attack: String) throws {
        let start = Date()
        let (status, out) = try curlStatus(dir, port, ["https://127.0.0.1:\(port)/version"], timeout: 5)
        #expect(status == "200", "during \(attack): /version answered \(status): \(out)")
        #expect(Date().timeIntervalSince(start) < 2, "during \(attack): /version took \(Date().timeIntervalSince(start)) s")
    }

    /// A TLS client (openssl s_client) whose input we write when we like and whose output nobody reads.
    final class TLSClient {
        let process = Process()
        let input = Pipe()
        /// `output`: a file for what the server answers; nil: a pipe nobody reads.
        init(port: String, output: String? = nil) throws {
            // Writing to an s_client the server has cut off (EPIPE) must fail the write, not kill the
            // test process: run alone, nothing else here has set SIGPIPE aside yet.
            signal(SIGPIPE, SIG_IGN)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = ["s_client", "-quiet", "-connect", "127.0.0.1:\(port)"]
            process.standardInput = input
            if let output {
                FileManager.default.createFile(atPath: output, contents: nil)
                process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
            } else {
                process.standardOutput = Pipe()  // never read: the response fills the pipe, then the socket
            }
            process.standardError = FileHandle.nullDevice
            try process.run()
        }
        func send(_ text: String) -> Bool {
            do { try input.fileHandleForWriting.write(contentsOf: Data(text.utf8)); return true } catch { return false }
        }
        /// SIGKILL: a child of Foundation's Process inherits the test thread's mask, which blocks SIGTERM.
        func end() {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }

    @Test func labServerSurvivesHostileClients() async throws {
        let dir = try makeTempDir("ambad", inMemory: true)
        defer { removeTestFiles(dir) }
        let server = try BackgroundProgram("automagic-lab-apiserver", [
            "--port", "0", "--cert-dir", "\(dir)/pki", "--kubeconfig-out", "\(dir)/kubeconfig", "--port-file", "\(dir)/port", "--log-level", "warning",
        ], dir: dir)
        defer { server.reap() }
        #expect(try await eventually(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: "\(dir)/port") })
        let port = try String(contentsOfFile: "\(dir)/port", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try Self.othersAreServed(dir, port, during: "nothing")
        let before = try Self.residentKiB(server.pid)

        // A request line of 1 MiB: refused (431, the head limit is 64 KiB) without reading it all into memory.
        let long = try TLSClient(port: port, output: "\(dir)/long.out")
        defer { long.end() }
        _ = long.send("GET /version?x=" + String(repeating: "a", count: 1 << 20) + " HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await eventually(timeout: .seconds(10)) { try contentsIfPresent("\(dir)/long.out").contains("HTTP/1.1 ") })
        let answer = try contentsIfPresent("\(dir)/long.out")
        #expect(answer.hasPrefix("HTTP/1.1 431 ") || answer.hasPrefix("HTTP/1.1 414 "), "\(answer.prefix(300))")
        long.end()
        // A huge body, declared (refused before it is read) and chunked (cut at the 3 MiB limit).
        let bodyFile = "\(dir)/body"
        FileManager.default.createFile(atPath: bodyFile, contents: Data(repeating: 0x61, count: 8 << 20))
        let (declared, declaredOut) = try Self.curlStatus(dir, port, ["-X", "POST", "-H", "Content-Type: application/json",
                                                                     "--data-binary", "@\(bodyFile)", "https://127.0.0.1:\(port)/api/v1/namespaces"])
        #expect(declared == "413", "\(declaredOut)")
        let (chunked, chunkedOut) = try Self.curlStatus(dir, port, ["-X", "POST", "-H", "Content-Type: application/json", "-H", "Transfer-Encoding: chunked",
                                                                   "--data-binary", "@\(bodyFile)", "https://127.0.0.1:\(port)/api/v1/namespaces"])
        #expect(chunked == "413", "\(chunkedOut)")

        // Slowloris: 20 clients send header lines forever, one every 200 ms. Others are served meanwhile.
        let slow = try (0..<20).map { _ in try TLSClient(port: port) }
        defer { for c in slow { c.end() } }
        for c in slow { _ = c.send("GET /version HTTP/1.1\r\nHost: x\r\n") }
        for round in 0..<10 {
            for c in slow { _ = c.send("X-Drip-\(round): y\r\n") }
            try await Task.sleep(for: .milliseconds(200))
        }
        try Self.othersAreServed(dir, port, during: "slowloris")

        // Clients that ask for a stream and never read it: 10 watches with big objects pending.
        let big = String(repeating: "b", count: 200_000)
        for i in 0..<5 {
            let manifest = "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"big-\(i)\",\"annotations\":{\"x\":\"\(big)\"}}}"
            let file = "\(dir)/cm-\(i).json"
            try manifest.write(toFile: file, atomically: true, encoding: .utf8)
            let (created, out) = try Self.curlStatus(dir, port, ["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "@\(file)",
                                                                 "https://127.0.0.1:\(port)/api/v1/namespaces"])
            #expect(created == "201", "\(out)")
        }
        let readers = try (0..<10).map { _ in try TLSClient(port: port) }
        defer { for c in readers { c.end() } }
        for c in readers { _ = c.send("GET /api/v1/namespaces?watch=1 HTTP/1.1\r\nHost: x\r\n\r\n") }
        try await Task.sleep(for: .seconds(1))
        try Self.othersAreServed(dir, port, during: "clients that never read")

        // 1,000 connections at once that never start TLS: held at most the handshake timeout, others served.
        var sockets: [Int32] = []
        defer { for fd in sockets { close(fd) } }
        for _ in 0..<1000 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { break }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port)!).bigEndian
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            if rc == 0 { sockets.append(fd) } else { close(fd) }
        }
        #expect(sockets.count == 1000)
        try await Task.sleep(for: .milliseconds(500))
        try Self.othersAreServed(dir, port, during: "1,000 idle connections")
        let during = try Self.residentKiB(server.pid)
        for fd in sockets { close(fd) }
        sockets = []
        for c in slow + readers { c.end() }
        try await Task.sleep(for: .seconds(1))
        try Self.othersAreServed(dir, port, during: "after the attacks")
        let after = try Self.residentKiB(server.pid)
        print("lab server RSS: before \(before) KiB, during 1,000 connections \(during) KiB, after \(after) KiB")
        // Bounded: the 8 MiB bodies and the 1 MiB request line were never buffered whole, and 1,000 connections cost
        // far less than 100 KiB each.
        #expect(during - before < 100 * 1000, "RSS grew from \(before) KiB to \(during) KiB")
        // glibc keeps what the connection threads' arenas held: about 65 MiB stays after 1,000 connections.
        #expect(after - before < 100 * 1000, "RSS grew from \(before) KiB to \(after) KiB after the attacks")
        #expect(server.wait(timeout: .zero) == nil, "the server died: \(server.output)")
    }
}
