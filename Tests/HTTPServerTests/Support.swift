import Foundation
import Glibc
import Synchronization
import Testing
import TestSupport

@testable import HTTPServer
import HTTPServerTLS

/// Runs curl with `--silent --show-error` and a 20 s overall limit.
func curl(_ arguments: [String], stdin: [UInt8]? = nil) throws -> ProcessOutput {
    try run("/usr/bin/curl", ["--silent", "--show-error", "--max-time", "20"] + arguments, stdin: stdin)
}

/// A blocking TCP client for raw protocol tests.
final class RawClient {
    let fd: Int32
    var received: [UInt8] = []

    init(host: String = "127.0.0.1", port: Int) throws {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let ai = result else {
            throw RawClientError.connect("getaddrinfo")
        }
        defer { freeaddrinfo(result) }
        let fd = socket(ai.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawClientError.connect("socket") }
        guard connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 else {
            close(fd)
            throw RawClientError.connect(String(cString: strerror(errno)))
        }
        self.fd = fd
    }

    deinit { close(fd) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw RawClientError.io("send: \(String(cString: strerror(errno)))") }
            offset += n
        }
    }

    /// Reads once (waiting at most `timeout` seconds). Returns 0 at EOF, -1 on timeout.
    @discardableResult
    func readOnce(timeout: Double = 10) throws -> Int {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let rc = poll(&pfd, 1, Int32(timeout * 1000))
        if rc == 0 { return -1 }
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 65536, 0) }
        if n < 0 {
            if errno == ECONNRESET { return 0 }
            throw RawClientError.io("recv: \(String(cString: strerror(errno)))")
        }
        received.append(contentsOf: buf[0..<n])
        return n
    }

    /// Reads until `received` contains `marker` (or EOF/timeout). Returns whether it was found.
    func read(until marker: String, timeout: Double = 10) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !receivedText.contains(marker) {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return false }
            if try readOnce(timeout: left) <= 0 { return receivedText.contains(marker) }
        }
        return true
    }

    /// Reads until the server closes the connection. Returns false on timeout.
    func readToEnd(timeout: Double = 10) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return false }
            let n = try readOnce(timeout: left)
            if n == 0 { return true }
            if n < 0 { return false }
        }
    }

    var receivedText: String { String(decoding: received, as: UTF8.self) }
}

enum RawClientError: Error {
    case connect(String)
    case io(String)
}

/// Runs `body(i)` for i in 0..<count on `count` separate threads and waits for all.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for i in 0..<count {
        group.enter()
        let thread = Thread {
            body(i)
            group.leave()
        }
        thread.start()
    }
    group.wait()
}

/// A thread-safe list for collecting observations from handlers.
final class Recorder<T: Sendable>: Sendable {
    private let items = Mutex<[T]>([])
    func append(_ item: T) { items.withLock { $0.append(item) } }
    var all: [T] { items.withLock { $0 } }
}

/// A one-shot flag others can wait on.
final class Signal: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    func fire() { semaphore.signal() }
    /// Whether it fired within `timeout` seconds.
    func wait(timeout: Double) -> Bool { semaphore.wait(timeout: .now() + timeout) == .success }
}

/// Shared test PKI (generated once per process).
struct TestPKI: Sendable {
    let ca: CertificateAuthority
    let server: (certificatePEM: String, privateKeyPEM: String)
    let alice: (certificatePEM: String, privateKeyPEM: String)

    static let shared: Result<TestPKI, HTTPServerError> = Result { () throws(HTTPServerError) -> TestPKI in
        let ca = try CertificateAuthority.generate(commonName: "automagic-test-ca")
        let server = try ca.issue(
            commonName: "localhost", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1", "::1"], usage: .server)
        let alice = try ca.issue(commonName: "alice", organizations: ["devs", "system:masters"], usage: .client)
        return TestPKI(ca: ca, server: server, alice: alice)
    }

    var tls: TLSConfiguration {
        TLSConfiguration(certificateChainPEM: server.certificatePEM, privateKeyPEM: server.privateKeyPEM, clientCAPEM: ca.certificatePEM)
    }
}
