import CTLS
import Glibc
import HTTPServer

/// The text of a NUL-terminated C buffer.
private func cString(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}

/// TLS settings for an HTTPS server, as PEM text.
public struct TLSConfiguration: TransportSecurity, Hashable {
    /// The serving certificate followed by any intermediates.
    public var certificateChainPEM: String
    /// The serving certificate's private key (PKCS#8, PKCS#1 or SEC1 PEM).
    public var privateKeyPEM: String
    /// CA certificates for *optional* client-certificate verification: a presented client
    /// certificate must verify against these; clients without one are still accepted
    /// (`HTTPRequest.peer` is then nil). Nil disables client certificates.
    public var clientCAPEM: String?

    /// Creates a TLS configuration.
    public init(certificateChainPEM: String, privateKeyPEM: String, clientCAPEM: String? = nil) {
        self.certificateChainPEM = certificateChainPEM
        self.privateKeyPEM = privateKeyPEM
        self.clientCAPEM = clientCAPEM
    }

    /// Loads the certificate, key and client CA into an OpenSSL context (`HTTPServer.start()` calls this).
    public func context() throws(HTTPServerError) -> any SecurityContext {
        try TLSContext(self)
    }
}

/// An OpenSSL server context, freed when the last reference goes away.
/// `SSL_CTX` is internally reference counted and safe to share between threads once configured.
final class TLSContext: SecurityContext, @unchecked Sendable {
    let ctx: OpaquePointer

    init(_ configuration: TLSConfiguration) throws(HTTPServerError) {
        var err = [CChar](repeating: 0, count: 1024)
        let ctx = ctls_server_ctx_new(
            configuration.certificateChainPEM, configuration.privateKeyPEM, configuration.clientCAPEM, &err, err.count)
        guard let ctx else {
            throw .tlsConfiguration(cString(err))
        }
        self.ctx = ctx
    }

    deinit {
        ctls_ctx_free(ctx)
    }

    func session(socket fd: Int32) -> Result<any SecureSession, SecureSessionError> {
        var err = [CChar](repeating: 0, count: 512)
        guard let ssl = ctls_ssl_new(ctx, fd, &err, err.count) else { return .failure(SecureSessionError(cString(err))) }
        return .success(TLSSession(ssl))
    }
}

/// One server-side OpenSSL session over a non-blocking socket.
final class TLSSession: SecureSession {
    private var ssl: OpaquePointer?

    init(_ ssl: OpaquePointer) { self.ssl = ssl }

    private static func outcome(_ rc: Int32, count: Int32, _ err: [CChar]) -> SecureIO {
        switch Int(rc) {
        case Int(CTLS_OK): .done(Int(count))
        case Int(CTLS_WANT_READ): .wantRead
        case Int(CTLS_WANT_WRITE): .wantWrite
        case Int(CTLS_CLOSED): .closed
        default: .failed(cString(err))
        }
    }

    func handshake() -> SecureIO {
        guard let ssl else { return .closed }
        var err = [CChar](repeating: 0, count: 512)
        let rc = ctls_ssl_handshake(ssl, &err, err.count)
        // A handshake knows no orderly close: anything but done or want-I/O is a failure.
        if rc == CTLS_CLOSED { return .failed(cString(err)) }
        return Self.outcome(rc, count: 0, err)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> SecureIO {
        guard let ssl else { return .closed }
        var n: Int32 = 0
        var err = [CChar](repeating: 0, count: 256)
        let rc = ctls_ssl_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count), &n, &err, err.count)
        return Self.outcome(rc, count: n, err)
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> SecureIO {
        guard let ssl else { return .closed }
        var n: Int32 = 0
        var err = [CChar](repeating: 0, count: 256)
        let rc = ctls_ssl_write(ssl, bytes.baseAddress, Int32(clamping: bytes.count), &n, &err, err.count)
        return Self.outcome(rc, count: n, err)
    }

    var hasBufferedInput: Bool {
        guard let ssl else { return false }
        return ctls_ssl_pending(ssl) > 0
    }

    func peerIdentity() -> PeerIdentity? {
        guard let ssl else { return nil }
        var buf = [CChar](repeating: 0, count: 4096)
        let cnCount = ctls_peer_subject_entries(ssl, 0, &buf, buf.count)
        guard cnCount >= 0 else { return nil }
        let cn = cnCount > 0 ? cString(buf).split(separator: "\n").first.map(String.init) ?? "" : ""
        let orgCount = ctls_peer_subject_entries(ssl, 1, &buf, buf.count)
        let orgs = orgCount > 0 ? cString(buf).split(separator: "\n", omittingEmptySubsequences: false).map(String.init) : []
        return PeerIdentity(commonName: cn, organizations: orgs)
    }

    func close() {
        guard let ssl else { return }
        ctls_ssl_shutdown(ssl)
        ctls_ssl_free(ssl)
        self.ssl = nil
    }
}

