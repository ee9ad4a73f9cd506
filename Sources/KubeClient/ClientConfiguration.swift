/// Where TLS material comes from: inline PEM bytes or a file read when the client is created.
public enum PEMSource: Sendable, Hashable {
    /// PEM bytes (kubeconfig `*-data` fields, base64-decoded).
    case data([UInt8])
    /// A PEM file path (absolute; the kubeconfig loader resolves relative paths against the kubeconfig's folder).
    case file(String)
}

/// An exec credential plugin (`client.authentication.k8s.io/v1`), as in a kubeconfig `users[].user.exec`.
public struct ExecConfiguration: Sendable, Hashable {
    /// The program to run (a path, or a name looked up in `PATH`).
    public var command: String
    /// Its arguments.
    public var args: [String]
    /// Extra environment variables, added to the client's environment.
    public var env: [String: String]
    /// `client.authentication.k8s.io/v1` (v1beta1 is accepted too).
    public var apiVersion: String
    /// Shown when the command cannot be run.
    public var installHint: String?
    /// Pass the cluster's server and CA in `KUBERNETES_EXEC_INFO`.
    public var provideClusterInfo: Bool

    /// Creates an exec plugin configuration.
    public init(command: String, args: [String] = [], env: [String: String] = [:],
                apiVersion: String = "client.authentication.k8s.io/v1", installHint: String? = nil,
                provideClusterInfo: Bool = false) {
        self.command = command
        self.args = args
        self.env = env
        self.apiVersion = apiVersion
        self.installHint = installHint
        self.provideClusterInfo = provideClusterInfo
    }
}

/// Everything the client needs to reach one API server: endpoint, TLS, credentials and transport limits.
///
/// Usually produced by ``KubeConfigLoader``:
/// ```swift
/// let config = try KubeConfigLoader.defaultConfiguration(kubeconfig: nil)
/// let client = try KubernetesClient(configuration: config)
/// ```
public struct ClientConfiguration: Sendable, Hashable {
    /// The API server base URL, e.g. `https://127.0.0.1:6443` (may carry a path prefix).
    public var server: String
    /// Overrides the name checked against the server certificate (kubeconfig `tls-server-name`).
    public var tlsServerName: String?
    /// CA bundle that signs the server certificate; nil means the system trust store.
    public var certificateAuthority: PEMSource?
    /// Client certificate for mutual TLS.
    public var clientCertificate: PEMSource?
    /// Private key of `clientCertificate`.
    public var clientKey: PEMSource?
    /// A static bearer token (takes precedence over `tokenFile`).
    public var token: String?
    /// A file holding the bearer token; re-read whenever it changes so rotated tokens are used.
    public var tokenFile: String?
    /// HTTP basic auth user name.
    public var username: String?
    /// HTTP basic auth password.
    public var password: String?
    /// An exec credential plugin.
    public var exec: ExecConfiguration?
    /// Skip server certificate verification. Only ever true when the kubeconfig says so explicitly.
    public var insecureSkipTLSVerify: Bool
    /// An HTTP(S) proxy URL (kubeconfig `proxy-url`); nil leaves libcurl's environment handling.
    public var proxyURL: String?
    /// The context's default namespace (or the in-cluster service account's namespace).
    public var namespace: String?
    /// Client-side rate limit: sustained requests per second (0 or less disables limiting).
    public var qps: Double
    /// Client-side rate limit: burst size.
    public var burst: Int
    /// TCP + TLS connect timeout, seconds.
    public var connectTimeout: Double
    /// Whole-request timeout for non-watch requests, seconds (0 = none).
    public var requestTimeout: Double
    /// A watch with bookmarks that receives no byte for this long is treated as a dead connection. Keep it
    /// above the server's bookmark interval (about 60 s for kube-apiserver ≥ 1.19).
    public var watchIdleTimeout: Double
    /// Retries of a request the server refused with 429, or a 5xx with Retry-After (idempotent verbs only).
    public var maxRetries: Int
    /// The User-Agent header.
    public var userAgent: String
    /// The environment an exec plugin inherits (defaults to the process environment when nil).
    public var execEnvironment: [String: String]?
    /// Offer HTTP/2 in the TLS handshake (ALPN), as client-go does; the server picks it or HTTP/1.1.
    /// Over HTTP/2 every request and watch of this client shares one connection. false: HTTP/1.1 only.
    public var http2: Bool = true
    /// The largest response body buffered for a non-watch request (bytes); a larger one fails that
    /// request with an error naming the limit. Far above any legal object (etcd stores at most 1.5 MiB).
    public var maxResponseBytes: Int = 64 << 20
    /// The longest line of a watch stream (one event, bytes); a longer one fails that watch connection
    /// (the caller reconnects) with an error naming the limit.
    public var maxWatchLineBytes: Int = 16 << 20

    /// Creates a configuration; only `server` is required.
    public init(server: String, tlsServerName: String? = nil, certificateAuthority: PEMSource? = nil,
                clientCertificate: PEMSource? = nil, clientKey: PEMSource? = nil,
                token: String? = nil, tokenFile: String? = nil, username: String? = nil, password: String? = nil,
                exec: ExecConfiguration? = nil, insecureSkipTLSVerify: Bool = false, proxyURL: String? = nil,
                namespace: String? = nil, qps: Double = 50, burst: Int = 100,
                connectTimeout: Double = 10, requestTimeout: Double = 60, watchIdleTimeout: Double = 90,
                maxRetries: Int = 5, userAgent: String = "automagic/0.1 (libcurl)",
                execEnvironment: [String: String]? = nil) {
        self.server = server
        self.tlsServerName = tlsServerName
        self.certificateAuthority = certificateAuthority
        self.clientCertificate = clientCertificate
        self.clientKey = clientKey
        self.token = token
        self.tokenFile = tokenFile
        self.username = username
        self.password = password
        self.exec = exec
        self.insecureSkipTLSVerify = insecureSkipTLSVerify
        self.proxyURL = proxyURL
        self.namespace = namespace
        self.qps = qps
        self.burst = burst
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.watchIdleTimeout = watchIdleTimeout
        self.maxRetries = maxRetries
        self.userAgent = userAgent
        self.execEnvironment = execEnvironment
    }
}
