import Foundation
import Testing

@testable import DeviceProbe

/// Parent of every suite that changes kernel state: they run one at a time, so a
/// 500-link benchmark never holds the RTNL lock under a latency test.
@Suite("Kernel", .serialized)
struct KernelTests {}

/// Runs a command and returns its standard output; throws with stderr on failure.
@discardableResult
func sh(_ args: [String]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        throw TestFailure("\(args.joined(separator: " ")) failed: \(String(decoding: e, as: UTF8.self))")
    }
    return String(decoding: o, as: UTF8.self)
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A throwaway network namespace named `am<4 random hex><suffix>`; `remove()` deletes it.
final class TestNetns: Sendable {
    let name: String
    var path: String { "/var/run/netns/\(name)" }

    init(_ suffix: String = "") throws {
        name = "am" + String(format: "%04x", UInt16.random(in: 0...UInt16.max)) + suffix
        try sh(["ip", "netns", "add", name])
        try sh(["ip", "-n", name, "link", "set", "lo", "up"])
    }

    /// `ip -n <ns> <args...>`
    @discardableResult
    func ip(_ args: String...) throws -> String { try sh(["ip", "-n", name] + args) }

    func json(_ args: String...) throws -> [[String: Any]] {
        let out = try sh(["ip", "-n", name, "-j"] + args)
        let v = try JSONSerialization.jsonObject(with: Data(out.utf8))
        return try #require(v as? [[String: Any]])
    }

    func remove() {
        do { try sh(["ip", "netns", "del", name]) } catch { print("cleanup: \(error)") }
    }
}

/// Polls `condition` every 10 ms until true or `timeout` passes.
func eventually(timeout: Duration = .seconds(3), _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        usleep(10_000)
    }
    return try condition()
}
