#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import JSON

/// What a child process did: exit status, stdout, stderr.
public struct ExecOutcome: Sendable, Hashable {
    /// The exit status, or `128 + signal` when it was killed by a signal.
    public var status: Int32
    /// Whether a signal ended it.
    public var signaled: Bool
    /// Everything it wrote to stdout.
    public var stdout: [UInt8]
    /// Everything it wrote to stderr.
    public var stderr: [UInt8]
}

/// Runs CNI plugins the way a runtime does (libcni's `invoke`): find the executable on
/// `CNI_PATH`, run it with the configuration on stdin and the `CNI_*` environment, decode
/// the result or the error object it prints.
///
/// Synchronous and blocking; call it from a plugin's main thread or a dedicated thread,
/// never from Swift's cooperative pool.
///
/// ```swift
/// let path = try Delegate.find("macvlan", in: ["/usr/lib/cni"])
/// let out = try Delegate.invoke(path: path, command: .add, environment: env, stdin: conf)
/// ```
public enum Delegate {
    /// The first executable file named `type` in `paths`. `type` with a `/` is refused
    /// (code 7); not found is code 7 and lists the directories searched.
    public static func find(_ type: String, in paths: [String]) throws(CNIError) -> String {
        guard !type.isEmpty, !type.contains("/"), type != ".", type != ".." else {
            throw CNIError(.invalidConfig, "invalid plugin type '\(type)': it must be a plain executable name")
        }
        for dir in paths where !dir.isEmpty {
            let candidate = dir.hasSuffix("/") ? dir + type : dir + "/" + type
            var st = stat()
            if stat(candidate, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        throw CNIError(.invalidConfig,
                       "failed to find plugin '\(type)' in CNI_PATH [\(paths.joined(separator: ":"))]; install it there (the reference plugins ship it) or fix the type")
    }

    /// Runs `path` with `command`, returning its stdout on success. On failure the plugin's
    /// error object is relayed (its code and message, prefixed with the plugin name and verb);
    /// without one the failure is code 999 with stderr in the details.
    public static func invoke(path: String, command: CNICommand, environment: [String: String],
                              stdin: [UInt8]) throws(CNIError) -> [UInt8] {
        var env = environment
        env["CNI_COMMAND"] = command.rawValue
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let outcome: ExecOutcome
        do {
            outcome = try run(path: path, environment: env, stdin: stdin)
        } catch {
            throw CNIError(.ioFailure, "failed to run plugin '\(path)': \(error.description)")
        }
        if outcome.status == 0 && !outcome.signaled { return outcome.stdout }
        let stderrText = String(decoding: outcome.stderr.prefix(4096), as: UTF8.self)
        if !outcome.signaled, let json = try? JSONValue.parse(outcome.stdout), let e = CNIError(json: json) {
            var details = e.details
            if details.isEmpty { details = stderrText }
            throw CNIError(e.code, "\(name) \(command.rawValue) failed: \(e.message)", details: details)
        }
        let how = outcome.signaled ? "was killed by signal \(outcome.status - 128)" : "exited with status \(outcome.status)"
        let out = String(decoding: outcome.stdout.prefix(2048), as: UTF8.self)
        throw CNIError(.internalError, "\(name) \(command.rawValue) failed: it \(how) without a CNI error object",
                       details: [out, stderrText].filter { !$0.isEmpty }.joined(separator: "\n"))
    }

    /// Asks the plugin which spec versions it supports (`VERSION`). Plugins that predate
    /// `supportedVersions` are taken to support 0.1.0 through 0.2.0 only.
    public static func supportedVersions(path: String, environment: [String: String]) throws(CNIError) -> [CNIVersion] {
        let stdin = Array(#"{"cniVersion":"\#(CNIVersion.latest)"}"#.utf8)
        let out = try invoke(path: path, command: .version, environment: environment, stdin: stdin)
        guard let json = try? JSONValue.parse(out), let list = json["supportedVersions"]?.arrayValue else {
            throw CNIError(.decodingFailure, "failed to decode VERSION output of plugin '\(path)'",
                           details: String(decoding: out.prefix(1024), as: UTF8.self))
        }
        return list.compactMap { $0.stringValue.flatMap(CNIVersion.init) }
    }

    /// A failure to start or talk to a child process.
    public struct SpawnError: Error, Sendable, CustomStringConvertible {
        /// The step that failed ("create pipe", "posix_spawn", "poll", "waitpid").
        public var step: String
        /// The `errno`.
        public var errno: Int32
        public var description: String {
            let text = strerror(errno).map { String(cString: $0) } ?? "errno \(errno)"
            return "failed to \(step): \(text)"
        }
    }

    /// Runs an executable with exactly `environment`, feeding `stdin` and capturing stdout and
    /// stderr (poll loop, so large outputs cannot deadlock).
    ///
    /// A child may exit without reading its stdin (plugins answer VERSION without reading it),
    /// so writing to it can raise `SIGPIPE`: the first call sets `SIGPIPE` to ignored for the
    /// process if it was at its default (as Go's runtime does), and the write sees `EPIPE`.
    /// Children start with default signal dispositions either way.
    public static func run(path: String, arguments: [String] = [], environment: [String: String],
                           stdin: [UInt8]) throws(SpawnError) -> ExecOutcome {
        ignoreSIGPIPE()
        var inPipe: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard systemPipe2(&inPipe, O_CLOEXEC) == 0 else { throw SpawnError(step: "create pipe", errno: errno) }
        guard systemPipe2(&outPipe, O_CLOEXEC) == 0 else {
            close(inPipe[0]); close(inPipe[1])
            throw SpawnError(step: "create pipe", errno: errno)
        }
        guard systemPipe2(&errPipe, O_CLOEXEC) == 0 else {
            for fd in inPipe + outPipe { close(fd) }
            throw SpawnError(step: "create pipe", errno: errno)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        // Children start with default signal handling and an empty mask, whatever ours are.
        var all = sigset_t(), none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attr, argv, envp)
        close(inPipe[0]); close(outPipe[1]); close(errPipe[1])
        if rc != 0 {
            close(inPipe[1]); close(outPipe[0]); close(errPipe[0])
            throw SpawnError(step: "posix_spawn '\(path)'", errno: rc)
        }

        var stdout: [UInt8] = [], stderr: [UInt8] = []
        var inFD = inPipe[1], outFD = outPipe[0], errFD = errPipe[0]
        if stdin.isEmpty { close(inFD); inFD = -1 } else { _ = fcntl(inFD, F_SETFL, O_NONBLOCK) }
        var written = 0
        var buffer = [UInt8](repeating: 0, count: 65536)
        var failure: SpawnError?
        while outFD >= 0 || errFD >= 0 || inFD >= 0 {
            var fds: [pollfd] = []
            if inFD >= 0 { fds.append(pollfd(fd: inFD, events: Int16(POLLOUT), revents: 0)) }
            if outFD >= 0 { fds.append(pollfd(fd: outFD, events: Int16(POLLIN), revents: 0)) }
            if errFD >= 0 { fds.append(pollfd(fd: errFD, events: Int16(POLLIN), revents: 0)) }
            let n = poll(&fds, nfds_t(fds.count), -1)
            if n < 0 {
                if errno == EINTR { continue }
                failure = SpawnError(step: "poll", errno: errno)
                break
            }
            for p in fds where p.revents != 0 {
                if p.fd == inFD {
                    let w = stdin.withUnsafeBytes { Glibc.write(inFD, $0.baseAddress! + written, $0.count - written) }
                    if w > 0 { written += w }
                    if written >= stdin.count || (w < 0 && errno != EAGAIN && errno != EINTR) || (p.revents & Int16(POLLERR | POLLHUP)) != 0 && w <= 0 {
                        close(inFD); inFD = -1
                    }
                } else {
                    let r = buffer.withUnsafeMutableBytes { Glibc.read(p.fd, $0.baseAddress, $0.count) }
                    if r > 0 {
                        if p.fd == outFD { stdout.append(contentsOf: buffer[0..<r]) } else { stderr.append(contentsOf: buffer[0..<r]) }
                    } else if r == 0 || (errno != EINTR && errno != EAGAIN) {
                        close(p.fd)
                        if p.fd == outFD { outFD = -1 } else { errFD = -1 }
                    }
                }
            }
        }
        for fd in [inFD, outFD, errFD] where fd >= 0 { close(fd) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno == EINTR { continue }
            throw SpawnError(step: "waitpid", errno: errno)
        }
        if let failure { throw failure }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift cannot see.
        let termSignal = status & 0x7F
        if termSignal == 0 {
            return ExecOutcome(status: (status >> 8) & 0xFF, signaled: false, stdout: stdout, stderr: stderr)
        }
        return ExecOutcome(status: 128 + termSignal, signaled: true, stdout: stdout, stderr: stderr)
    }
}

private func ignoreSIGPIPE() {
    var current = sigaction()
    if sigaction(SIGPIPE, nil, &current) == 0, current.__sigaction_handler.sa_handler == nil {
        signal(SIGPIPE, SIG_IGN)
    }
}

/// `pipe2(2)`: Glibc declares it only under `_GNU_SOURCE`, which Swift's Glibc module does not
/// set. Creating both ends close-on-exec atomically matters when several threads spawn at once.
@_silgen_name("pipe2")
private func systemPipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32
