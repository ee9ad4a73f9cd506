import Foundation
import HTTPServer
import HTTPServerTLS
import JSON
import Logging
import Synchronization

/// Failures of starting or running the lab API server.
public enum LabServerError: Error, CustomStringConvertible, Sendable {
    /// Creating or reading the certificate directory failed.
    case certificates(dir: String, cause: String)
    /// Binding or starting the HTTPS listener failed.
    case listen(address: String, cause: String)
    /// Writing the admin kubeconfig failed.
    case kubeconfig(path: String, cause: String)
    /// Reading or writing the `--data` snapshot failed.
    case snapshot(path: String, cause: String)
    /// The token file is malformed.
    case tokenFile(path: String, cause: String)
    /// The authorization policy file is malformed.
    case policyFile(path: String, cause: String)
    /// The audit log cannot be opened.
    case auditLog(path: String, cause: String)

    public var description: String {
        switch self {
        case .certificates(let dir, let cause): return "failed to prepare certificates in '\(dir)': \(cause)"
        case .listen(let address, let cause): return "failed to listen on '\(address)': \(cause)"
        case .kubeconfig(let path, let cause): return "failed to write kubeconfig '\(path)': \(cause)"
        case .snapshot(let path, let cause): return "failed to use data snapshot '\(path)': \(cause)"
        case .tokenFile(let path, let cause): return "failed to read token file '\(path)': \(cause)"
        case .policyFile(let path, let cause): return "failed to read policy file '\(path)': \(cause)"
        case .auditLog(let path, let cause): return "failed to open audit log '\(path)': \(cause)"
        }
    }
}

/// How to start a lab API server. Every field has a test-friendly default: loopback, a free
/// port, a fresh temporary certificate directory, no snapshot.
public struct LabServerOptions: Sendable {
    /// Address to listen on (`127.0.0.1`, `::1`).
    public var bindAddress: String = "127.0.0.1"
    /// TCP port; 0 picks a free one.
    public var port: Int = 0
    /// Where the CA, serving and admin certificates live (created, or reused when present). nil: a new temporary
    /// directory, removed again by `stop()` (with the kubeconfig, when that was left at its default place).
    public var certDir: String? = nil
    /// Where to write the admin kubeconfig. nil: `<certDir>/admin.kubeconfig`.
    public var kubeconfigPath: String? = nil
    /// Bearer tokens → users.
    public var tokens: [String: LabUser] = [:]
    /// Authorization rules for users outside `system:masters`.
    public var rules: [AuthorizationRule] = []
    /// Emulate the garbage collector (dependents of a deleted owner go with it); false behaves
    /// like a bare kube-apiserver, or a real cluster before its collector has run.
    public var garbageCollection: Bool = true
    /// Serve `SelfSubjectReview` (false: 404, like a server older than 1.28).
    public var servesSelfSubjectReview: Bool = true
    /// Serve `resource.k8s.io/v1` (false: like a server older than Kubernetes 1.34).
    public var servesResourceAPI: Bool = true
    /// Snapshot file: loaded at start when present, written atomically every `snapshotInterval` seconds and at stop.
    public var dataPath: String? = nil
    /// Audit log: every write (POST, PUT, PATCH, DELETE) appended as a JSON line with the user, User-Agent,
    /// times and status (also kept in memory: `api.audit.records`).
    public var auditLogPath: String? = nil
    /// Seconds between snapshot writes (only when something changed).
    public var snapshotInterval: Double = 10
    /// How many changes a watch may resume from.
    public var historyLimit: Int = 20_000
    /// Seconds between a watch's BOOKMARK events (when asked for; kube-apiserver: about 60).
    public var bookmarkInterval: Double = 60
    /// Largest request body (413 beyond).
    public var maxBodyBytes: Int = 3 * 1024 * 1024
    /// Logger for server-level events.
    public var logger: Logger = Logger(label: "automagic.lab-apiserver")

    public init() {}
}

/// A running lab API server. Stop it with `stop()` (also done on deinit).
public final class RunningLabServer: Sendable {
    /// The bound port.
    public let port: Int
    /// `https://127.0.0.1:<port>`.
    public let url: String
    /// The CA certificate (PEM) that signed the serving and client certificates.
    public let caPEM: String
    /// The admin client certificate (CN `kubernetes-admin`, O `system:masters`), PEM.
    public let adminCertPEM: String
    /// The admin client key, PEM.
    public let adminKeyPEM: String
    /// The admin kubeconfig written at start.
    public let kubeconfigPath: String
    /// The certificate directory.
    public let certDir: String
    /// The API core (for in-process requests without HTTP).
    public let api: LabAPI
    let http: HTTPServer
    let ca: CertificateAuthority
    let snapshot: SnapshotWriter?
    let temporaryDir: Bool
    private let stopped = Atomic<Bool>(false)