/// A certificate authority for labs and tests: generates a self-signed CA and issues
/// server and client certificates (EC P-256, SHA-256) with subject alternative names.
///
/// ```swift
/// let ca = try CertificateAuthority.generate(commonName: "automagic-lab-ca")
/// let serving = try ca.issue(commonName: "localhost", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1", "::1"], usage: .server)
/// let admin = try ca.issue(commonName: "admin", organizations: ["system:masters"], usage: .client)
/// ```
public struct CertificateAuthority: Sendable, Hashable {
    /// What an issued certificate may be used for (its extended key usage).
    public enum Usage: Sendable, Hashable {
        /// TLS server authentication.
        case server
        /// TLS client authentication.
        case client
        /// Both server and client authentication.
        case serverAndClient
    }

    /// The CA certificate, PEM.
    public var certificatePEM: String
    /// The CA private key, PKCS#8 PEM.
    public var privateKeyPEM: String

    /// Uses an existing CA (for example one loaded from a certificate directory).
    public init(certificatePEM: String, privateKeyPEM: String) {
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
    }

    /// Generates a new self-signed CA valid for `validityDays` days.
    public static func generate(commonName: String, validityDays: Int = 3650) throws(HTTPServerError) -> CertificateAuthority {
        try validateName(commonName, what: "common name", for: commonName)
        var err = [CChar](repeating: 0, count: 1024)
        var cert: UnsafeMutablePointer<CChar>?
        var key: UnsafeMutablePointer<CChar>?
        guard ctls_generate_ca(commonName, Int32(clamping: validityDays), &cert, &key, &err, err.count) == 0,
            let cert, let key
        else {
            throw .certificate(name: commonName, cause: cString(err))
        }
        defer {
            ctls_free(cert)
            ctls_free(key)
        }
        return CertificateAuthority(certificatePEM: String(cString: cert), privateKeyPEM: String(cString: key))
    }

    /// Issues a leaf certificate signed by this CA.
    /// - Parameters:
    ///   - commonName: subject CN (the Kubernetes user name for client certificates).
    ///   - organizations: subject O values (Kubernetes groups).
    ///   - dnsNames: DNS subject alternative names (letters, digits, `-`, `.`, `*`).
    ///   - ipAddresses: IPv4/IPv6 subject alternative names.
    ///   - usage: server, client, or both.
    /// - Returns: the certificate and its private key (PKCS#8), PEM.
    public func issue(
        commonName: String, organizations: [String] = [], dnsNames: [String] = [], ipAddresses: [String] = [],
        usage: Usage, validityDays: Int = 365
    ) throws(HTTPServerError) -> (certificatePEM: String, privateKeyPEM: String) {
        try Self.validateName(commonName, what: "common name", for: commonName)
        for org in organizations { try Self.validateName(org, what: "organization", for: commonName) }
        for dns in dnsNames {
            guard !dns.isEmpty, dns.utf8.allSatisfy({ c in
                (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c == 45 || c == 46 || c == 42
            }) else {
                throw .certificate(name: commonName, cause: "invalid DNS name '\(dns)'")
            }
        }
        for ip in ipAddresses {
            var v4 = in_addr(), v6 = in6_addr()
            guard inet_pton(AF_INET, ip, &v4) == 1 || inet_pton(AF_INET6, ip, &v6) == 1 else {
                throw .certificate(name: commonName, cause: "invalid IP address '\(ip)'")
            }
        }
        let bits: Int32 =
            switch usage {
            case .server: Int32(CTLS_USAGE_SERVER)
            case .client: Int32(CTLS_USAGE_CLIENT)
            case .serverAndClient: Int32(CTLS_USAGE_SERVER | CTLS_USAGE_CLIENT)
            }
        var err = [CChar](repeating: 0, count: 1024)
        var cert: UnsafeMutablePointer<CChar>?
        var key: UnsafeMutablePointer<CChar>?
        let rc = ctls_issue_certificate(
            certificatePEM, privateKeyPEM, commonName, organizations.joined(separator: "\n"),
            dnsNames.joined(separator: "\n"), ipAddresses.joined(separator: "\n"), bits,
            Int32(clamping: validityDays), &cert, &key, &err, err.count)
        guard rc == 0, let cert, let key else {
            throw .certificate(name: commonName, cause: cString(err))
        }
        defer {
            ctls_free(cert)
            ctls_free(key)
        }
        return (String(cString: cert), String(cString: key))
    }

    private static func validateName(_ value: String, what: String, for name: String) throws(HTTPServerError) {
        guard !value.isEmpty, value.utf8.count <= 64, !value.utf8.contains(where: { $0 < 32 || $0 == 127 }) else {
            throw .certificate(name: name, cause: "invalid \(what) '\(value)': must be 1-64 printable characters")
        }
    }
}
