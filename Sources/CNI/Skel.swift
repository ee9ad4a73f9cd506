import JSON

/// One invocation handed to a ``CNIHandler``: the validated environment and configuration.
public struct CNIRequest: Sendable {
    /// The `CNI_*` environment.
    public var environment: CNIEnvironment
    /// The network configuration from stdin.
    public var config: NetConf

    /// Creates a request.
    public init(environment: CNIEnvironment, config: NetConf) {
        self.environment = environment
        self.config = config
    }
}

/// A CNI plugin's verbs. ``Skel`` validates the environment, the configuration and its
/// version before calling them, and prints results and errors as the spec requires.
public protocol CNIHandler: Sendable {
    /// The spec versions the plugin accepts in configurations.
    var supportedVersions: [CNIVersion] { get }
    /// ADD: returns the result (in any version; Skel converts it to the configuration's).
    func add(_ request: CNIRequest) throws(CNIError) -> CNIResult
    /// DEL.
    func del(_ request: CNIRequest) throws(CNIError)
    /// DEL up to its last step: when that step is one delegate call whose outcome is the DEL's
    /// outcome, it is returned for the caller to run (``Skel/dispatch(_:environment:stdin:)``
    /// hands it back; the plugin executable then `exec`s it in place). `nil` when the DEL is
    /// complete. The default runs ``del(_:)``.
    func prepareDel(_ request: CNIRequest) throws(CNIError) -> DelegateCall?
    /// CHECK.
    func check(_ request: CNIRequest) throws(CNIError)
    /// STATUS.
    func status(_ request: CNIRequest) throws(CNIError)
    /// GC.
    func gc(_ request: CNIRequest) throws(CNIError)
}

extension CNIHandler {
    /// Runs ``del(_:)``: nothing is left to the caller.
    public func prepareDel(_ request: CNIRequest) throws(CNIError) -> DelegateCall? {
        try del(request)
        return nil
    }
}

/// What ``Skel/dispatch(_:environment:stdin:)`` leaves to its caller.
public enum SkelOutcome: Sendable {
    /// The invocation is complete: print this and exit with its status.
    case output(CNIOutput)
    /// The invocation ends with this delegate call: its exit status and output are the
    /// invocation's (a failure to start it is reported as an error object in `errorVersion`).
    case delegate(DelegateCall, errorVersion: String)
}

/// What an invocation prints and returns.
public struct CNIOutput: Sendable, Hashable {
    /// The process exit status (0 on success, 1 on error).
    public var exitCode: Int32
    /// The bytes for stdout (a result, version info, an error object, or nothing).
    public var stdout: [UInt8]
}

/// The plugin skeleton, like libcni's `skel.PluginMain`, with the environment and stdin
/// injected so it can run in-process in tests.
///
/// ```swift
/// let output = Skel.run(MyPlugin(), environment: env, stdin: { readAll(0) })
/// ```
public enum Skel {
    /// Runs one invocation. `stdin` is read only when the verb needs a configuration
    /// (not for VERSION, so a VERSION call never waits on an open terminal).
    public static func run(_ handler: some CNIHandler, environment: [String: String],
                           stdin: () -> [UInt8]) -> CNIOutput {
        switch dispatch(handler, environment: environment, stdin: stdin) {
        case .output(let output):
            return output
        case .delegate(let call, let errorVersion):
            do throws(CNIError) {
                _ = try Delegate.invoke(call)
                return CNIOutput(exitCode: 0, stdout: [])
            } catch {
                return errorOutput(error, version: errorVersion)
            }
        }
    }

    /// Like ``run(_:environment:stdin:)``, but a DEL that ends with one delegate call
    /// (``CNIHandler/prepareDel(_:)``) returns that call instead of running it.
    public static func dispatch(_ handler: some CNIHandler, environment: [String: String],
                                stdin: () -> [UInt8]) -> SkelOutcome {
        dispatch(handler, cniEnvironment: { () throws(CNIError) in try CNIEnvironment(environment) }, stdin: stdin)
    }

    /// ``dispatch(_:environment:stdin:)`` with the environment validated by `cniEnvironment`
    /// (the plugin executable passes ``CNIEnvironment/fromProcess()``).
    public static func dispatch(_ handler: some CNIHandler, cniEnvironment: () throws(CNIError) -> CNIEnvironment,
                                stdin: () -> [UInt8]) -> SkelOutcome {
        let supported = handler.supportedVersions
        let latest = supported.max() ?? CNIVersion.latest
        var errorVersion = latest.description
        do throws(CNIError) {
            let env = try cniEnvironment()
            if env.command == .version {
                return .output(CNIOutput(exitCode: 0, stdout: versionInfo(supported)))
            }
            let bytes = stdin()
            // Parsed once: for the error version and for the configuration.
            let json = try? JSONValue.parse(bytes)
            // Answer errors in the caller's version whenever it can be read.
            if let v = json?["cniVersion"]?.stringValue, let parsed = CNIVersion(v), supported.contains(parsed) {
                errorVersion = v
            }
            let config = if let json { try NetConf(json: json, supported: supported) } else { try NetConf(bytes: bytes, supported: supported) }
            let request = CNIRequest(environment: env, config: config)
            switch env.command {
            case .add:
                let result = try handler.add(request).converted(to: config.cniVersion)
                var out = result.json.serialized(pretty: true)
                out.append(0x0A)
                return .output(CNIOutput(exitCode: 0, stdout: out))
            case .del:
                if let call = try handler.prepareDel(request) { return .delegate(call, errorVersion: errorVersion) }
            case .check: try handler.check(request)
            case .status:
                guard config.cniVersion >= .v1_1_0 else {
                    throw CNIError(.incompatibleVersion, "STATUS needs cniVersion 1.1.0 or later, the configuration has \(config.cniVersion)")
                }
                try handler.status(request)
            case .gc:
                guard config.cniVersion >= .v1_1_0 else {
                    throw CNIError(.incompatibleVersion, "GC needs cniVersion 1.1.0 or later, the configuration has \(config.cniVersion)")
                }
                try handler.gc(request)
            case .version: break
            }
            return .output(CNIOutput(exitCode: 0, stdout: []))
        } catch {
            return .output(errorOutput(error, version: errorVersion))
        }
    }

    /// The error object for `error` in `version`, exit status 1.
    public static func errorOutput(_ error: CNIError, version: String) -> CNIOutput {
        var out = error.json(cniVersion: version).serialized(pretty: true)
        out.append(0x0A)
        return CNIOutput(exitCode: 1, stdout: out)
    }

    /// The VERSION answer for `supported`.
    public static func versionInfo(_ supported: [CNIVersion]) -> [UInt8] {
        let latest = supported.max() ?? CNIVersion.latest
        let list = supported.sorted().map { "\"\($0)\"" }.joined(separator: ",")
        return Array(#"{"cniVersion":"\#(latest)","supportedVersions":[\#(list)]}"#.utf8) + [0x0A]
    }
}