    init(port: Int, url: String, ca: CertificateAuthority, adminCertPEM: String, adminKeyPEM: String, kubeconfigPath: String,
         certDir: String, api: LabAPI, http: HTTPServer, snapshot: SnapshotWriter?, temporaryDir: Bool) {
        self.temporaryDir = temporaryDir
        self.port = port; self.url = url; self.ca = ca; self.caPEM = ca.certificatePEM
        self.adminCertPEM = adminCertPEM; self.adminKeyPEM = adminKeyPEM
        self.kubeconfigPath = kubeconfigPath; self.certDir = certDir; self.api = api; self.http = http
        self.snapshot = snapshot
    }

    deinit { stop() }

    /// Stops serving: ends watches, closes connections, writes the final snapshot. Idempotent.
    public func stop() {
        if stopped.exchange(true, ordering: .acquiringAndReleasing) { return }
        api.shutdown()
        // Persist first: stopping the HTTP side waits for connection threads, and nothing a
        // client does after shutdown() can change the store anyway.
        snapshot?.stop()
        http.stop()
        if temporaryDir { try? FileManager.default.removeItem(atPath: certDir) }
    }

    /// Issues a client certificate for `user` (CN) in `groups` (O), signed by the server's CA.
    public func issueClientCertificate(user: String, groups: [String]) throws -> (certificatePEM: String, privateKeyPEM: String) {
        try ca.issue(commonName: user, organizations: groups, usage: .client)
    }

    /// Writes a kubeconfig for `user`/`groups` (client certificate) or for a bearer `token`.
    public func writeKubeconfig(to path: String, user: String = "kubernetes-admin", groups: [String] = ["system:masters"], token: String? = nil) throws {
        if let token {
            try LabServer.writeKubeconfig(path: path, server: url, caPEM: caPEM, user: user, certPEM: nil, keyPEM: nil, token: token)
        } else {
            let (cert, key) = try issueClientCertificate(user: user, groups: groups)
            try LabServer.writeKubeconfig(path: path, server: url, caPEM: caPEM, user: user, certPEM: cert, keyPEM: key, token: nil)
        }
    }
}

/// Adapts an `HTTPResponseWriter` to the core's sink.
final class WriterSink: LabResponseSink {
    let writer: any HTTPResponseWriter
    init(_ writer: any HTTPResponseWriter) { self.writer = writer }
    func writeHead(status: Int, headers: [(name: String, value: String)]) { writer.writeHead(status: status, headers: HTTPHeaders(headers)) }
    func writeBody(_ bytes: [UInt8]) -> Bool { writer.writeBody(bytes) }
    func finish() { writer.finish() }
    var isClientGone: Bool { writer.isClientGone }
    func onClientGone(_ action: @escaping @Sendable () -> Void) { writer.onClientGone(action) }
}

