import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A fresh `am<4 random hex digits>` prefix for the names of what a test creates in the kernel
/// (network namespaces, links) and on disk, so that runs side by side do not collide and
/// leftovers are recognisable.
public func uniquePrefix() -> String {
    let hex = String(UInt16.random(in: 0...UInt16.max), radix: 16)
    return "am" + String(repeating: "0", count: 4 - hex.count) + hex
}

/// A throwaway network namespace with its loopback up; `remove()` deletes it and every link in it.
///
/// Everything is done inside the namespace (`ip -n`), so a test never touches the host's
/// interfaces. Create it, then `defer { netns.remove() }`: the removal runs even when the test fails.
///
/// Self-healing: each namespace has a marker file, `/run/automagic-test/netns/<name>`, naming the
/// process that created it (PID and start time, so a reused PID does not count as the creator).
/// Before creating one, `init` removes the namespaces whose creator has died (a test run killed
/// before its `defer` ran); the namespaces of runs still going are left alone.
public final class TestNetns: Sendable {
    /// The namespace's name under `/var/run/netns`.
    public let name: String
    /// The namespace's bind mount, as runtimes pass it (`CNI_NETNS`, the agent's `netnsPath`).
    public var path: String { "/var/run/netns/\(name)" }

    /// A namespace named `uniquePrefix() + suffix`.
    public convenience init(_ suffix: String = "") throws {
        try self.init(name: uniquePrefix() + suffix)
    }

    /// A namespace named `name` (a unique one: see `uniquePrefix()`). Fails when it already
    /// exists, and leaves nothing behind when it fails.
    public init(name: String) throws {
        self.name = name
        for failure in TestNetns.removeStale() { Issue.record("\(failure)") }
        // The marker first (exclusively: a live run's namespace of the same name is not taken
        // over), so that no namespace of this process ever lacks one.
        try TestNetns.writeMarker(name: name, creator: .current())
        do {
            try sh(["ip", "netns", "add", name])
        } catch {
            unlink(TestNetns.markerDirectory + "/" + name)
            throw error
        }
        do {
            try ip("link", "set", "lo", "up")
        } catch {
            remove()
            throw error
        }
    }

    /// `ip -n <name> <args…>`; returns its standard output.
    @discardableResult
    public func ip(_ args: String...) throws -> String { try sh(["ip", "-n", name] + args) }

    /// Adds the veth pair `a`/`b` in the namespace, both set up unless `up` is false.
    public func veth(_ a: String, _ b: String, up: Bool = true) throws {
        try ip("link", "add", a, "type", "veth", "peer", "name", b)
        guard up else { return }
        try ip("link", "set", a, "up")
        try ip("link", "set", b, "up")
    }

    /// `ip -n <name> -j <args…>`, decoded: one dictionary an object.
    public func json(_ args: String...) throws -> [[String: Any]] { try ipJSON(netns: name, args) }

    /// The names of the links in the namespace, loopback left out, sorted.
    public func linkNames() throws -> [String] { try TestSupport.linkNames(netns: name) }

