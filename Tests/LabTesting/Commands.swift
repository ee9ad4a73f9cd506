import Foundation
import TestSupport

/// Runs a command line tool (kubectl, a built binary, a script) for a test against an API server:
/// TestSupport's `run` on a thread of its own, so the cooperative pool never blocks on the child.
/// The child gets this process's environment plus `environment`, without `KUBECONFIG`: it reaches
/// only the server its command line names (`--kubeconfig`), never the developer's cluster.
public func runCommand(_ executable: String, _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:],
                       currentDirectory: String? = nil, timeout: Double = 60) async throws -> ProcessOutput {
    var env = ProcessInfo.processInfo.environment
    env["KUBECONFIG"] = nil
    for (k, v) in environment { env[k] = v }
    let childEnvironment = env
    return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ProcessOutput, any Error>) in
        Thread {
            continuation.resume(with: Result {
                try run(executable, arguments, environment: childEnvironment, stdin: stdin.map { Array($0.utf8) },
                        currentDirectory: currentDirectory, timeout: timeout)
            })
        }.start()
    }
}
