import Foundation
import Synchronization

/// A test helper or precondition that failed; `description` says what, for the test report.
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// What a finished child process left: its exit status (or terminating signal) and its output.
public struct ProcessOutput: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// Whether the child was still running at the deadline and was terminated.
    public var timedOut: Bool
}

/// Runs `executable` (an absolute path; no shell, no PATH lookup) with `arguments` and waits for it.
///
/// Both output pipes are drained on threads of their own while `stdin` is written, so a chatty
/// child never blocks on a full pipe. The child's standard input is `stdin` followed by end of file.
/// - Parameters:
///   - environment: the child's whole environment; `nil` passes on this process's.
///   - timeout: seconds after which the child is sent SIGTERM (its `status` is then the signal and
///     `timedOut` is true), so a hung command fails its test instead of stalling the run.
/// - Throws: what `Process.run()` throws when the program cannot be started.
public func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                stdin: [UInt8]? = nil, timeout: Double = 60) throws -> ProcessOutput {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let out = Pipe(), err = Pipe(), input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    let exited = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in exited.signal() }
    try process.run()
    let stdout = PipeDrain(out.fileHandleForReading)
    let stderr = PipeDrain(err.fileHandleForReading)
    if let stdin { input.fileHandleForWriting.write(Data(stdin)) }
    try input.fileHandleForWriting.close()
    let timedOut = exited.wait(timeout: .now() + timeout) == .timedOut
    if timedOut { process.terminate() }
    process.waitUntilExit()
    return ProcessOutput(status: process.terminationStatus, stdout: String(decoding: stdout.wait(), as: UTF8.self),
                         stderr: String(decoding: stderr.wait(), as: UTF8.self), timedOut: timedOut)
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

/// Reads a pipe to its end on a thread of its own.
private final class PipeDrain: Sendable {
    private let data = Mutex(Data())
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread { [self] in
            let bytes = handle.readDataToEndOfFile()
            data.withLock { $0 = bytes }
            done.signal()
        }.start()
    }

    /// Everything the pipe carried, once the writer has closed it.
    func wait() -> Data {
        done.wait()
        return data.withLock { $0 }
    }
}