    /// Deletes the namespace (with its links) and its marker. Never throws, for `defer`: a failure
    /// is recorded as an issue of the running test (the marker then stays, so that a later run
    /// removes the namespace once this process has ended).
    public func remove(sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            try sh(["ip", "netns", "del", name])
        } catch {
            Issue.record("failed to remove network namespace \(name): \(error)", sourceLocation: sourceLocation)
            return
        }
        if unlink(TestNetns.markerDirectory + "/" + name) != 0, errno != ENOENT {
            Issue.record("failed to remove the marker of network namespace \(name): \(String(cString: strerror(errno)))",
                         sourceLocation: sourceLocation)
        }
    }

    /// Where the markers are: one file a namespace, named like it, holding its creator.
    public static let markerDirectory = "/run/automagic-test/netns"

    /// A process, told apart from a later one with the same PID by its start time (clock ticks
    /// after boot, field 22 of `/proc/<pid>/stat`).
    public struct Creator: Equatable, Sendable, CustomStringConvertible {
        public var pid: Int32
        public var startTime: UInt64
        public init(pid: Int32, startTime: UInt64) {
            self.pid = pid
            self.startTime = startTime
        }

        /// This process.
        public static func current() throws -> Creator {
            guard let creator = try running(getpid()) else { throw TestFailure("cannot read /proc/self/stat") }
            return creator
        }

        /// The process running as `pid` now, or nil when there is none.
        public static func running(_ pid: Int32) throws -> Creator? {
            guard let stat = try bytesIfPresent("/proc/\(pid)/stat") else { return nil }
            // The command name (field 2) is in parentheses and may hold spaces and ")": fields
            // 3… follow the last ")". The start time is field 22.
            let text = String(decoding: stat, as: UTF8.self)
            guard let close = text.lastIndex(of: ")") else { return nil }
            let fields = text[text.index(after: close)...].split(separator: " ")
            guard fields.count > 19, let start = UInt64(fields[19]) else { return nil }
            return Creator(pid: pid, startTime: start)
        }

        /// Whether this process is still running (not merely its PID taken by another).
        public var isAlive: Bool { get throws { try Creator.running(pid) == self } }

        public var description: String { "\(pid) \(startTime)" }
    }

    /// Records `creator` as the creator of namespace `name`; fails when the marker already exists.
    public static func writeMarker(name: String, creator: Creator) throws {
        guard isTestName(name) else { throw TestFailure("\(name) is not a test namespace name (am + 4 hex digits…)") }
        try FileManager.default.createDirectory(atPath: markerDirectory, withIntermediateDirectories: true)
        let path = markerDirectory + "/" + name
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TestFailure("cannot create \(path): \(String(cString: strerror(errno)))") }
        let text = Array("\(creator)\n".utf8)
        let written = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == text.count else {
            unlink(path)
            throw TestFailure("cannot write \(path)")
        }
    }

    /// Whether `name` is a test namespace's: `am`, 4 lowercase hex digits, then letters, digits or `-`.
    static func isTestName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard bytes.count >= 6, bytes.count <= 64, bytes[0] == UInt8(ascii: "a"), bytes[1] == UInt8(ascii: "m") else { return false }
        let hex = bytes[2..<6].allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        let rest = bytes[6...].allSatisfy { (0x30...0x39).contains($0) || (0x61...0x7a).contains($0) || (0x41...0x5a).contains($0) || $0 == 0x2d }
        return hex && rest
    }

    /// Removes every marked test namespace whose creator has ended, and its marker; namespaces of
    /// live processes, and any without a marker, are left alone. Returns what it could not remove.
    @discardableResult
    public static func removeStale() -> [TestFailure] {
        guard FileManager.default.fileExists(atPath: markerDirectory) else { return [] }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: markerDirectory)
        } catch {
            return [TestFailure("cannot list \(markerDirectory): \(error)")]
        }
        var failures: [TestFailure] = []
        for name in names where isTestName(name) {
            let marker = markerDirectory + "/" + name
            let text: String
            do {
                guard let bytes = try bytesIfPresent(marker) else { continue }  // removed meanwhile
                text = String(decoding: bytes, as: UTF8.self)
            } catch {
                failures.append(TestFailure("stale test namespace marker \(marker): \(error)"))
                continue
            }
            let fields = text.split(whereSeparator: \.isWhitespace)
            // A marker being written (empty for an instant) or not ours: leave it.
            guard fields.count == 2, let pid = Int32(fields[0]), let start = UInt64(fields[1]) else { continue }
            do {
                if try Creator(pid: pid, startTime: start).isAlive { continue }
            } catch {
                failures.append(TestFailure("creator of test namespace \(name): \(error)"))
                continue
            }
            if FileManager.default.fileExists(atPath: "/run/netns/" + name) {
                do {
                    try sh(["ip", "netns", "del", name])
                } catch where FileManager.default.fileExists(atPath: "/run/netns/" + name) {
                    failures.append(TestFailure("cannot remove stale test namespace \(name) of ended process \(pid): \(error)"))
                    continue
                } catch {}  // another run removed it meanwhile
            }
            if unlink(marker) != 0, errno != ENOENT {
                failures.append(TestFailure("cannot remove \(marker): \(String(cString: strerror(errno)))"))
            }
        }
        return failures
    }
}

/// `ip -n <netns> -j <args…>`, decoded: one dictionary an object `ip` reports.
public func ipJSON(netns: String, _ args: [String]) throws -> [[String: Any]] {
    let out = try sh(["ip", "-n", netns, "-j"] + args)
    guard let objects = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]] else {
        throw TestFailure("ip -n \(netns) -j \(args.joined(separator: " ")) is not a list of objects: \(out)")
    }
    return objects
}

/// The names of the links in network namespace `netns`, loopback left out, sorted.
public func linkNames(netns: String) throws -> [String] {
    try ipJSON(netns: netns, ["link", "show"]).compactMap { $0["ifname"] as? String }.filter { $0 != "lo" }.sorted()
}