/// Starts lab API servers.
///
/// ```swift
/// let server = try LabServer.start()          // 127.0.0.1, free port, temp certs
/// defer { server.stop() }
/// // KUBECONFIG=server.kubeconfigPath kubectl get nodes
/// ```
public enum LabServer {
    /// Starts a server with `options`; returns once it accepts connections.
    public static func start(_ options: LabServerOptions = LabServerOptions()) throws -> RunningLabServer {
        let fm = FileManager.default
        let certDir = options.certDir ?? (NSTemporaryDirectory() + "automagic-lab-" + UUID().uuidString.prefix(8).lowercased())
        do { try fm.createDirectory(atPath: certDir, withIntermediateDirectories: true) } catch {
            throw LabServerError.certificates(dir: certDir, cause: "\(error)")
        }
        let pki = try loadOrCreatePKI(dir: certDir, bindAddress: options.bindAddress)
        var config = LabAPIConfiguration()
        config.tokens = options.tokens
        config.rules = options.rules
        config.garbageCollection = options.garbageCollection
        config.servesSelfSubjectReview = options.servesSelfSubjectReview
        config.servesResourceAPI = options.servesResourceAPI
        config.historyLimit = options.historyLimit
        config.bookmarkInterval = options.bookmarkInterval
        config.maxBodyBytes = options.maxBodyBytes
        let api = LabAPI(configuration: config)
        if let path = options.auditLogPath { try api.audit.attachFile(path) }
        var snapshot: SnapshotWriter? = nil
        if let dataPath = options.dataPath {
            try Snapshot.load(path: dataPath, into: api)
            snapshot = SnapshotWriter(path: dataPath, api: api, interval: options.snapshotInterval, logger: options.logger)
        }
        var limits = HTTPLimits()
        limits.maxBodyBytes = options.maxBodyBytes
        limits.maxConnections = 4096
        limits.idleTimeout = .seconds(300)
        // On stop (SIGTERM) a handler gets 1 s to end after its connection closed: the process must exit within 2 s.
        limits.shutdownGracePeriod = .seconds(1)
        let tls = TLSConfiguration(certificateChainPEM: pki.serverCert, privateKeyPEM: pki.serverKey, clientCAPEM: pki.ca.certificatePEM)
        let responder: HTTPErrorResponder = { status, message in
            let e: APIError = status == 413 ? APIError.tooLarge() : APIError(code: status, reason: status == 400 ? "BadRequest" : "", message: message)
            return (HTTPHeaders([("Content-Type", "application/json"), ("Cache-Control", "no-cache, private")]),
                    Wire.encode(e.status, order: .goStruct, newline: true))
        }
        let http = HTTPServer(host: options.bindAddress, port: options.port, security: tls, limits: limits, errorResponder: responder,
                              logger: options.logger) { request, writer in
            let user = request.peer.map { LabUser(name: $0.commonName, groups: $0.organizations) }
            let lr = LabRequest(method: request.method, path: request.path, query: request.query,
                                headers: request.headers.fields, body: request.body, clientCertificate: user)
            api.handle(lr, sink: WriterSink(writer))
        }
        let port: Int
        do { port = try http.start() } catch {
            throw LabServerError.listen(address: "\(options.bindAddress):\(options.port)", cause: "\(error)")
        }
        let host = options.bindAddress.contains(":") ? "[\(options.bindAddress)]" : options.bindAddress
        let connectHost = (options.bindAddress == "0.0.0.0") ? "127.0.0.1" : (options.bindAddress == "::" ? "[::1]" : host)
        let url = "https://\(connectHost):\(port)"
        let kubeconfigPath = options.kubeconfigPath ?? (certDir + "/admin.kubeconfig")
        do {
            try writeKubeconfig(path: kubeconfigPath, server: url, caPEM: pki.ca.certificatePEM, user: "kubernetes-admin",
                                certPEM: pki.adminCert, keyPEM: pki.adminKey, token: nil)
        } catch {
            http.stop()
            throw error
        }
        snapshot?.start()
        options.logger.info("lab API server listening", metadata: ["url": "\(url)", "kubeconfig": "\(kubeconfigPath)"])
        return RunningLabServer(port: port, url: url, ca: pki.ca, adminCertPEM: pki.adminCert, adminKeyPEM: pki.adminKey,
                                kubeconfigPath: kubeconfigPath, certDir: certDir, api: api, http: http, snapshot: snapshot,
                                temporaryDir: options.certDir == nil)
    }

    struct PKI { var ca: CertificateAuthority; var serverCert, serverKey, adminCert, adminKey: String }

    static func loadOrCreatePKI(dir: String, bindAddress: String) throws -> PKI {
        func read(_ name: String) -> String? { try? String(contentsOfFile: dir + "/" + name, encoding: .utf8) }
        func write(_ name: String, _ text: String, mode: Int = 0o600) throws {
            let path = dir + "/" + name
            do {
                try text.write(toFile: path, atomically: true, encoding: .utf8)
                try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
            } catch { throw LabServerError.certificates(dir: dir, cause: "cannot write \(name): \(error)") }
        }
        do {
            let ca: CertificateAuthority
            if let c = read("ca.crt"), let k = read("ca.key") {
                ca = CertificateAuthority(certificatePEM: c, privateKeyPEM: k)
            } else {
                ca = try CertificateAuthority.generate(commonName: "automagic-lab-ca")
                try write("ca.crt", ca.certificatePEM, mode: 0o644)
                try write("ca.key", ca.privateKeyPEM)
            }
            var ips = ["127.0.0.1", "::1"]
            if !["0.0.0.0", "::", "127.0.0.1", "::1"].contains(bindAddress), !bindAddress.isEmpty, bindAddress.first?.isNumber == true || bindAddress.contains(":") {
                ips.append(bindAddress)
            }
            let server: (String, String)
            if let c = read("server.crt"), let k = read("server.key") { server = (c, k) } else {
                let issued = try ca.issue(commonName: "automagic-lab-apiserver", dnsNames: ["localhost", "kubernetes", "kubernetes.default"],
                                          ipAddresses: ips, usage: .server)
                server = (issued.certificatePEM, issued.privateKeyPEM)
                try write("server.crt", server.0, mode: 0o644)
                try write("server.key", server.1)
            }
            let admin: (String, String)
            if let c = read("admin.crt"), let k = read("admin.key") { admin = (c, k) } else {
                let issued = try ca.issue(commonName: "kubernetes-admin", organizations: ["system:masters"], usage: .client)
                admin = (issued.certificatePEM, issued.privateKeyPEM)
                try write("admin.crt", admin.0, mode: 0o644)
                try write("admin.key", admin.1)
            }
            return PKI(ca: ca, serverCert: server.0, serverKey: server.1, adminCert: admin.0, adminKey: admin.1)
        } catch let e as LabServerError {
            throw e
        } catch {
            throw LabServerError.certificates(dir: dir, cause: "\(error)")
        }
    }

