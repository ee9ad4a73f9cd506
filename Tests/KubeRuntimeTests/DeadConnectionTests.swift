import Foundation
import Glibc
import KubeClient
import KubeCore
import LabTesting
import Testing
import TestSupport
@testable import KubeRuntime

/// A watch whose connection died silently (no FIN, no RST) is noticed and re-established.
///
/// The client and the lab API server run in two network namespaces joined by a veth pair (each
/// in-process, on a thread that joined its namespace). The link goes down, the server's side of the
/// connection is destroyed (`ss -K`: its RST is lost on the dead link, as when a server reboots or a
/// NAT entry expires), then the link comes back: only the client can tell that its watch is dead.
@Suite(.serialized, .enabled(if: geteuid() == 0 && RealCluster.isAbsent,
                             "needs root (network namespaces) and the lab server, which it restarts"))
struct DeadConnectionTests {
    static let serverAddress = "10.213.0.1", clientAddress = "10.213.0.2"

    /// The descriptors of this process's TCP sockets connected to `address:port`.
    static func sockets(to address: String, port: Int) throws -> [Int32] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap { Int32($0) }.filter { fd in
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let ok = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) } } == 0
            guard ok, Int32(storage.ss_family) == AF_INET else { return false }
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var addr = sin.pointee.sin_addr
                    var text = [CChar](repeating: 0, count: 32)
                    inet_ntop(AF_INET, &addr, &text, socklen_t(text.count))
                    return String(cString: text) == address && Int(UInt16(bigEndian: sin.pointee.sin_port)) == port
                }
            }
        }
    }

    static func option(_ fd: Int32, _ level: Int32, _ name: Int32) -> Int32 {
        var value: Int32 = -1
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, level, name, &value, &length) == 0 ? value : -1
    }

    /// Without bookmarks a quiet watch is legitimately silent until timeoutSeconds, so only the
    /// watch's deadline (timeoutSeconds + 3 s) can end a dead one: it comes back within
    /// timeoutSeconds + 5 s of the link. With bookmarks (every second here) silence means a dead
    /// connection: libcurl's low-speed limit (the 3 s idle timeout) ends it long before its 63 s
    /// deadline; libcurl averages the speed over its last 5 s, so that takes up to idle + 5 s after
    /// the last byte, and the watch is back within idle + 10 s of the link.
    @Test(arguments: [false, true])
    func deadWatchConnectionIsReplacedSoonAfterTheLinkReturns(bookmarks: Bool) async throws {
        let prefix = uniquePrefix()
        let clientNS = try TestNetns(name: prefix + "c")
        defer { clientNS.remove() }
        let serverNS = try TestNetns(name: prefix + "s")
        defer { serverNS.remove() }
        try clientNS.ip("link", "add", "amdc", "type", "veth", "peer", "name", "amds", "netns", serverNS.name)
        try clientNS.ip("addr", "add", Self.clientAddress + "/24", "dev", "amdc")
        try serverNS.ip("addr", "add", Self.serverAddress + "/24", "dev", "amds")
        try clientNS.ip("link", "set", "amdc", "up")
        try serverNS.ip("link", "set", "amds", "up")
        let lab = try inNetworkNamespace(serverNS.path) {
            try TestLab(inMemory: true) { options in
                options.bindAddress = Self.serverAddress
                options.bookmarkInterval = 1
            }
        }
        defer { lab.stop() }
        let server = lab.server
        var config = try lab.clientConfiguration()
        #expect(config.server == "https://\(Self.serverAddress):\(server.port)")
        config.connectTimeout = 2
        config.watchIdleTimeout = 3
        let clientConfig = config
        let client = try inNetworkNamespace(clientNS.path) { try KubernetesClient(configuration: clientConfig) }
        let leases = client.resource(Lease.self, namespace: "default")
        _ = try await leases.create(Lease(metadata: ObjectMeta(name: "before", namespace: "default"), spec: LeaseSpec(holderIdentity: "x")))

        let timeoutSeconds = bookmarks ? 60 : 8
        let seen = Locked<[String: ContinuousClock.Instant]>([:])
        let failures = Locked<[String]>([])
        let watcher = Watcher(source: leases, configuration: WatcherConfiguration(pageSize: nil, bookmarks: bookmarks, timeoutSeconds: timeoutSeconds),
                              onFailure: { error in failures.withLock { $0.append("\(error)") } })
        let consumer = Task {
            for await event in watcher.events() {
                let names: [String]
                switch event {
                case .replaced(let all): names = all.compactMap(\.metadata.name)
                case .applied(let lease): names = [lease.metadata.name ?? ""]
                case .deleted: names = []
                }
                seen.withLock { for name in names where $0[name] == nil { $0[name] = .now } }
            }
        }
        defer { consumer.cancel() }
        #expect(try await TestSupport.eventually { seen.value["before"] != nil })
        try await Task.sleep(for: .seconds(1))  // the watch request is open

        // The libcurl settings on the real socket: TCP keepalive, first probe after 30 s idle, then every 10 s.
        let open = try Self.sockets(to: Self.serverAddress, port: server.port)
        try #require(!open.isEmpty, "no connection to the server")
        for fd in open {
            #expect(Self.option(fd, SOL_SOCKET, SO_KEEPALIVE) == 1, "fd \(fd)")
            #expect(Self.option(fd, Int32(IPPROTO_TCP), 4 /* TCP_KEEPIDLE */) == 30, "fd \(fd)")
            #expect(Self.option(fd, Int32(IPPROTO_TCP), 5 /* TCP_KEEPINTVL */) == 10, "fd \(fd)")
        }

        // The link goes down; the server's end of every connection to the client is destroyed, and
        // its RST is lost: nothing ever reaches the client.
        try clientNS.ip("link", "set", "amdc", "down")
        try sh("ip", "netns", "exec", serverNS.name, "ss", "-K", "-t", "dst", Self.clientAddress)
        try await Task.sleep(for: .seconds(1))
        try clientNS.ip("link", "set", "amdc", "up")
        let linkUp = ContinuousClock.now
        // A change after the link is back: only a live watch (or a relist) delivers it.
        let admin = try inNetworkNamespace(clientNS.path) { try KubernetesClient(configuration: clientConfig) }
        _ = try await admin.resource(Lease.self, namespace: "default").create(
            Lease(metadata: ObjectMeta(name: "after", namespace: "default"), spec: LeaseSpec(holderIdentity: "y")))
        let bound = Duration.seconds(bookmarks ? 3 + 10 : timeoutSeconds + 5)
        #expect(try await TestSupport.eventually(timeout: .seconds(timeoutSeconds + 40)) { seen.value["after"] != nil })
        let delivered = try #require(seen.value["after"])
        print("dead watch connection (bookmarks: \(bookmarks)): change delivered \(delivered - linkUp) after the link came back (bound \(bound)); failures: \(failures.value)")
        #expect(delivered - linkUp < bound, "the watch came back \(delivered - linkUp) after the link (failures: \(failures.value))")
        // What ended the dead watch: the idle (low-speed) limit with bookmarks, the deadline without.
        let expected = bookmarks ? "idle timeout" : "(its timeoutSeconds plus 3 s): the server never closed it"
        #expect(failures.value.contains { $0.contains(expected) }, "\(failures.value)")
    }
}
