import DevicePluginAPI
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Glibc

/// The identity of a file: a file removed and created again is a different one.
struct FileIdentity: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modifiedNanoseconds: Int64

    /// `stat(path)`, or nil when it does not exist (or cannot be read).
    init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        modifiedNanoseconds = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
    }
}

/// Errors of the device plugin's own steps.
public enum DevicePluginError: Error, CustomStringConvertible {
    case socketPathTooLong(String)
    case listenFailed(path: String, cause: String)
    case registerFailed(kubeletSocket: String, resource: String, cause: String)
    case podResourcesFailed(socket: String, cause: String)

    public var description: String {
        switch self {
        case .socketPathTooLong(let p):
            return "socket path '\(p)' is longer than a unix socket address allows (107 bytes): use a shorter --device-plugin-dir"
        case .listenFailed(let p, let cause):
            return "cannot serve the device plugin API on '\(p)': \(cause)"
        case .registerFailed(let k, let r, let cause):
            return "cannot register \(r) with the kubelet on '\(k)': \(cause)"
        case .podResourcesFailed(let socket, let cause):
            return "cannot list the pods' devices with the kubelet's pod resources API on '\(socket)': \(cause)"
        }
    }
}

/// A gRPC server (HTTP/2, plaintext) on a unix socket that it owns: a stale file at the path is
/// removed first, and ``stop()`` removes the socket only while it is still the one it bound.
final class SocketServer: Sendable {
    let socketPath: String
    let socketIdentity: FileIdentity?
    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    private let task: Task<Void, Never>

    private init(socketPath: String, server: GRPCServer<HTTP2ServerTransport.Posix>, task: Task<Void, Never>,
                 socketIdentity: FileIdentity?) {
        self.socketPath = socketPath
        self.server = server
        self.task = task
        self.socketIdentity = socketIdentity
    }

    /// Binds `socketPath` and serves `services` until ``stop()``.
    static func start(socketPath: String, services: [any RegistrableRPCService]) async throws -> SocketServer {
        guard socketPath.utf8.count < 108 else { throw DevicePluginError.socketPathTooLong(socketPath) }
        unlink(socketPath)
        let transport = HTTP2ServerTransport.Posix(address: .unixDomainSocket(path: socketPath), transportSecurity: .plaintext)
        let server = GRPCServer(transport: transport, services: services)
        let task = Task {
            do { try await server.serve() } catch {}
        }
        do {
            _ = try await transport.listeningAddress
        } catch {
            task.cancel()
            throw DevicePluginError.listenFailed(path: socketPath, cause: "\(error)")
        }
        return SocketServer(socketPath: socketPath, server: server, task: task, socketIdentity: FileIdentity(path: socketPath))
    }

    /// Whether the socket file is still the one this server bound (a starting kubelet removes the
    /// device plugins' sockets).
    var socketIsOurs: Bool {
        guard let mine = socketIdentity, let now = FileIdentity(path: socketPath) else { return false }
        return mine.device == now.device && mine.inode == now.inode
    }

    /// Stops serving and removes the socket if it is still ours.
    func stop() async {
        let ours = socketIsOurs
        server.beginGracefulShutdown()
        task.cancel()
        await task.value
        if ours { unlink(socketPath) }
    }
}

/// The gRPC server of one resource on its socket in the device-plugin folder.
final class ResourceServer: Sendable {
    let feed: DeviceFeed
    private let socket: SocketServer

    private init(feed: DeviceFeed, socket: SocketServer) {
        self.feed = feed
        self.socket = socket
    }

    var socketPath: String { socket.socketPath }
    var socketIsOurs: Bool { socket.socketIsOurs }

    /// Binds `socketPath` (a stale file there is removed first) and serves until ``stop()``.
    static func start(socketPath: String, feed: DeviceFeed, claims: ClaimBook) async throws -> ResourceServer {
        ResourceServer(feed: feed, socket: try await SocketServer.start(socketPath: socketPath,
                                                                        services: [DevicePluginService(feed: feed, claims: claims)]))
    }

    /// Ends the ListAndWatch streams, stops serving and removes the socket if it is still ours.
    func stop() async {
        feed.close()
        await socket.stop()
    }
}

/// Registers resources with the kubelet's Registration service.
enum KubeletRegistration {
    /// The API version this plugin speaks.
    static let version = "v1beta1"

    /// `Register(version, endpoint, resourceName, options)` on `kubeletSocket`; throws the
    /// kubelet's refusal or the connection's failure (within `timeout`).
    static func register(kubeletSocket: String, endpoint: String, resourceName: String,
                         timeout: Duration = .seconds(5)) async throws {
        var request = V1beta1_RegisterRequest()
        request.version = version
        request.endpoint = endpoint
        request.resourceName = resourceName
        request.options = DevicePluginService.options
        var options = CallOptions.defaults
        options.timeout = timeout
        options.waitForReady = false
        do {
            let transport = try HTTP2ClientTransport.Posix(target: .unixDomainSocket(path: kubeletSocket), transportSecurity: .plaintext)
            try await withGRPCClient(transport: transport) { client in
                let registration = V1beta1_Registration.Client(wrapping: client)
                _ = try await registration.register(request, options: options)
            }
        } catch let error as RPCError {
            throw DevicePluginError.registerFailed(kubeletSocket: kubeletSocket, resource: resourceName,
                                                   cause: "\(error.code): \(error.message)")
        } catch {
            throw DevicePluginError.registerFailed(kubeletSocket: kubeletSocket, resource: resourceName, cause: "\(error)")
        }
    }
}