    static func writeKubeconfig(path: String, server: String, caPEM: String, user: String, certPEM: String?, keyPEM: String?, token: String?) throws {
        func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }
        var userBlock = ""
        if let certPEM, let keyPEM {
            userBlock = "    client-certificate-data: \(b64(certPEM))\n    client-key-data: \(b64(keyPEM))\n"
        } else if let token {
            userBlock = "    token: \(token)\n"
        }
        let text = """
        apiVersion: v1
        kind: Config
        clusters:
        - name: automagic-lab
          cluster:
            server: \(server)
            certificate-authority-data: \(b64(caPEM))
        users:
        - name: \(user)
          user:
        \(userBlock)contexts:
        - name: automagic-lab
          context:
            cluster: automagic-lab
            user: \(user)
        current-context: automagic-lab

        """
        do {
            let dir = (path as NSString).deletingLastPathComponent
            if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        } catch {
            throw LabServerError.kubeconfig(path: path, cause: "\(error)")
        }
    }

    /// Reads a kube-apiserver style static token file: `token,user,uid,"group1,group2"` per line,
    /// optionally followed by the lab's extension, any number of `key=value` fields that become
    /// the identity's extras (a key given twice has two values), e.g.
    /// `t0k3n,system:serviceaccount:automagic:agent,,"system:serviceaccounts",authentication.kubernetes.io/node-name=worker-1`.
    /// kube-apiserver ignores fields after the fourth, so such a file still works there.
    public static func loadTokenFile(_ path: String) throws -> [String: LabUser] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw LabServerError.tokenFile(path: path, cause: "\(error)")
        }
        var tokens: [String: LabUser] = [:]
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            var fields: [String] = []
            var current = ""
            var quoted = false
            for c in line {
                if c == "\"" { quoted.toggle(); continue }
                if c == "," && !quoted { fields.append(current); current = ""; continue }
                current.append(c)
            }
            fields.append(current)
            guard fields.count >= 2, !fields[0].isEmpty, !fields[1].isEmpty else {
                throw LabServerError.tokenFile(path: path, cause: "line \(n + 1): expected token,user[,uid[,\"group,...\"]]")
            }
            let groups = fields.count >= 4 ? fields[3].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } : []
            var extra: [String: [String]] = [:]
            for (i, field) in fields.dropFirst(4).enumerated() {
                let pair = field.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = pair.first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                guard pair.count == 2, !key.isEmpty else {
                    throw LabServerError.tokenFile(
                        path: path, cause: "line \(n + 1), field \(i + 5): expected an extra as key=value, got '\(field)'")
                }
                extra[key, default: []].append(String(pair[1]))
            }
            let uid = fields.count >= 3 && !fields[2].isEmpty ? fields[2] : nil
            tokens[fields[0]] = LabUser(name: fields[1], groups: groups, uid: uid, extra: extra.isEmpty ? nil : extra)
        }
        return tokens
    }

    /// Reads authorization rules from a JSON file: `[{"users":[..],"groups":[..],"verbs":[..],"apiGroups":[..],"resources":[..],"namespaces":[..]}]`.
    public static func loadPolicyFile(_ path: String) throws -> [AuthorizationRule] {
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            return try JSONDecoder().decode([AuthorizationRule].self, from: data)
        } catch {
            throw LabServerError.policyFile(path: path, cause: "\(error)")
        }
    }
}
