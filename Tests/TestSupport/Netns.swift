import Foundation

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
        try sh(["ip", "netns", "add", name])
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

    /// Deletes the namespace (with its links). Never throws, for `defer`: a failure is printed.
    public func remove() {
        do { try sh(["ip", "netns", "del", name]) } catch { print("cleanup: \(error)") }
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
