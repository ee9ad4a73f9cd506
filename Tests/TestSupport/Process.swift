import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A test helper or precondition that failed; `description` says what, for the test report.
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// What a finished child process left: its exit status (or terminating signal) and its output.
public struct ProcessOutput: Sendable, CustomStringConvertible {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// Whether the child was still running at the deadline and was terminated.
    public var timedOut: Bool
    /// Status and both outputs, for a failing expectation's message.
    public var description: String { "exit \(status)\(timedOut ? " (timed out)" : "")\nstdout:\n\(stdout)\nstderr:\n\(stderr)" }
}

/// Runs `executable` (an absolute path; no shell, no PATH lookup) with `arguments` and waits for it.
///
/// The child starts as the product starts CNI delegates (`CNI.Delegate.run`): with default signal
/// handling and an empty signal mask, whatever the calling thread's are. Foundation's `Process`
/// hands on the caller's mask instead, and a test's thread (Swift concurrency, Dispatch) blocks
/// nearly every signal: a shell started that way never sees `SIGCHLD`, so its `wait` never returns.
/// Both output pipes are drained on threads of their own while `stdin` is written, so a chatty
/// child never blocks on a full pipe; the child reads `stdin`, then end of file.
/// - Parameters:
///   - environment: the child's whole environment; `nil` passes on this process's.
///   - currentDirectory: where the child starts; `nil` is this process's.
///   - timeout: seconds after which the child and everything it started (its process group) get
///     SIGTERM (SIGKILL 5 s later if they are still there); `timedOut` is then true. A hung command fails its test instead of stalling the run.
/// - Returns: the exit status (128 + the signal's number when a signal ended the child) and output.
/// - Throws: `TestFailure` when the program cannot be started.
public func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                stdin: [UInt8]? = nil, currentDirectory: String? = nil, timeout: Double = 60) throws -> ProcessOutput {
    let input = try makePipe(), output = try makePipe(), errors = try makePipe()
    let spawned = Result {
        try spawnChild(executable, arguments, environment: environment ?? ProcessInfo.processInfo.environment, ownProcessGroup: true) { actions in
            posix_spawn_file_actions_adddup2(&actions, input.read, 0)
            posix_spawn_file_actions_adddup2(&actions, output.write, 1)
            posix_spawn_file_actions_adddup2(&actions, errors.write, 2)
            if let currentDirectory { systemSpawnAddChdir(&actions, currentDirectory) }
        }
    }
    for fd in [input.read, output.write, errors.write] { close(fd) }
    let pid: pid_t
    do {
        pid = try spawned.get()
    } catch {
        for fd in [input.write, output.read, errors.read] { close(fd) }
        throw error
    }
    let stdout = Background { FileHandle(fileDescriptor: output.read, closeOnDealloc: true).readDataToEndOfFile() }
    let stderr = Background { FileHandle(fileDescriptor: errors.read, closeOnDealloc: true).readDataToEndOfFile() }
    let child = Background { () -> Int32 in
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        return status
    }
    if let stdin { writeAll(input.write, stdin) }
    close(input.write)
    let timedOut = !child.finished(within: timeout)
    if timedOut {
        kill(-pid, SIGTERM)
        // A child that ignores SIGTERM must not hang the run either.
        if !child.finished(within: 5) { kill(-pid, SIGKILL) }
    }
    let status = exitStatus(waitStatus: child.value())
    return ProcessOutput(status: status, stdout: String(decoding: stdout.value(), as: UTF8.self),
                         stderr: String(decoding: stderr.value(), as: UTF8.self), timedOut: timedOut)
}

