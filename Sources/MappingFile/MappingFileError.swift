#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Everything that can go wrong reading, writing or locking the mapping file (or any file
/// written through ``AtomicFile``). Each case names the step and the file, and carries the cause.
public enum MappingFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file does not exist (the agent has not written it yet).
    case notFound(path: String)
    /// `open`/`read`/`stat` failed for another reason (permissions, I/O error…).
    case readFailed(path: String, errno: Int32)
    /// The bytes are not a JSON document (truncated, garbage, empty).
    case decodeFailed(path: String, cause: String)
    /// The document is JSON but not a `NodeNetworkMapping` of the version this code reads.
    case wrongKind(path: String, apiVersion: String, kind: String)
    /// The file's `formatVersion` is newer than this build reads (`supported` is the newest it reads):
    /// the agent was upgraded before this reader.
    case unsupportedFormat(path: String, version: Int64, supported: Int)
    /// A field is missing or has the wrong type.
    case invalidField(path: String, field: String, problem: String)
    /// A step of the atomic write failed (`step` is e.g. "create temporary file", "fsync", "rename").
    case writeFailed(path: String, step: String, errno: Int32)
    /// Taking a `flock` failed.
    case lockFailed(path: String, errno: Int32)

    /// Whether this error means the file simply is not there.
    public var isNotFound: Bool {
        if case .notFound = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .notFound(let path):
            return "failed to read mapping file '\(path)': it does not exist"
        case .readFailed(let path, let e):
            return "failed to read file '\(path)': \(errnoString(e))"
        case .decodeFailed(let path, let cause):
            return "failed to decode mapping file '\(path)': \(cause)"
        case .wrongKind(let path, let apiVersion, let kind):
            return "failed to decode mapping file '\(path)': it is apiVersion '\(apiVersion)' kind '\(kind)', "
                + "this build reads apiVersion '\(NodeNetworkMapping.currentAPIVersion)' kind '\(NodeNetworkMapping.currentKind)'; "
                + "run the automagic agent and plugin from the same release"
        case .unsupportedFormat(let path, let version, let supported):
            return "failed to read mapping file '\(path)': mapping file format \(version) is newer than this plugin "
                + "understands (up to \(supported)): upgrade automagic"
        case .invalidField(let path, let field, let problem):
            return "failed to decode mapping file '\(path)': field '\(field)' \(problem)"
        case .writeFailed(let path, let step, let e):
            return "failed to \(step) for file '\(path)': \(errnoString(e))"
        case .lockFailed(let path, let e):
            return "failed to lock file '\(path)': \(errnoString(e))"
        }
    }
}

/// The text of an `errno` value ("No such file or directory (errno 2)").
func errnoString(_ e: Int32) -> String {
    if let p = strerror(e) { return "\(String(cString: p)) (errno \(e))" }
    return "errno \(e)"
}
