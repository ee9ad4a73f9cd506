/// A CNI verb (`CNI_COMMAND`).
public enum CNICommand: String, Sendable, CaseIterable {
    case add = "ADD"
    case del = "DEL"
    case check = "CHECK"
    case status = "STATUS"
    case version = "VERSION"
    case gc = "GC"
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The environment a plugin hands on to its delegates (the spec: the same environment it got,
/// with `CNI_COMMAND` set for the delegate's verb).
public enum InheritedEnvironment: Sendable, Hashable {
    /// Exactly these variables (tests, and callers that build an environment).
    case variables([String: String])
    /// This process's own environment (`environ`), read only when a delegate is started: the
    /// plugin executable never turns its few dozen variables into Swift strings.
    case process

    /// The variables as a dictionary.
    public var variables: [String: String] {
        switch self {
        case .variables(let v): return v
        case .process: return Self.processVariables()
        }
    }

    /// This process's environment as a dictionary. Splits each entry on its first `=` in the
    /// raw bytes (a `Character` search would run grapheme breaking over every variable).
    public static func processVariables() -> [String: String] {
        var count = 0
        while environ[count] != nil { count += 1 }
        var env: [String: String] = [:]
        env.reserveCapacity(count)  // no rehashing while filling
        for i in 0..<count {
            guard let entry = environ[i] else { continue }
            let length = strlen(entry)
            entry.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
                let all = UnsafeBufferPointer(start: bytes, count: length)
                guard let eq = all.firstIndex(of: UInt8(ascii: "=")) else { return }
                let key = String(decoding: UnsafeBufferPointer(rebasing: all[..<eq]), as: UTF8.self)
                env[key] = String(decoding: UnsafeBufferPointer(rebasing: all[(eq + 1)...]), as: UTF8.self)
            }
        }
        return env
    }

    /// `KEY=VALUE` C strings (malloc'd, `nil`-terminated) for `execve`/`posix_spawn`, with
    /// `CNI_COMMAND` set to `command`. For ``process`` the entries of `environ` are copied as
    /// bytes, without a detour through Swift strings.
    func block(command: CNICommand) -> [UnsafeMutablePointer<CChar>?] {
        switch self {
        case .variables(var variables):
            variables["CNI_COMMAND"] = command.rawValue
            return Delegate.environmentBlock(variables)
        case .process:
            var block: [UnsafeMutablePointer<CChar>?] = []
            var i = 0
            while let entry = environ[i] {
                i += 1
                if strncmp(entry, "CNI_COMMAND=", 12) != 0 { block.append(strdup(entry)) }
            }
            block.append(strdup("CNI_COMMAND=" + command.rawValue))
            block.append(nil)
            return block
        }
    }
}

/// The validated `CNI_*` environment of one invocation.
///
/// Which variables are required depends on the verb (spec 1.1.0): ADD and CHECK need
/// `CNI_CONTAINERID`, `CNI_NETNS`, `CNI_IFNAME` and `CNI_PATH`; DEL the same except
/// `CNI_NETNS`; STATUS and GC only `CNI_PATH`; VERSION nothing but the command.
public struct CNIEnvironment: Sendable, Hashable {
    /// The verb.
    public var command: CNICommand
    /// `CNI_CONTAINERID` (empty for STATUS, GC, VERSION).
    public var containerID: String
    /// `CNI_NETNS` (may be empty for DEL, STATUS, GC, VERSION).
    public var netns: String
    /// `CNI_IFNAME` (empty for STATUS, GC, VERSION).
    public var ifname: String
    /// `CNI_ARGS` as given.
    public var argsRaw: String
    /// `CNI_ARGS` split into key/value pairs, in order.
    public var args: [(key: String, value: String)]
    /// `CNI_PATH` split on `:` (empty entries dropped).
    public var path: [String]
    /// The whole environment, passed on to delegates.
    public var inherited: InheritedEnvironment

    /// The whole environment as a dictionary (built from `environ` when it is the process's).
    public var all: [String: String] {
        get { inherited.variables }
        set { inherited = .variables(newValue) }
    }

    public static func == (a: CNIEnvironment, b: CNIEnvironment) -> Bool {
        a.command == b.command && a.containerID == b.containerID && a.netns == b.netns && a.ifname == b.ifname
            && a.argsRaw == b.argsRaw && a.path == b.path && a.inherited == b.inherited
    }

    public func hash(into h: inout Hasher) {
        h.combine(command)
        h.combine(containerID)
        h.combine(ifname)
    }

    /// Validates `environment` for its `CNI_COMMAND`. Every failure is code 4 and names the variable.
    public init(_ environment: [String: String]) throws(CNIError) {
        try self.init(inherited: .variables(environment), lookup: { environment[$0] })
    }

