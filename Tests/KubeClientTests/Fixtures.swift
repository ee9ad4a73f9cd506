import Foundation
import HTTPServer
import HTTPServerTLS
import JSON
import KubeClient
import KubeCore
import Synchronization
import Testing

/// A small test object type (cluster-scoped, like the lab's Widget).
struct Widget: KubernetesObject, Hashable {
    static let resourceType = ResourceType(group: "example.com", version: "v1", resource: "widgets", kind: "Widget", namespaced: false)
    var apiVersion = "example.com/v1"
    var kind = "Widget"
    var metadata: ObjectMeta
    var spec: Spec?
    var status: WidgetStatus?

    struct Spec: Codable, Hashable, Sendable {
        var color: String
        var size: Int
    }

    struct WidgetStatus: Codable, Hashable, Sendable {
        var phase: String?
    }

    init(name: String, color: String = "red", size: Int = 1, type: ResourceType = Widget.resourceType) {
        apiVersion = type.apiVersion
        kind = type.kind
        metadata = ObjectMeta(name: name)
        spec = Spec(color: color, size: size)
    }
}

/// PKI shared by the fake servers of one test: a CA, a serving certificate for 127.0.0.1/localhost, an admin client cert.
struct TestPKI: Sendable {
    let ca: CertificateAuthority
    let serverCert: String
    let serverKey: String
    let clientCert: String
    let clientKey: String

    static func make() throws -> TestPKI {
        let ca = try CertificateAuthority.generate(commonName: "kubeclient-test-ca")
        let server = try ca.issue(commonName: "localhost", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1", "::1"], usage: .server)
        let client = try ca.issue(commonName: "admin", organizations: ["system:masters"], usage: .client)
        return TestPKI(ca: ca, serverCert: server.certificatePEM, serverKey: server.privateKeyPEM,
                       clientCert: client.certificatePEM, clientKey: client.privateKeyPEM)
    }

    /// A configuration trusting this CA and presenting the admin certificate.
    func configuration(port: Int, host: String = "127.0.0.1") -> ClientConfiguration {
        ClientConfiguration(server: "https://\(host):\(port)", certificateAuthority: .data(Array(ca.certificatePEM.utf8)),
                            clientCertificate: .data(Array(clientCert.utf8)), clientKey: .data(Array(clientKey.utf8)))
    }
}

/// An HTTPS server with a scripted handler; records the requests it saw.
final class FakeAPIServer: Sendable {
    let server: HTTPServer
    let port: Int
    let pki: TestPKI
    let seen = Locked<[SeenRequest]>([])

    struct SeenRequest: Sendable {
        var method: String
        var path: String
        var query: String
        var headers: HTTPHeaders
        var body: [UInt8]
        var peer: String?
    }

    init(pki: TestPKI? = nil, requireClientCert: Bool = false,
         handler: @escaping @Sendable (ServerRequest, any HTTPResponseWriter) -> Void) throws {
        let pki = try pki ?? TestPKI.make()
        self.pki = pki
        let tls = TLSConfiguration(certificateChainPEM: pki.serverCert, privateKeyPEM: pki.serverKey,
                                   clientCAPEM: requireClientCert ? pki.ca.certificatePEM : nil)
        let seen = self.seen
        server = HTTPServer(host: "127.0.0.1", port: 0, security: tls) { request, writer in
            seen.withLock {
                $0.append(SeenRequest(method: request.method, path: request.path, query: request.rawQuery,
                                      headers: request.headers, body: request.body, peer: request.peer?.commonName))
            }
            handler(request, writer)
        }
        port = try server.start()
    }

    deinit { server.stop() }

    var configuration: ClientConfiguration { pki.configuration(port: port) }
    var requests: [SeenRequest] { seen.withLock { $0 } }
}

/// The server-side request type (named apart from KubeClient's internal one).
typealias ServerRequest = HTTPRequest

func respondJSON(_ writer: any HTTPResponseWriter, status: Int = 200, _ json: JSONValue, headers: HTTPHeaders = [:]) {
    var headers = headers
    headers["Content-Type"] = "application/json"
    writer.respond(status: status, headers: headers, body: json.serialized())
}

func widgetJSON(_ name: String, rv: String, size: Int = 1) -> JSONValue {
    ["apiVersion": "example.com/v1", "kind": "Widget",
     "metadata": ["name": .string(name), "resourceVersion": .string(rv), "uid": .string("uid-\(name)")],
     "spec": ["color": "red", "size": .int(Int64(size))]]
}

/// A TCP listener on 127.0.0.1 that accepts connections and never writes a byte (a stalled peer).
/// With `accepting: false` it never accepts and its accept queue is filled at once, so a further
/// connection attempt gets no SYN-ACK (the kernel drops the SYN): a connect that never completes.
final class SilentListener: @unchecked Sendable {
    let fd: Int32
    let port: Int
    private let accepted = Locked<[Int32]>([])
    private let thread: Thread?

    init(accepting: Bool = true) throws {
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        fd = sock
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var one: Int32 = 1
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(sock, accepting ? 16 : 0) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(sock, $0, &length) }
        }
        port = Int(UInt16(bigEndian: addr.sin_port))
        let accepted = self.accepted
        guard accepting else {
            thread = nil
            // Fill the accept queue (backlog 0 holds one) with non-blocking connections.
            for _ in 0..<3 {
                let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
                _ = withUnsafePointer(to: &addr) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(filler, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                accepted.withLock { $0.append(filler) }
            }
            return
        }
        thread = Thread {
            while true {
                let client = accept(sock, nil, nil)
                if client < 0 { return }
                accepted.withLock { $0.append(client) }
            }
        }
        thread?.start()
    }

    var acceptedCount: Int { accepted.withLock { $0.count } }

    func close() {
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
        accepted.withLock { fds in fds.forEach { Glibc.close($0) }; fds.removeAll() }
    }
}

/// A loopback port nothing listens on (bound then closed).
func freeLoopbackPort() throws -> Int {
    let listener = try SilentListener()
    let port = listener.port
    listener.close()
    return port
}

func write(_ text: String, to path: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

/// Measures wall time of an async operation.
func elapsed<R>(_ body: () async throws -> R) async rethrows -> (R, Double) {
    let start = ContinuousClock.now
    let result = try await body()
    let d = ContinuousClock.now - start
    return (result, Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
}

/// A mutex in a class, so closures can share it.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout sending Value) throws -> sending R) rethrows -> R { try mutex.withLock(body) }
    var value: Value { mutex.withLock { $0 } }
}
