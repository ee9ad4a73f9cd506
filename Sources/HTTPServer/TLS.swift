import CTLS
import Glibc

/// The errors of the HTTPServer module. Each case names the step that failed.
public enum HTTPServerError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The TLS material could not be loaded (bad PEM, key mismatch, bad client CA).
    case tlsConfiguration(String)
    /// The listen address could not be resolved or used.
    case invalidAddress(address: String, cause: String)
    /// A socket call failed while starting to listen.
    case listen(address: String, cause: String)
    /// `start()` was called on a server that is running or stopped.
    case alreadyStarted
    /// Certificate generation or issuing failed.
    case certificate(name: String, cause: String)

    public var description: String {
        switch self {
        case .tlsConfiguration(let cause): "failed to load TLS configuration: \(cause)"
        case .invalidAddress(let address, let cause): "failed to resolve listen address '\(address)': \(cause)"
        case .listen(let address, let cause): "failed to listen on '\(address)': \(cause)"
        case .alreadyStarted: "failed to start HTTP server: it was already started"
        case .certificate(let name, let cause): "failed to generate certificate '\(name)': \(cause)"
        }
    }
}

/// TLS settings for an HTTPS server, as PEM text.
public struct TLSConfiguration: Sendable, Hashable {
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
}

/// An OpenSSL server context, freed when the last reference goes away.
/// `SSL_CTX` is internally reference counted and safe to share between threads once configured.
final class TLSContext: @unchecked Sendable {
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
