#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import JSON

/// A delegate invocation prepared by a handler and run by its caller: either as a child
/// (``Delegate/invoke(_:)``, in tests and wherever the process has more to do) or in place of
/// the plugin process (``Delegate/execInPlace(_:)``).
public struct DelegateCall: Sendable {
    /// The delegate executable.
    public var path: String
    /// The verb it gets (`CNI_COMMAND`).
    public var command: CNICommand
    /// Its configuration (stdin).
    public var stdin: [UInt8]
    /// Its environment (`CNI_COMMAND` is set from ``command``).
    public var environment: InheritedEnvironment
    /// Runs when the delegate could not be started at all (not when it ran and failed), to put
    /// back state the handler gave up in anticipation of the call.
    public var restore: (@Sendable () -> Void)?

    /// Creates a call.
    public init(path: String, command: CNICommand, stdin: [UInt8], environment: [String: String],
                restore: (@Sendable () -> Void)? = nil) {
        self.init(path: path, command: command, stdin: stdin, environment: .variables(environment), restore: restore)
    }

    /// Creates a call that hands on `environment`.
    public init(path: String, command: CNICommand, stdin: [UInt8], environment: InheritedEnvironment,
                restore: (@Sendable () -> Void)? = nil) {
        self.path = path
        self.command = command
        self.stdin = stdin
        self.environment = environment
        self.restore = restore
    }
}

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
        if let path = try lookup(type, in: paths) { return path }
        throw notFound(type, in: paths)
    }

    /// Like ``find(_:in:)``, but `nil` when no directory has it (an invalid `type` still throws).
    public static func lookup(_ type: String, in paths: [String]) throws(CNIError) -> String? {
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
        return nil
    }

    /// The error of ``find(_:in:)`` when `type` is in none of `paths` (code 7).
    public static func notFound(_ type: String, in paths: [String]) -> CNIError {
        CNIError(.invalidConfig,
                 "failed to find plugin '\(type)' in CNI_PATH [\(paths.joined(separator: ":"))]; install it there (the reference plugins ship it) or fix the type")
    }

    /// Runs `path` with `command`, returning its stdout on success. On failure the plugin's
    /// error object is relayed (its code and message, prefixed with the plugin name and verb);
    /// without one the failure is code 999 with stderr in the details.
    ///
    /// `whileRunning` runs once the delegate has started, while it works: the caller's own
    /// bookkeeping then costs no time on the runtime's clock. It does not run when the
    /// delegate could not be started.
    public static func invoke(path: String, command: CNICommand, environment: [String: String],
                              stdin: [UInt8], whileRunning: () -> Void = {}) throws(CNIError) -> [UInt8] {
        try invoke(path: path, command: command, environment: .variables(environment), stdin: stdin, whileRunning: whileRunning)
    }

    /// Runs `path` with `command` in `environment`; see ``invoke(path:command:environment:stdin:whileRunning:)``.
    public static func invoke(path: String, command: CNICommand, environment: InheritedEnvironment,
                              stdin: [UInt8], whileRunning: () -> Void = {}) throws(CNIError) -> [UInt8] {
        let outcome: ExecOutcome
        do {
            outcome = try run(path: path, arguments: [], envp: environment.block(command: command), stdin: stdin,
                              whileRunning: whileRunning)
        } catch {
            throw CNIError(.ioFailure, "failed to run plugin '\(path)': \(error.description)")
        }
        return try answer(of: outcome, path: path, command: command)
    }

    /// The stdout of a successful run, or the error it reported.
    static func answer(of outcome: ExecOutcome, path: String, command: CNICommand) throws(CNIError) -> [UInt8] {
        let name = path.split(separator: "/").last.map(String.init) ?? path
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
        try supportedVersions(path: path, environment: .variables(environment))
    }

    /// Asks the plugin which spec versions it supports, handing on `environment`.
    public static func supportedVersions(path: String, environment: InheritedEnvironment) throws(CNIError) -> [CNIVersion] {
        let stdin = Array(#"{"cniVersion":"\#(CNIVersion.latest)"}"#.utf8)
        let out = try invoke(path: path, command: .version, environment: environment, stdin: stdin)
        guard let json = try? JSONValue.parse(out), let list = json["supportedVersions"]?.arrayValue else {
            throw CNIError(.decodingFailure, "failed to decode VERSION output of plugin '\(path)'",
                           details: String(decoding: out.prefix(1024), as: UTF8.self))
        }
        return list.compactMap { $0.stringValue.flatMap(CNIVersion.init) }
    }

    /// Runs `call` as a child, like ``invoke(path:command:environment:stdin:)``. When the
    /// delegate cannot be started at all, `call.restore` runs before the error is thrown.
    public static func invoke(_ call: DelegateCall) throws(CNIError) -> [UInt8] {
        let outcome: ExecOutcome
        do {
            outcome = try run(path: call.path, arguments: [], envp: call.environment.block(command: call.command), stdin: call.stdin)
        } catch {
            call.restore?()
            throw CNIError(.ioFailure, "failed to run plugin '\(call.path)': \(error.description)")
        }
        return try answer(of: outcome, path: call.path, command: call.command)
    }

    /// Replaces the calling process with the delegate of `call` (`execve`): its stdin becomes an
    /// in-memory file holding `call.stdin`; stdout, stderr, the environment (with `CNI_COMMAND`
    /// set to `call.command`) and the process ID stay the caller's, so the delegate's exit status
    /// and output become this process's answer. Returns only when the delegate could not be
    /// started, after running `call.restore`, with the error to report.
    ///
    /// Only for a process that has nothing left to do after the delegate (the plugin executable's
    /// DEL); never call it from tests or a process with other threads' work in flight.
    public static func execInPlace(_ call: DelegateCall) -> CNIError {
        func failed(_ step: String, _ code: Int32) -> CNIError {
            call.restore?()
            let text = strerror(code).map { String(cString: $0) } ?? "errno \(code)"
            return CNIError(.ioFailure, "failed to run plugin '\(call.path)': failed to \(step): \(text)")
        }
        let inFD: Int32
        do {
            inFD = try memoryFile("cni-stdin")
            try writeAll(inFD, call.stdin)
        } catch {
            return failed(error.step, error.errno)
        }
        lseek(inFD, 0, SEEK_SET)
        if dup2(inFD, 0) < 0 { return failed("dup2 stdin", errno) }
        close(inFD)
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(call.path), nil]
        let envp = call.environment.block(command: call.command)
        execve(call.path, argv, envp)
        let code = errno
        for p in argv { free(p) }
        for p in envp { free(p) }
        return failed("execve", code)
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
    /// stderr.
    ///
    /// stdin, stdout and stderr are anonymous in-memory files (`memfd_create`), not pipes: the
    /// child never blocks on a full pipe, nobody gets `SIGPIPE` when a plugin exits without
    /// reading its input (plugins answer VERSION that way), and the caller sleeps exactly once,
    /// in `waitpid`, which matters on a loaded node where every wake-up waits for a CPU.
    /// Output left by grandchildren after the child exits is not waited for.
    /// `whileRunning` is called after the child started, before it is waited for.
    public static func run(path: String, arguments: [String] = [], environment: [String: String],
                           stdin: [UInt8], whileRunning: () -> Void = {}) throws(SpawnError) -> ExecOutcome {
        try run(path: path, arguments: arguments, envp: environmentBlock(environment), stdin: stdin, whileRunning: whileRunning)
    }

    /// ``run(path:arguments:environment:stdin:whileRunning:)`` with a prepared environment block,
    /// which it frees.
    static func run(path: String, arguments: [String], envp: [UnsafeMutablePointer<CChar>?],
                    stdin: [UInt8], whileRunning: () -> Void = {}) throws(SpawnError) -> ExecOutcome {
        defer { for p in envp { free(p) } }
        let inFD = try memoryFile("cni-stdin")
        defer { close(inFD) }
        let outFD = try memoryFile("cni-stdout")
        defer { close(outFD) }
        let errFD = try memoryFile("cni-stderr")
        defer { close(errFD) }
        try writeAll(inFD, stdin)
        lseek(inFD, 0, SEEK_SET)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inFD, 0)
        posix_spawn_file_actions_adddup2(&actions, outFD, 1)
        posix_spawn_file_actions_adddup2(&actions, errFD, 2)

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
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attr, argv, envp)
        if rc != 0 { throw SpawnError(step: "posix_spawn '\(path)'", errno: rc) }
        whileRunning()
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno == EINTR { continue }
            throw SpawnError(step: "waitpid", errno: errno)
        }
        let stdout = try readAll(outFD)
        let stderr = try readAll(errFD)
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift cannot see.
        let termSignal = status & 0x7F
        if termSignal == 0 {
            return ExecOutcome(status: (status >> 8) & 0xFF, signaled: false, stdout: stdout, stderr: stderr)
        }
        return ExecOutcome(status: 128 + termSignal, signaled: true, stdout: stdout, stderr: stderr)
    }

    /// `KEY=VALUE` C strings (malloc'd, `nil`-terminated) built by copying UTF-8 bytes; no
    /// string interpolation per variable.
    static func environmentBlock(_ environment: [String: String]) -> [UnsafeMutablePointer<CChar>?] {
        var block: [UnsafeMutablePointer<CChar>?] = []
        block.reserveCapacity(environment.count + 1)
        for (key, value) in environment {
            var key = key, value = value
            key.withUTF8 { k in
                value.withUTF8 { v in
                    guard let p = malloc(k.count + v.count + 2)?.assumingMemoryBound(to: UInt8.self) else { return }
                    if let base = k.baseAddress { p.update(from: base, count: k.count) }
                    p[k.count] = UInt8(ascii: "=")
                    if let base = v.baseAddress { (p + k.count + 1).update(from: base, count: v.count) }
                    p[k.count + 1 + v.count] = 0
                    block.append(UnsafeMutableRawPointer(p).assumingMemoryBound(to: CChar.self))
                }
            }
        }
        block.append(nil)
        return block
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(SpawnError) {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SpawnError(step: "write stdin", errno: errno)
            }
            written += n
        }
    }

    private static func memoryFile(_ name: String) throws(SpawnError) -> Int32 {
        var fd = systemMemfdCreate(name, 1 /* MFD_CLOEXEC */)
        if fd < 0 { throw SpawnError(step: "memfd_create", errno: errno) }
        // Keep clear of 0–2 so that dup2 onto them always happens (and clears close-on-exec).
        if fd <= 2 {
            let high = fcntl(fd, F_DUPFD_CLOEXEC, 3)
            close(fd)
            if high < 0 { throw SpawnError(step: "fcntl F_DUPFD_CLOEXEC", errno: errno) }
            fd = high
        }
        return fd
    }

    /// Everything in the memory file `fd` (its size is known: one exactly sized read, no
    /// zero-filled scratch buffer touching fresh pages).
    private static func readAll(_ fd: Int32) throws(SpawnError) -> [UInt8] {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SpawnError(step: "stat output", errno: errno) }
        var out: [UInt8] = []
        var capacity = max(Int(st.st_size), 0) + 1  // + 1: see the end of the file in the same pass
        while true {
            let start = out.count
            var failure: Int32 = 0
            let chunk = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                var n = 0
                while true {
                    n = pread(fd, buffer.baseAddress, buffer.count, off_t(start))
                    if n >= 0 || errno != EINTR { break }
                }
                if n < 0 { failure = errno; n = 0 }
                count = n
            }
            if failure != 0 { throw SpawnError(step: "read output", errno: failure) }
            if chunk.isEmpty { return out }
            if start == 0 && chunk.count < capacity { return chunk }  // a short read of a file is its end
            out.append(contentsOf: chunk)
            capacity = 65536
        }
    }
}

/// `memfd_create(2)`: Glibc declares it only under `_GNU_SOURCE`, which Swift's Glibc module does not set.
@_silgen_name("memfd_create")
private func systemMemfdCreate(_ name: UnsafePointer<CChar>, _ flags: UInt32) -> Int32
