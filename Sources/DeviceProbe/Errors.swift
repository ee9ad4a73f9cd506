import Glibc

/// Everything that can go wrong in DeviceProbe. Each case names the step that failed
/// and carries its cause; `description` reads "failed to <verb> <thing> '<name>': <cause>".
public enum ProbeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Entering the network namespace at `path` failed (errno).
    case enterNamespace(path: String, errno: Int32)
    /// Opening a socket (`what`: "rtnetlink", "ethtool", "packet", "eventfd") failed.
    case openSocket(what: String, errno: Int32)
    /// Sending a request or receiving its answer on a netlink socket failed.
    case netlink(step: String, errno: Int32)
    /// The kernel sent a message that could not be parsed.
    case malformedMessage(step: String, detail: String)
    /// A dump kept being interrupted by concurrent changes.
    case dumpInterrupted(what: String, attempts: Int)
    /// A network namespace file could not be examined (stat failed).
    case identifyNamespace(path: String, errno: Int32)
    /// The probe thread is no longer in the network namespace it entered at start (something
    /// moved it); nothing is probed.
    case namespaceChanged(thread: String, expected: String, found: String)
    /// Starting the dedicated OS thread failed.
    case startThread(name: String, errno: Int32)
    /// The prober (or listener) was shut down.
    case stopped(name: String)
    /// Sending a frame failed (tests and the lab use the sender).
    case sendFrame(interface: String, errno: Int32)
    /// An LLDP frame was rejected; the defect says why.
    case parseLLDP(LLDPDefect)
    /// An interface named by the caller does not exist.
    case noSuchInterface(name: String)
    /// Encoding the devices as JSON failed.
    case encodeJSON(detail: String)

    public var description: String {
        switch self {
        case let .enterNamespace(path, e): "failed to enter network namespace '\(path)': \(errnoText(e))"
        case let .openSocket(what, e): "failed to open socket '\(what)': \(errnoText(e))"
        case let .netlink(step, e): "failed to \(step) 'rtnetlink': \(errnoText(e))"
        case let .malformedMessage(step, detail): "failed to parse message '\(step)': \(detail)"
        case let .dumpInterrupted(what, n): "failed to dump '\(what)': interrupted by concurrent changes \(n) times"
        case let .identifyNamespace(path, e): "failed to identify network namespace '\(path)': \(errnoText(e))"
        case let .namespaceChanged(thread, expected, found):
            "failed to probe network namespace '\(thread)': the probe thread is in \(found), not in \(expected) that it entered at start; refusing to probe another namespace"
        case let .startThread(name, e): "failed to start thread '\(name)': \(errnoText(e))"
        case let .stopped(name): "failed to run job on '\(name)': it was shut down"
        case let .sendFrame(ifname, e): "failed to send frame on '\(ifname)': \(errnoText(e))"
        case let .parseLLDP(defect): "failed to parse LLDP frame '\(defect.kindName)': \(defect)"
        case let .noSuchInterface(name): "failed to find interface '\(name)': no such device"
        case let .encodeJSON(detail): "failed to encode devices 'JSON': \(detail)"
        }
    }
}

func errnoText(_ e: Int32) -> String {
    guard let p = strerror(e) else { return "errno \(e)" }
    return "\(String(cString: p)) (errno \(e))"
}
