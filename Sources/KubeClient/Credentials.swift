#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import JSON
import NativeThreads
import KubeCore
import Synchronization

/// Credentials attached to one request.
struct RequestCredentials: Sendable {
    /// The full `Authorization` header value, if any.
    var authorization: String?
    /// A client certificate/key pair provided by an exec plugin (overrides the configured one).
    var certificatePEM: [UInt8]?
    var keyPEM: [UInt8]?
}

/// Produces the credentials of each request: static token, token file (re-read when it changes),
/// basic auth, or an exec plugin (cached until its expiry, re-run after a 401).
final class Authenticator: Sendable {
    private let configuration: ClientConfiguration
    private let tokenFileCache = Mutex<TokenFileCache?>(nil)
    private let exec: ExecCredentialProvider?

    /// The last token read from the token file, and the file it came from (nil after a 401: read again).
    struct TokenFileCache {
        struct Identity: Equatable {
            var device: UInt64
            var inode: UInt64
            var seconds: Int
            var nanoseconds: Int
            var size: Int64
        }
        var identity: Identity?
        var token: String
    }

    init(configuration: ClientConfiguration) {
        self.configuration = configuration
        exec = configuration.exec.map { ExecCredentialProvider(exec: $0, configuration: configuration) }
    }

    /// True when a 401 may be cured by fetching credentials again.
    var canRefresh: Bool { exec != nil || (configuration.token == nil && configuration.tokenFile != nil) }

    func credentials() async throws(KubeClientError) -> RequestCredentials {
        if let token = configuration.token, !token.isEmpty {
            return RequestCredentials(authorization: "Bearer \(token)")
        }
        if let path = configuration.tokenFile {
            return RequestCredentials(authorization: "Bearer \(try readTokenFile(path))")
        }
        if let exec {
            let credential = try await exec.credential()
            return RequestCredentials(authorization: credential.token.map { "Bearer \($0)" },
                                      certificatePEM: credential.certificatePEM, keyPEM: credential.keyPEM)
        }
        if let user = configuration.username, let password = configuration.password {
            let encoded = Data("\(user):\(password)".utf8).base64EncodedString()
            return RequestCredentials(authorization: "Basic \(encoded)")
        }
        return RequestCredentials()
    }

    /// Forgets cached credentials after the server refused them (401): the token file is read again on
    /// the next request (its last good token is kept only for while the file cannot be read).
    func invalidate() async {
        tokenFileCache.withLock { $0?.identity = nil }
        await exec?.invalidate()
    }

    /// Reads the token file, reusing the cached token while the file (inode, size, mtime) is unchanged,
    /// so a rotated token (kubelet swaps a symlink or rewrites the file) is picked up on the next request.
    /// While the file is missing, unreadable or empty (the kubelet's `..data` symlink swap of a projected
    /// token leaves it absent for an instant) the last good token is used; without one, that is an error.
    func readTokenFile(_ path: String) throws(KubeClientError) -> String {
        let lastGood = tokenFileCache.withLock { $0?.token }
        func unusable(_ reason: String) throws(KubeClientError) -> String {
            if let lastGood { return lastGood }
            throw .credentials(source: "token file '\(path)'", message: reason)
        }
        var info = stat()
        guard stat(path, &info) == 0 else { return try unusable(String(cString: strerror(errno))) }
        let identity = TokenFileCache.Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino),
                                               seconds: Int(info.st_mtim.tv_sec), nanoseconds: Int(info.st_mtim.tv_nsec),
                                               size: Int64(info.st_size))
        let cached = tokenFileCache.withLock { cache -> String? in
            guard let cache, cache.identity == identity else { return nil }
            return cache.token
        }
        if let cached { return cached }
        guard let data = FileManager.default.contents(atPath: path) else { return try unusable("cannot be read") }
        let token = String(decoding: data, as: UTF8.self).trimmingWhitespace()
        guard !token.isEmpty else { return try unusable("the file is empty") }
        tokenFileCache.withLock { $0 = TokenFileCache(identity: identity, token: token) }
        return token
    }
}