/// Starts `executable` (an absolute path) with `arguments` and the whole `environment`, as the
/// product starts CNI delegates and as `hack/lab.sh` and container runtimes start programs: default
/// signal handling and an empty signal mask, whatever the calling thread's are (see `run`), and
/// with `ownProcessGroup` a process group of its own. `fileActions` sets up the child's descriptors.
/// Returns its PID; the caller waits for it (`waitpid`).
/// - Throws: `TestFailure` when the program cannot be started.
public func spawnChild(_ executable: String, _ arguments: [String], environment: [String: String], ownProcessGroup: Bool,
                       fileActions: (inout posix_spawn_file_actions_t) -> Void) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    fileActions(&actions)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var all = sigset_t(), none = sigset_t()
    sigfillset(&all)
    sigemptyset(&none)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setsigmask(&attributes, &none)
    var flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK
    if ownProcessGroup {
        posix_spawnattr_setpgroup(&attributes, 0)  // its own group, so a signal to the group reaches its children too
        flags |= POSIX_SPAWN_SETPGROUP
    }
    posix_spawnattr_setflags(&attributes, Int16(flags))
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { for p in envp { free(p) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
    guard rc == 0 else { throw TestFailure("cannot start \(executable): \(String(cString: strerror(rc)))") }
    return pid
}

/// The exit status that `waitpid` reported as `status`: the exit code (bits 8–15), or 128 + the
/// terminating signal (bits 0–6) when a signal ended the child (macros Swift cannot see).
public func exitStatus(waitStatus status: Int32) -> Int32 {
    (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
}

/// Runs a command found on `PATH` (through `/usr/bin/env`) and returns its standard output.
/// - Parameters:
///   - args: the command and its arguments, passed as they are (no shell: nothing is expanded).
///   - environment: the child's whole environment (also the `PATH` searched); `nil` passes on this process's.
/// - Throws: `TestFailure` naming the command, its exit status and its stderr and stdout when it
///   does not exit 0 (or runs past `timeout` seconds).
@discardableResult
public func sh(_ args: [String], environment: [String: String]? = nil, timeout: Double = 60) throws -> String {
    let result = try run("/usr/bin/env", args, environment: environment, timeout: timeout)
    guard result.status == 0, !result.timedOut else {
        let how = result.timedOut ? "timed out after \(timeout) s" : "exited \(result.status)"
        throw TestFailure("\(args.joined(separator: " ")) \(how): \(result.stderr)\(result.stdout)")
    }
    return result.stdout
}

/// `sh(_:environment:timeout:)` with the command and its arguments written out: `sh("ip", "netns", "list")`.
@discardableResult
public func sh(_ args: String..., environment: [String: String]? = nil, timeout: Double = 60) throws -> String {
    try sh(args, environment: environment, timeout: timeout)
}

/// A pipe whose ends are closed on `exec` (the child gets its ends by `dup2`).
private func makePipe() throws -> (read: Int32, write: Int32) {
    var fds: [Int32] = [-1, -1]
    guard systemPipe2(&fds, O_CLOEXEC) == 0 else { throw TestFailure("pipe2: \(String(cString: strerror(errno)))") }
    return (fds[0], fds[1])
}

/// Writes all of `bytes`; stops early when the reader has gone (EPIPE: the test runner ignores SIGPIPE).
private func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    var written = 0
    while written < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
        if n < 0, errno == EINTR { continue }
        if n <= 0 { return }
        written += n
    }
}

// Glibc declares these only under `_GNU_SOURCE`, which Swift's Glibc module does not set (as
// `memfd_create` in Sources/CNI/Delegate.swift).
/// `pipe2(2)`.
@_silgen_name("pipe2")
private func systemPipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32
/// `posix_spawn_file_actions_addchdir_np(3)`.
@_silgen_name("posix_spawn_file_actions_addchdir_np")
private func systemSpawnAddChdir(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: UnsafePointer<CChar>) -> Int32

/// Runs `work` on a thread of its own (blocking reads and waits stay off the caller's thread).
private final class Background<Value: Sendable>: Sendable {
    private let result = Mutex<Value?>(nil)
    private let group = DispatchGroup()

    init(_ work: @escaping @Sendable () -> Value) {
        group.enter()
        Thread { [self] in
            let value = work()
            result.withLock { $0 = value }
            group.leave()
        }.start()
    }

    /// Whether `work` returned within `seconds`.
    func finished(within seconds: Double) -> Bool { group.wait(timeout: .now() + seconds) == .success }

    /// What `work` returned, once it has.
    func value() -> Value {
        group.wait()
        return result.withLock { $0! }
    }
}
