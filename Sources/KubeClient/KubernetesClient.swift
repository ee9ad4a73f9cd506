#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JSON
import KubeCore
import Logging
import Synchronization

/// The Kubernetes API client: one libcurl multi loop (its own thread, reused connections), credentials,
/// client-side rate limiting and retries, shared by every ``ResourceClient`` made from it.
///
/// ```swift
/// let client = try KubernetesClient(configuration: KubeConfigLoader.defaultConfiguration())
/// let nodes = try await client.resource(Node.self).list()
/// ```
public final class KubernetesClient: Sendable {
    /// The configuration the client was created with.
    public let configuration: ClientConfiguration
    let loop: CurlLoop
    let tls: TLSMaterial
    let authenticator: Authenticator
    let limiter: RateLimiter?
    let baseURL: String
    let logger: Logger

    /// Creates a client; reads the CA and client certificate files now (so a missing file fails here).
    /// `logger` receives retries and credential refreshes (debug/notice).
    public init(configuration: ClientConfiguration, logger: Logger = Logger(label: "automagic.kubeclient")) throws(KubeClientError) {
        self.configuration = configuration
        self.logger = logger
        var base = configuration.server
        while base.hasSuffix("/") { base.removeLast() }
        guard base.hasPrefix("https://") || base.hasPrefix("http://"), base.count > 8 else {
            throw .configuration(file: nil, field: "server", message: "'\(configuration.server)' is not an http(s) URL")
        }
        var tls = TLSMaterial()
        tls.caPEM = try Self.load(configuration.certificateAuthority, field: "certificate-authority")
        tls.certificatePEM = try Self.load(configuration.clientCertificate, field: "client-certificate")
        tls.keyPEM = try Self.load(configuration.clientKey, field: "client-key")
        tls.insecureSkipVerify = configuration.insecureSkipTLSVerify
        tls.proxyURL = configuration.proxyURL
        let environment = ProcessInfo.processInfo.environment
        let noProxy = [environment["NO_PROXY"], environment["no_proxy"], "localhost,127.0.0.1,::1"]
            .compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ",")
        tls.noProxy = noProxy
        tls.connectTimeout = configuration.connectTimeout
        tls.userAgent = configuration.userAgent
        // client-go's switch: DISABLE_HTTP2 set to anything turns HTTP/2 off for every client.
        tls.http2 = configuration.http2 && (environment["DISABLE_HTTP2"] ?? "").isEmpty
        if let serverName = configuration.tlsServerName, !serverName.isEmpty,
           let (host, port, rest) = Self.splitAuthority(base) {
            // Verify the certificate against tls-server-name but connect to the configured host.
            tls.connectTo = "\(serverName):\(port):\(host):\(port)"
            base = (base.hasPrefix("https://") ? "https://" : "http://") + serverName + ":\(port)" + rest
        }
        self.baseURL = base
        self.tls = tls
        authenticator = Authenticator(configuration: configuration)
        limiter = configuration.qps > 0 ? RateLimiter(qps: configuration.qps, burst: configuration.burst) : nil
        loop = try CurlLoop(name: "kube-client-curl")
    }

    deinit {
        loop.shutdown()
    }

    /// A client for objects of type `T` (its `resourceType`), in `namespace` for namespaced resources
    /// (nil: all namespaces for list/watch; for single objects the object's own namespace).
    public func resource<T: KubernetesObject>(_ type: T.Type, namespace: String? = nil) -> ResourceClient<T> {
        ResourceClient(client: self, resourceType: T.resourceType, namespace: namespace)
    }

    /// A client for any resource, with objects held as JSON.
    public func dynamic(_ resourceType: ResourceType, namespace: String? = nil) -> ResourceClient<DynamicObject> {
        ResourceClient(client: self, resourceType: resourceType, namespace: namespace)
    }

    /// Connections libcurl opened so far (new TCP+TLS connections, not reused ones).
    public var connectionsOpened: Int { loop.connectionsOpened }

    /// Requests completed so far (all attempts, including retries).
    public var requestsCompleted: Int { loop.transfersCompleted }

    /// Requests completed so far whose response came over HTTP/2.
    public var requestsCompletedOverHTTP2: Int { loop.transfersCompletedOverHTTP2 }

    /// A raw API response.
    public struct RawResponse: Sendable {
        /// HTTP status code.
        public var status: Int
        /// Response headers (names lower-cased).
        public var headers: [HTTPHeader]
        /// The body bytes.
        public var body: Data
        /// The value of the last header named `name` (case-insensitive).
        public func header(_ name: String) -> String? {
            let lower = name.lowercased()
            return headers.last { $0.name == lower }?.value
        }
    }

    /// Sends any request (discovery, `/version`, subresources) with the client's credentials, rate limit
    /// and retries. A non-2xx answer throws ``KubeClientError/api(_:httpCode:url:)`` with the decoded Status.
    ///
    /// ```swift
    /// let version = try await client.request("GET", path: "/version")
    /// ```
    public func request(_ method: String, path: String, query: [(String, String)] = [], body: [UInt8]? = nil,
                        contentType: String? = nil, accept: String = "application/json") async throws(KubeClientError) -> RawResponse {
        let response = try await send(method: method, path: path, query: query, body: body, contentType: contentType, accept: accept)
        return RawResponse(status: response.status, headers: response.headers, body: response.body)
    }

    /// Builds the absolute URL of `path` with `query`.
    public func url(path: String, query: [(String, String)] = []) -> String {
        var url = baseURL + (path.hasPrefix("/") ? path : "/" + path)
        if !query.isEmpty { url += "?" + PathEscaping.query(query) }
        return url
    }

    // MARK: - Sending

    static func isIdempotent(_ method: String) -> Bool {
        ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"].contains(method)
    }

    func send(method: String, path: String, query: [(String, String)], body: [UInt8]?, contentType: String?,
              accept: String = "application/json") async throws(KubeClientError) -> HTTPResponse {
        let url = url(path: path, query: query)
        var attempt = 0
        var refreshedCredentials = false
        while true {
            if Task.isCancelled { throw .cancelled(url: url) }
            if let limiter {
                do { try await limiter.acquire() } catch { throw .cancelled(url: url) }
            }
            let credentials = try await authenticator.credentials()
            var request = HTTPRequest(method: method, url: url)
            request.headers = ["Accept: \(accept)"]
            if let contentType { request.headers.append("Content-Type: \(contentType)") }
            if let authorization = credentials.authorization { request.headers.append("Authorization: \(authorization)") }
            request.body = body
            request.timeout = configuration.requestTimeout
            request.maxBodyBytes = configuration.maxResponseBytes
            var material = tls
            if let cert = credentials.certificatePEM, let key = credentials.keyPEM {
                material.certificatePEM = cert
                material.keyPEM = key
            }
            let response = try await loop.perform(request, tls: material)
            for warning in response.headers where warning.name == "warning" {
                // e.g. `299 - "example.com/v1beta1 Widget is deprecated"`
                logger.warning("API server warning: \(warning.value)", metadata: ["url": "\(url)"])
            }
            if (200..<300).contains(response.status) { return response }
            if response.status == 401, authenticator.canRefresh, !refreshedCredentials {
                refreshedCredentials = true
                logger.notice("credentials refused (401), fetching them again", metadata: ["url": "\(url)"])
                await authenticator.invalidate()
                continue
            }
            if attempt < configuration.maxRetries, let delay = Self.retryDelay(response, method: method) {
                attempt += 1
                logger.debug("retrying after HTTP \(response.status)", metadata: [
                    "url": "\(url)", "method": "\(method)", "attempt": "\(attempt)", "delaySeconds": "\(delay)"])
                do { try await Task.sleep(for: .seconds(delay)) } catch { throw .cancelled(url: url) }
                continue
            }
            throw Self.apiError(response, url: url)
        }
    }

    /// Seconds to wait before retrying, or nil when the response must not be retried: 429 always
    /// (the server did not process the request), 5xx only with a valid Retry-After and for idempotent verbs.
    /// The delay is always finite and at most ``RetryAfter/maximum`` whatever the header says (1 s for a
    /// 429 whose Retry-After is missing or not a number or date).
    static func retryDelay(_ response: HTTPResponse, method: String, now: Double = RetryAfter.currentTime()) -> Double? {
        let retryAfter = response.header("retry-after").flatMap { RetryAfter.seconds($0, now: now) }
        switch response.status {
        case 429:
            return retryAfter ?? 1
        case 500...599 where isIdempotent(method):
            return retryAfter
        default:
            return nil
        }
    }

    /// The typed error of a failed response: the server's Status, or one synthesized from code and body.
    static func apiError(_ response: HTTPResponse, url: String) -> KubeClientError {
        if let status = try? JSONDecoder().decode(Status.self, from: response.body),
           status.kind == "Status" || status.reason != nil || status.code != nil {
            return .api(status, httpCode: response.status, url: url)
        }
        var text = String(decoding: response.body.prefix(1024), as: UTF8.self).trimmingWhitespace()
        if text.isEmpty { text = "HTTP \(response.status)" }
        let status = Status(status: "Failure", message: text, reason: reason(forCode: response.status), code: response.status)
        return .api(status, httpCode: response.status, url: url)
    }

    /// The metav1.StatusReason kube-apiserver would use for an HTTP code (as client-go does for bodies without a Status).
    static func reason(forCode code: Int) -> String {
        switch code {
        case 400: "BadRequest"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "NotFound"
        case 405: "MethodNotAllowed"
        case 406: "NotAcceptable"
        case 409: "Conflict"
        case 410: "Expired"
        case 413: "RequestEntityTooLarge"
        case 415: "UnsupportedMediaType"
        case 422: "Invalid"
        case 429: "TooManyRequests"
        case 500: "InternalError"
        case 503: "ServiceUnavailable"
        case 504: "Timeout"
        default: "Unknown"
        }
    }

    static func load(_ source: PEMSource?, field: String) throws(KubeClientError) -> [UInt8]? {
        switch source {
        case nil: return nil
        case .data(let bytes): return bytes
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw .configuration(file: nil, field: field, message: "file '\(path)' not found or unreadable")
            }
            return [UInt8](data)
        }
    }

    /// Splits `https://host:port/rest` into host, port and the rest.
    static func splitAuthority(_ url: String) -> (String, Int, String)? {
        guard let schemeEnd = url.firstRange(of: "://") else { return nil }
        let afterScheme = url[schemeEnd.upperBound...]
        let authorityEnd = afterScheme.firstIndex(of: "/") ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        let rest = String(afterScheme[authorityEnd...])
        let defaultPort = url.hasPrefix("https") ? 443 : 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            let host = String(authority[...close])
            let after = authority[authority.index(after: close)...]
            let port = after.hasPrefix(":") ? Int(after.dropFirst()) ?? defaultPort : defaultPort
            return (host, port, rest)
        }
        if let colon = authority.lastIndex(of: ":") {
            return (String(authority[..<colon]), Int(authority[authority.index(after: colon)...]) ?? defaultPort, rest)
        }
        return (String(authority), defaultPort, rest)
    }
}