/// What an exec plugin returned (`ExecCredential.status`).
struct ExecCredential: Sendable {
    var token: String?
    var certificatePEM: [UInt8]?
    var keyPEM: [UInt8]?
    var expiration: Date?
}

/// Runs an exec credential plugin at most once at a time and caches its answer until it expires.
actor ExecCredentialProvider {
    let exec: ExecConfiguration
    let configuration: ClientConfiguration
    private var cached: ExecCredential?
    private var running: Task<Result<ExecCredential, KubeClientError>, Never>?
    /// How many times the plugin ran (for tests and diagnostics).
    private(set) var runs = 0

    init(exec: ExecConfiguration, configuration: ClientConfiguration) {
        self.exec = exec
        self.configuration = configuration
    }

    func invalidate() { cached = nil }

    func credential() async throws(KubeClientError) -> ExecCredential {
        if let cached {
            // Like client-go: a credential is used until its expiry has passed.
            if let expiration = cached.expiration, expiration.timeIntervalSinceNow <= 0 {
                self.cached = nil
            } else {
                return cached
            }
        }
        if let running { return try await running.value.get() }
        runs += 1
        let exec = self.exec
        let info = Self.execInfo(exec: exec, configuration: configuration)
        let environment = configuration.execEnvironment ?? ProcessInfo.processInfo.environment
        let task = Task { await ExecRunner.run(exec: exec, execInfo: info, environment: environment) }
        running = task
        let result = await task.value
        running = nil
        let credential = try result.get()
        cached = credential
        return credential
    }

    static func execInfo(exec: ExecConfiguration, configuration: ClientConfiguration) -> String {
        var spec: [String: JSONValue] = ["interactive": false]
        if exec.provideClusterInfo {
            var cluster: [String: JSONValue] = ["server": .string(configuration.server)]
            if let name = configuration.tlsServerName { cluster["tls-server-name"] = .string(name) }
            if configuration.insecureSkipTLSVerify { cluster["insecure-skip-tls-verify"] = true }
            if case .data(let pem)? = configuration.certificateAuthority {
                cluster["certificate-authority-data"] = .string(Data(pem).base64EncodedString())
            } else if case .file(let path)? = configuration.certificateAuthority, let data = FileManager.default.contents(atPath: path) {
                cluster["certificate-authority-data"] = .string(data.base64EncodedString())
            }
            if let proxy = configuration.proxyURL { cluster["proxy-url"] = .string(proxy) }
            spec["cluster"] = .object(cluster)
        }
        let info: JSONValue = ["apiVersion": .string(exec.apiVersion), "kind": "ExecCredential", "spec": .object(spec)]
        return info.jsonString()
    }
}

/// Runs the plugin process on a dedicated thread (never on the cooperative pool), with
/// `posix_spawn` and pipes (no corelibs Foundation `Process`: see ``NativeThread``).
enum ExecRunner {
    static let timeoutSeconds = 60.0

    static func run(exec: ExecConfiguration, execInfo: String, environment: [String: String]) async -> Result<ExecCredential, KubeClientError> {
        await withCheckedContinuation { continuation in
            let started = NativeThread.start(name: "exec-credential") {
                continuation.resume(returning: runBlocking(exec: exec, execInfo: execInfo, environment: environment))
            }
            if !started {
                continuation.resume(returning: .failure(.credentials(
                    source: "exec plugin '\(exec.command)'", message: "failed to start a thread to run it")))
            }
        }
    }

