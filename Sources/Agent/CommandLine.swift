/// The command line of `automagic-agent`.
///
/// Parsed by hand rather than with swift-argument-parser: the agent's resident memory is a
/// product target, and the parser library (its code, and the reflection metadata it walks at
/// start) costs the agent more resident memory than its dozen flags justify. Accepted forms:
/// `--name value`, `--name=value`, flags without a value, `-h`/`--help`.
public struct AgentCommandLine: Sendable, Equatable {
    /// `--kubeconfig`
    public var kubeconfig: String?
    /// `--node-name`
    public var nodeName: String?
    /// `--mapping-file`
    public var mappingFile = "/run/automagic/mapping.json"
    /// `--once`
    public var once = false
    /// `--netns`
    public var netns: String?
    /// `--lldp-devices`
    public var lldpDevices: String?
    /// `--no-lldp`
    public var noLLDP = false
    /// `--no-resource-slices`
    public var noResourceSlices = false
    /// `--log-level`
    public var logLevel = "info"
    /// `--health-addr`
    public var healthAddr = ":9740"
    /// `--metrics-addr`
    public var metricsAddr = ":9741"
    /// `--resync-period`
    public var resyncPeriod = "5m"
    /// `--host-root`
    public var hostRoot = "/"
    /// `-h`, `--help`
    public var help = false

    /// The defaults.
    public init() {}

    /// A command-line mistake; `description` is what to print after "Error: ".
    public struct UsageError: Error, Sendable, Equatable, CustomStringConvertible {
        /// What is wrong, naming the option.
        public var message: String
        public var description: String { message }
        /// An error saying `message`.
        public init(message: String) { self.message = message }
    }

    struct Option {
        var name: String
        var value: String?  // placeholder; nil for a flag
        var help: String
        var hidden = false
        var set: @Sendable (inout AgentCommandLine, String) throws(UsageError) -> Void
    }

    static let options: [Option] = [
        Option(name: "kubeconfig", value: "kubeconfig",
               help: "Kubeconfig file (default: in-cluster configuration, else $KUBECONFIG, else ~/.kube/config).") { $0.kubeconfig = $1 },
        Option(name: "node-name", value: "node-name", help: "The node this agent runs for (default: $NODE_NAME).") { $0.nodeName = $1 },
        Option(name: "mapping-file", value: "mapping-file",
               help: "Where to write the mapping file the CNI plugin reads. (default: /run/automagic/mapping.json)") { $0.mappingFile = $1 },
        Option(name: "once", value: nil,
               help: "Probe the devices, print them as JSON (NodeDevice status.devices shape) and exit; touches no cluster.") { c, _ in c.once = true },
        Option(name: "netns", value: "netns",
               help: "Probe the devices of this network namespace (e.g. /proc/1/ns/net, /var/run/netns/NAME).") { $0.netns = $1 },
        Option(name: "lldp-devices", value: "lldp-devices",
               help: "Extra devices to listen on for LLDP, beyond the physical ones: comma-separated shell-style patterns (e.g. 'eth*,bond0').") {
            $0.lldpDevices = $1
        },
        Option(name: "no-lldp", value: nil, help: "Do not listen for LLDP.") { c, _ in c.noLLDP = true },
        Option(name: "no-resource-slices", value: nil,
               help: "Do not publish this node's NICs as resource.k8s.io/v1 ResourceSlices (Dynamic Resource Allocation).") { c, _ in
            c.noResourceSlices = true
        },
        Option(name: "log-level", value: "log-level",
               help: "Log level: trace, debug, info, notice, warning, error, critical. (default: info)") { $0.logLevel = $1 },
        Option(name: "health-addr", value: "health-addr", help: "host:port for /healthz and /readyz ('' disables). (default: :9740)") {
            $0.healthAddr = $1
        },
        Option(name: "metrics-addr", value: "metrics-addr", help: "host:port for /metrics ('' disables). (default: :9741)") {
            $0.metricsAddr = $1
        },
        Option(name: "resync-period", value: "resync-period",
               help: "Period of the full re-probe safety net (e.g. 30s, 5m, 1h). (default: 5m)") { $0.resyncPeriod = $1 },
        Option(name: "host-root", value: "host-root",
               help: "Root below which /sys is read (for a containerized agent with the host's / mounted elsewhere). (default: /)") {
            $0.hostRoot = $1
        },
    ]

    /// Parses the arguments (without the program name).
    public static func parse(_ arguments: [String]) throws(UsageError) -> AgentCommandLine {
        var result = AgentCommandLine()
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "-h" || argument == "--help" {
                result.help = true
                continue
            }
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw UsageError(message: "unexpected argument '\(argument)'")
            }
            var name = String(argument.dropFirst(2))
            var inlineValue: String?
            if let equals = name.firstIndex(of: "=") {
                inlineValue = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            guard let option = options.first(where: { $0.name == name }) else {
                throw UsageError(message: "unknown option '--\(name)'")
            }
            if option.value == nil {
                if inlineValue != nil { throw UsageError(message: "'--\(name)' does not take a value") }
                try option.set(&result, "")
                continue
            }
            let value: String
            if let inlineValue {
                value = inlineValue
            } else {
                guard index < arguments.count else { throw UsageError(message: "missing value for '--\(name)'") }
                value = arguments[index]
                index += 1
            }
            try option.set(&result, value)
        }
        return result
    }

    /// The `--help` text.
    public static var helpText: String {
        var text = """
            OVERVIEW: Probe this node's network devices, publish its NodeDevice, resolve
            NetworkDeviceMaps and write the mapping file.

            USAGE: automagic-agent [<options>]

            OPTIONS:

            """
        for option in options where !option.hidden {
            let left = "  --\(option.name)" + (option.value.map { " <\($0)>" } ?? "")
            text += left.count < 30 ? left + String(repeating: " ", count: 30 - left.count) + option.help + "\n"
                : left + "\n" + String(repeating: " ", count: 30) + option.help + "\n"
        }
        text += "  -h, --help                  Show help information.\n"
        text += """

            Examples:
              automagic-agent --once                                   # print this machine's devices as JSON
              automagic-agent --once --netns /var/run/netns/node-a     # ... of another network namespace
              automagic-agent --node-name worker-1 --kubeconfig ~/.kube/config \\
                  --mapping-file /run/automagic/mapping.json --health-addr 127.0.0.1:9740 --metrics-addr 127.0.0.1:9741

            """
        return text
    }
}
