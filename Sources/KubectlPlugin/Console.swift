#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// Where a command writes and what it knows about its terminal. The binary uses
/// ``Console/standard()``; tests inject a capturing console.
///
/// ```swift
/// let console = Console.capturing()
/// let code = await KubectlAutomagic.run(["status", "--kubeconfig", path], console: console.console)
/// print(console.stdout)
/// ```
public struct Console: Sendable {
    /// Writes to standard output (text is written as given; callers add newlines).
    public var writeOut: @Sendable (String) -> Void
    /// Writes to standard error.
    public var writeErr: @Sendable (String) -> Void
    /// Reads all of standard input (for `preview -f -`).
    public var readIn: @Sendable () throws -> [UInt8]
    /// Whether standard output is a terminal (`isatty(1)`).
    public var isTerminal: Bool
    /// The environment (`NO_COLOR`, `KUBECONFIG`, `HOME`).
    public var environment: [String: String]

    /// A console with the given parts.
    public init(writeOut: @escaping @Sendable (String) -> Void, writeErr: @escaping @Sendable (String) -> Void,
                readIn: @escaping @Sendable () throws -> [UInt8] = { [] }, isTerminal: Bool = false,
                environment: [String: String] = [:]) {
        self.writeOut = writeOut
        self.writeErr = writeErr
        self.readIn = readIn
        self.isTerminal = isTerminal
        self.environment = environment
    }

    /// The process's stdout, stderr and stdin, `isatty(1)` and environment.
    public static func standard() -> Console {
        Console(
            writeOut: { text in FileHandle.standardOutput.write(Data(text.utf8)) },
            writeErr: { text in FileHandle.standardError.write(Data(text.utf8)) },
            readIn: { [UInt8](FileHandle.standardInput.readDataToEndOfFile()) },
            isTerminal: isatty(1) == 1,
            environment: ProcessInfo.processInfo.environment)
    }

    /// Whether to colour output: stdout is a terminal, `NO_COLOR` is unset or empty
    /// (https://no-color.org), `TERM` is not `dumb`, and `--no-color` was not given.
    public func useColor(noColorFlag: Bool) -> Bool {
        if noColorFlag || !isTerminal { return false }
        if let v = environment["NO_COLOR"], !v.isEmpty { return false }
        if environment["TERM"] == "dumb" { return false }
        return true
    }
}

/// A console that records what was written, for tests and embedding.
public final class CapturedConsole: Sendable {
    final class Buffer: Sendable {
        let text = Mutex<String>("")
        func append(_ s: String) { text.withLock { $0 += s } }
        var value: String { text.withLock { $0 } }
    }
    private let out: Buffer
    private let err: Buffer
    /// The console writing into this capture.
    public let console: Console

    /// A capture with the given terminal flag, environment and standard input.
    public init(isTerminal: Bool = false, environment: [String: String] = [:], stdin: [UInt8] = []) {
        let out = Buffer(), err = Buffer()
        self.out = out
        self.err = err
        console = Console(writeOut: { out.append($0) }, writeErr: { err.append($0) }, readIn: { stdin },
                          isTerminal: isTerminal, environment: environment)
    }

    /// Everything written to standard output.
    public var stdout: String { out.value }
    /// Everything written to standard error.
    public var stderr: String { err.value }
}

/// ANSI styles used by the tables (only when colour is on).
public enum Style: Sendable, Hashable {
    /// No styling.
    case plain
    /// Resolved, healthy.
    case green
    /// Unresolved, failing.
    case red
    /// Needs attention: conflicts, stale or missing reports.
    case yellow
    /// De-emphasised (not selected).
    case dim
    /// Headers.
    case bold

    var code: String {
        switch self {
        case .plain: ""
        case .green: "\u{1B}[32m"
        case .red: "\u{1B}[31m"
        case .yellow: "\u{1B}[33m"
        case .dim: "\u{1B}[2m"
        case .bold: "\u{1B}[1m"
        }
    }

    /// `text` wrapped in this style's escape codes when `color` is on.
    public func apply(_ text: String, color: Bool) -> String {
        guard color, self != .plain, !text.isEmpty else { return text }
        return code + text + "\u{1B}[0m"
    }
}