    /// Validates this process's environment, reading only the `CNI_*` variables (`getenv`).
    public static func fromProcess() throws(CNIError) -> CNIEnvironment {
        try CNIEnvironment(inherited: .process, lookup: { name in getenv(name).map { String(cString: $0) } })
    }

    init(inherited: InheritedEnvironment, lookup: (String) -> String?) throws(CNIError) {
        self.inherited = inherited
        guard let raw = lookup("CNI_COMMAND"), !raw.isEmpty else {
            throw CNIError(.invalidEnvironment,
                           "required environment variable CNI_COMMAND is missing; the container runtime must set it to one of ADD, DEL, CHECK, STATUS, VERSION, GC")
        }
        guard let command = CNICommand(rawValue: raw) else {
            throw CNIError(.invalidEnvironment,
                           "CNI_COMMAND '\(raw)' is not a CNI verb; expected one of ADD, DEL, CHECK, STATUS, VERSION, GC")
        }
        self.command = command
        let attachmentVerb = command == .add || command == .del || command == .check

        containerID = lookup("CNI_CONTAINERID") ?? ""
        if attachmentVerb {
            if containerID.isEmpty { throw Self.missing("CNI_CONTAINERID", command) }
            if let problem = Self.containerIDProblem(containerID) {
                throw CNIError(.invalidEnvironment, "CNI_CONTAINERID '\(containerID)' is invalid: \(problem)")
            }
        }

        netns = lookup("CNI_NETNS") ?? ""
        if (command == .add || command == .check) && netns.isEmpty { throw Self.missing("CNI_NETNS", command) }

        ifname = lookup("CNI_IFNAME") ?? ""
        if attachmentVerb {
            if ifname.isEmpty { throw Self.missing("CNI_IFNAME", command) }
            if let problem = Self.interfaceNameProblem(ifname) {
                throw CNIError(.invalidEnvironment, "CNI_IFNAME '\(ifname)' is invalid: \(problem)")
            }
        }

        argsRaw = lookup("CNI_ARGS") ?? ""
        args = []
        for pair in argsRaw.split(separator: ";", omittingEmptySubsequences: true) {
            guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
                throw CNIError(.invalidEnvironment,
                               "CNI_ARGS '\(argsRaw)' is invalid: '\(pair)' is not KEY=VALUE; pairs are separated by ';'")
            }
            args.append((String(pair[..<eq]), String(pair[pair.index(after: eq)...])))
        }

        path = (lookup("CNI_PATH") ?? "").split(separator: ":").map(String.init)
        if command != .version && path.isEmpty { throw Self.missing("CNI_PATH", command) }
    }

    static func missing(_ name: String, _ command: CNICommand) -> CNIError {
        CNIError(.invalidEnvironment, "required environment variable \(name) is missing for CNI_COMMAND \(command.rawValue)")
    }

    /// Why `name` is not a valid interface name (spec: not empty, not `.`/`..`, at most 15
    /// characters, no `/`, `:` or whitespace), or `nil` when it is valid.
    public static func interfaceNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "it is empty" }
        if name == "." || name == ".." { return "'.' and '..' are not interface names" }
        if name.utf8.count > 15 { return "it is \(name.utf8.count) bytes long, Linux interface names have at most 15" }
        for ch in name.unicodeScalars {
            if ch == "/" { return "it contains '/'" }
            if ch == ":" { return "it contains ':'" }
            // ASCII first: the Unicode property tables cost page faults in a process that lives
            // for one call (ASCII whitespace is the space and 0x09-0x0D, all caught here).
            if ch.value <= 0x20 || ch.value == 0x7F || (!ch.isASCII && ch.properties.isWhitespace) {
                return "it contains whitespace or a control character"
            }
        }
        return nil
    }

    /// Why `id` is not a valid container ID (spec: starts with an alphanumeric character,
    /// then alphanumerics, `_`, `.` or `-`), or `nil` when it is valid.
    public static func containerIDProblem(_ id: String) -> String? {
        guard let first = id.unicodeScalars.first else { return "it is empty" }
        if !isAlnum(first) { return "it must start with a letter or digit" }
        for ch in id.unicodeScalars where !(isAlnum(ch) || ch == "_" || ch == "." || ch == "-") {
            return "it may only contain letters, digits, '_', '.' and '-'"
        }
        return nil
    }

    /// Whether `name` is a valid network name (same rule as container IDs).
    public static func isValidNetworkName(_ name: String) -> Bool { containerIDProblem(name) == nil }

    static func isAlnum(_ ch: Unicode.Scalar) -> Bool {
        (ch >= "a" && ch <= "z") || (ch >= "A" && ch <= "Z") || (ch >= "0" && ch <= "9")
    }
}
