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

/// How a server secures its connections (HTTPServerTLS's `TLSConfiguration` is one: OpenSSL).
/// HTTPServer itself links no TLS library, so a plain-HTTP server (the agent's health and metrics
/// endpoints) does not load OpenSSL.
public protocol TransportSecurity: Sendable {
    /// Loads the material once, when the server starts; an error names what is wrong with it.
    func context() throws(HTTPServerError) -> any SecurityContext
}

/// Loaded security material: starts one session per accepted socket.
public protocol SecurityContext: Sendable {
    /// Wraps an accepted, non-blocking socket (the handshake is not done yet).
    func session(socket fd: Int32) -> Result<any SecureSession, SecureSessionError>
}

/// Why a session could not be set up.
public struct SecureSessionError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The outcome of one non-blocking step of a secure session.
public enum SecureIO: Sendable, Equatable {
    /// Done; the byte count for reads and writes (> 0), 0 for the handshake.
    case done(Int)
    /// Retry once the socket is readable.
    case wantRead
    /// Retry once the socket is writable.
    case wantWrite
    /// The peer closed the session.
    case closed
    /// A protocol or system failure, described.
    case failed(String)
}

/// One connection's secure session, used only by the connection's transport (reads on the
/// connection thread, writes under the response writer's lock).
public protocol SecureSession: AnyObject {
    /// One handshake step.
    func handshake() -> SecureIO
    /// Reads at most `buffer.count` bytes into `buffer`.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> SecureIO
    /// Writes a prefix of `bytes` (partial writes allowed).
    func write(_ bytes: UnsafeRawBufferPointer) -> SecureIO
    /// Whether decrypted bytes wait inside the session.
    var hasBufferedInput: Bool { get }
    /// The verified client certificate's identity, if any.
    func peerIdentity() -> PeerIdentity?
    /// Says goodbye (best effort, never blocks) and frees the session.
    func close()
}
