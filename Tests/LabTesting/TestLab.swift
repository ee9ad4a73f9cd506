import Foundation
import KubeClient
import LabAPIServer
import Logging
import Testing
import TestSupport

/// One lab API server started in-process for a test: 127.0.0.1, a free port, TLS with certificates
/// generated into a fresh directory, the admin kubeconfig there, and an admin client.
/// `stop()` stops the server and removes the directory (call it in `defer`).
public final class TestLab: @unchecked Sendable {
    /// The running server (a new one after ``restart()``).
    public private(set) var server: RunningLabServer
    /// An admin client (client certificate of `system:masters`).
    public let client: KubernetesClient
    /// The directory holding the certificates, the kubeconfig and any data files of this lab.
    public let directory: String
    /// The options the server was started with (`certDir` is ``directory``).
    public let options: LabServerOptions

    /// The admin kubeconfig.
    public var kubeconfigPath: String { server.kubeconfigPath }

    /// Starts a lab; `configure` sets options (tokens, rules, history, …) before the start.
    /// - Parameters:
    ///   - inMemory: keep the directory on `/dev/shm` (quicker for tests that persist snapshots).
    ///   - configure: adjusts the options; their `certDir` is the lab's own directory, their
    ///     logger logs warnings and errors only unless `configure` sets another.
    public init(inMemory: Bool = false, _ configure: (inout LabServerOptions) -> Void = { _ in }) throws {
        let directory = try makeTempDir("amlab", inMemory: inMemory)
        var options = LabServerOptions()
        options.certDir = directory
        options.logger.logLevel = .warning
        configure(&options)
        let server: RunningLabServer
        do {
            server = try LabServer.start(options)
        } catch {
            removeTestFiles(directory)
            throw error
        }
        do {
            client = try KubernetesClient(configuration: try KubeConfigLoader.load(explicitPath: server.kubeconfigPath, environment: [:]))
        } catch {
            server.stop()
            removeTestFiles(directory)
            throw error
        }
        self.server = server
        self.directory = directory
        self.options = options
    }

    /// A client configuration for the admin kubeconfig, freshly loaded (for a client with its own
    /// connections and settings, like a separate process).
    public func clientConfiguration() throws -> ClientConfiguration {
        try KubeConfigLoader.load(explicitPath: server.kubeconfigPath, environment: [:])
    }

    /// Starts the server again after `stop(keepFiles:)`: the same port, certificates and data.
    public func restart() throws {
        var options = self.options
        options.port = server.port
        server = try LabServer.start(options)
    }

    /// Stops the server (its snapshot is written when it has a `dataPath`); with `keepFiles` the
    /// directory stays for a ``restart()``, otherwise it is removed (a failure to remove it is
    /// recorded as an issue of the test, at `sourceLocation`). Idempotent.
    public func stop(keepFiles: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) {
        server.stop()
        if !keepFiles { removeTestFiles(directory, sourceLocation: sourceLocation) }
    }
}