    static func runBlocking(exec: ExecConfiguration, execInfo: String, environment: [String: String]) -> Result<ExecCredential, KubeClientError> {
        let source = "exec plugin '\(exec.command)'"
        var env = environment
        for (name, value) in exec.env { env[name] = value }
        env["KUBERNETES_EXEC_INFO"] = execInfo
        let path: String
        let arguments: [String]
        if exec.command.contains("/") {
            path = exec.command
            arguments = [exec.command] + exec.args
        } else {
            // Look the command up in PATH like a shell would.
            path = "/usr/bin/env"
            arguments = ["/usr/bin/env", exec.command] + exec.args
        }
        let child: SpawnedChild
        switch SpawnedChild.spawn(path: path, arguments: arguments, environment: env.map { "\($0.key)=\($0.value)" }) {
        case .success(let spawned): child = spawned
        case .failure(let reason):
            var message = "failed to start: \(reason)"
            if let hint = exec.installHint { message += " (\(hint))" }
            return .failure(.credentials(source: source, message: message))
        }
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeoutSeconds * 1000))
        let (output, errorOutput, outputTimedOut) = child.collect(until: deadline)
        let (status, exitTimedOut) = child.wait(until: deadline)
        if outputTimedOut || exitTimedOut {
            return .failure(.credentials(source: source, message: "did not finish within \(Int(timeoutSeconds)) s"))
        }
        guard status == 0 else {
            let text = String(decoding: errorOutput.prefix(2048), as: UTF8.self).trimmingWhitespace()
            return .failure(.credentials(source: source, message: "exited with status \(status)" + (text.isEmpty ? "" : ": \(text)")))
        }
        return parse(Data(output), exec: exec)
    }

    static func parse(_ output: Data, exec: ExecConfiguration) -> Result<ExecCredential, KubeClientError> {
        let source = "exec plugin '\(exec.command)'"
        let json: JSONValue
        do {
            json = try JSONValue.parse(output)
        } catch {
            return .failure(.credentials(source: source, message: "output is not an ExecCredential: \(error)"))
        }
        guard json["kind"]?.stringValue == "ExecCredential" else {
            return .failure(.credentials(source: source, message: "output kind is '\(json["kind"]?.stringValue ?? "")', expected ExecCredential"))
        }
        if let version = json["apiVersion"]?.stringValue, version != exec.apiVersion {
            return .failure(.credentials(source: source, message: "output apiVersion '\(version)' does not match the configured '\(exec.apiVersion)'"))
        }
        guard let status = json["status"], status.objectValue != nil else {
            return .failure(.credentials(source: source, message: "output has no status"))
        }
        var credential = ExecCredential()
        credential.token = status["token"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        if let cert = status["clientCertificateData"]?.stringValue, let key = status["clientKeyData"]?.stringValue {
            credential.certificatePEM = Array(cert.utf8)
            credential.keyPEM = Array(key.utf8)
        }
        if credential.token == nil && credential.certificatePEM == nil {
            return .failure(.credentials(source: source, message: "status has neither token nor clientCertificateData/clientKeyData"))
        }
        if let stamp = status["expirationTimestamp"]?.stringValue {
            guard let date = KubeTime.parse(stamp) else {
                return .failure(.credentials(source: source, message: "status.expirationTimestamp '\(stamp)' is not RFC 3339"))
            }
            credential.expiration = date
        }
        return .success(credential)
    }
}

/// Client-side rate limiting: a token bucket of `burst` tokens refilled at `qps` per second.
/// Callers reserve a token and sleep until it is theirs, so waiting is fair and never spins.
final class RateLimiter: Sendable {
    private struct State {
        var tokens: Double
        var last: ContinuousClock.Instant
    }
    let qps: Double
    let burst: Double
    private let state: Mutex<State>

    init(qps: Double, burst: Int) {
        self.qps = qps
        self.burst = Double(max(1, burst))
        state = Mutex(State(tokens: Double(max(1, burst)), last: .now))
    }

    /// Waits until a request may be sent.
    func acquire() async throws(KubeClientError) {
        let wait = state.withLock { state -> Double in
            let now = ContinuousClock.now
            let elapsed = now - state.last
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            state.tokens = min(burst, state.tokens + seconds * qps)
            state.last = now
            state.tokens -= 1
            return state.tokens >= 0 ? 0 : -state.tokens / qps
        }
        if wait > 0 {
            do {
                try await Task.sleep(for: .seconds(wait))
            } catch {
                throw .cancelled(url: "")
            }
        }
    }
}

