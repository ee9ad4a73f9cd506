/// Failures of the runtime itself (API failures keep the client's error as their cause).
public enum KubeRuntimeError: Error, Sendable, CustomStringConvertible {
    /// A configuration that cannot work (for example leader-election timings).
    case invalidConfiguration(what: String, problems: [String])
    /// `retryOnConflict` gave up after `attempts` conflicting writes.
    case conflictRetriesExhausted(what: String, attempts: Int, lastError: any Error)

    /// "failed to <verb> <thing>: <cause>".
    public var description: String {
        switch self {
        case .invalidConfiguration(let what, let problems):
            "failed to configure \(what): \(problems.joined(separator: "; "))"
        case .conflictRetriesExhausted(let what, let attempts, let lastError):
            "failed to update \(what): still conflicting after \(attempts) attempts: \(lastError)"
        }
    }
}