/// A child process with its standard output and error on pipes and its input on /dev/null.
struct SpawnedChild {
    let pid: pid_t
    let stdoutFD: Int32
    let stderrFD: Int32

    /// Starts `path` with `arguments` (argv[0] included) and exactly `environment` ("NAME=value").
    /// The failure is the reason, e.g. "No such file or directory".
    static func spawn(path: String, arguments: [String], environment: [String]) -> Result<SpawnedChild, SpawnFailure> {
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        guard pipe(&outPipe) == 0 else { return .failure(SpawnFailure(errno: errno)) }
        guard pipe(&errPipe) == 0 else {
            let e = errno
            close(outPipe[0]); close(outPipe[1])
            return .failure(SpawnFailure(errno: e))
        }
        // Not inherited by the child (it gets its own copies as 1 and 2) nor by other spawns.
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        let argv = arguments.map { strdup($0) }
        let envp = environment.map { strdup($0) }
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let argvList = argv + [nil]
        let envList = envp + [nil]
        let rc = argvList.withUnsafeBufferPointer { argvBuffer in
            envList.withUnsafeBufferPointer { envBuffer in
                guard let argvBase = argvBuffer.baseAddress, let envBase = envBuffer.baseAddress else { return EINVAL }
                return posix_spawn(&pid, path, &actions, nil, argvBase, envBase)
            }
        }
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else {
            close(outPipe[0]); close(errPipe[0])
            return .failure(SpawnFailure(errno: rc))
        }
        return .success(SpawnedChild(pid: pid, stdoutFD: outPipe[0], stderrFD: errPipe[0]))
    }

    /// Reads standard output and error until both close, or kills the child (SIGKILL) at
    /// `deadline`. Closes both pipes.
    func collect(until deadline: ContinuousClock.Instant) -> (output: [UInt8], error: [UInt8], timedOut: Bool) {
        var output: [UInt8] = []
        var errorOutput: [UInt8] = []
        var open: [Int32] = [stdoutFD, stderrFD]
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 16384)
        while !open.isEmpty {
            let left = deadline - ContinuousClock.now
            if left <= .zero {
                timedOut = true
                kill(pid, SIGKILL)
                break
            }
            let leftMs = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let rc = poll(&fds, nfds_t(fds.count), min(leftMs, 1000))
            if rc < 0 {
                if errno == EINTR { continue }
                break
            }
            for pfd in fds where pfd.revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(pfd.fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    if pfd.fd == stdoutFD { output += buffer[0..<n] } else { errorOutput += buffer[0..<n] }
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    open.removeAll { $0 == pfd.fd }
                }
            }
        }
        close(stdoutFD)
        close(stderrFD)
        return (output, errorOutput, timedOut)
    }

    /// Waits for the child to exit, killing it (SIGKILL) at `deadline`: its exit code, or 128 +
    /// the signal that ended it, and whether the deadline passed.
    func wait(until deadline: ContinuousClock.Instant) -> (status: Int32, timedOut: Bool) {
        var status: Int32 = 0
        var timedOut = false
        while true {
            let rc = waitpid(pid, &status, WNOHANG)
            if rc == pid { break }
            if rc < 0 {
                if errno == EINTR { continue }
                return (-1, timedOut)
            }
            if !timedOut && ContinuousClock.now >= deadline {
                timedOut = true
                kill(pid, SIGKILL)
            }
            usleep(timedOut ? 1000 : 5000)
        }
        let signal = status & 0x7f
        return (signal == 0 ? (status >> 8) & 0xff : 128 + signal, timedOut)
    }
}

/// Why a child process could not be started.
struct SpawnFailure: Error, CustomStringConvertible {
    var errno: Int32
    var description: String { String(cString: strerror(errno)) }
}
