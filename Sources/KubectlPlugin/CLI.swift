import ArgumentParser
import Foundation
import KubeClient
import Resolver

/// The `kubectl automagic` command line: parsing, dispatch, output and exit codes, with the console
/// and the cluster injectable.
///
/// ```swift
/// // main.swift
/// exit(await KubectlAutomagic.run(Array(CommandLine.arguments.dropFirst())))
/// ```
public enum KubectlAutomagic {
    /// The exit code of `preview --fail-on-empty` when a map would resolve on no node (the preview is printed).
    public static let emptyMapExitCode: Int32 = 3

    /// Runs one invocation. Returns the exit code: 0 on success, 1 on any error (printed to stderr),
    /// ``emptyMapExitCode`` for `preview --fail-on-empty` with a map that would resolve on no node.
    /// - Parameters:
    ///   - arguments: the arguments after the program name.
    ///   - console: where output goes (stdout/stderr/stdin, tty, environment).
    ///   - reader: the cluster to read; nil connects with the kubeconfig rules (`--kubeconfig`, `--context`).
    public static func run(_ arguments: [String], console: Console = .standard(), reader: (any ClusterReader)? = nil) async -> Int32 {
        let arguments = hoistGlobalOptions(arguments)
        if let help = helpText(arguments) {
            console.writeOut(help)
            return 0
        }
        let names = RootCommand.configuration.subcommands.map { $0._commandName }
        if let first = arguments.first, !first.hasPrefix("-"), !names.contains(first) {
            console.writeErr("error: unknown command '\(first)' for 'kubectl automagic' (commands: \(names.joined(separator: ", ")); see 'kubectl automagic --help')\n")
            return 1
        }
        let parsed: any ParsableCommand
        do {
            parsed = try RootCommand.parseAsRoot(arguments)
        } catch {
            let code = RootCommand.exitCode(for: error)
            if code == .success {
                console.writeOut(RootCommand.fullMessage(for: error) + "\n")
                return 0
            }
            let command = arguments.first.map { RootCommand.configuration.subcommands.map { $0._commandName }.contains($0) ? " \($0)" : "" } ?? ""
            console.writeErr("error: \(RootCommand.message(for: error)) (see 'kubectl automagic\(command) --help')\n")
            return 1
        }
        guard let command = parsed as? any PluginCommand else {
            console.writeOut(RootCommand.helpMessage() + "\n")
            return 0
        }
        do {
            let context = try CommandContext(console: console, options: command.global, reader: reader)
            let text = try await command.execute(context)
            console.writeOut(text)
            return 0
        } catch {
            if case .emptyMaps(_, let report) = error {
                console.writeOut(report)
                console.writeErr("error: \(error)\n")
                return emptyMapExitCode
            }
            console.writeErr("error: \(error)\n")
            return 1
        }
    }

    /// The help screen when asked for (`--help`, `-h`, `help [SUBCOMMAND]`), for the subcommand named.
    static func helpText(_ arguments: [String]) -> String? {
        let wantsHelp = arguments.first == "help" || arguments.contains("--help") || arguments.contains("-h")
        guard wantsHelp else { return nil }
        let subcommands: [any ParsableCommand.Type] = RootCommand.configuration.subcommands
        let named = arguments.lazy.compactMap { a in subcommands.first { $0._commandName == a } }.first
        guard let named else { return RootCommand.helpMessage(columns: 100) + "\n" }
        return RootCommand.helpMessage(for: named, columns: 100) + "\n"
    }

    /// kubectl users often write global flags before the subcommand (`kubectl automagic --context lab status`);
    /// move them after it so every subcommand accepts them.
    static func hoistGlobalOptions(_ arguments: [String]) -> [String] {
        let withValue: Set<String> = ["--kubeconfig", "--context", "-o", "--output"]
        let flags: Set<String> = ["--no-color"]
        var hoisted: [String] = []
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if withValue.contains(a), i + 1 < arguments.count {
                hoisted += [a, arguments[i + 1]]
                i += 2
            } else if flags.contains(a) || withValue.contains(where: { a.hasPrefix($0 + "=") }) || (a.hasPrefix("-o") && a.count > 2 && !a.hasPrefix("--")) {
                hoisted.append(a)
                i += 1
            } else {
                break
            }
        }
        guard !hoisted.isEmpty, i < arguments.count else { return arguments }
        return [arguments[i]] + hoisted + arguments[(i + 1)...]
    }
}

/// What every subcommand gets: the console, the parsed global options and the cluster.
struct CommandContext {
    let console: Console
    let options: GlobalOptions
    let color: Bool
    let readerOverride: (any ClusterReader)?

    init(console: Console, options: GlobalOptions, reader: (any ClusterReader)?) throws(PluginError) {
        self.console = console
        self.options = options
        self.color = console.useColor(noColorFlag: options.noColor) && options.output == .table
        self.readerOverride = reader
    }

    /// The cluster: the injected reader, or a client from the kubeconfig (kubectl's rules).
    func reader() throws(PluginError) -> any ClusterReader {
        if let readerOverride { return readerOverride }
        let configuration: ClientConfiguration
        do {
            let explicit = options.kubeconfig.flatMap { $0.isEmpty ? nil : $0 }
            configuration = try KubeConfigLoader.load(explicitPath: explicit, context: options.context, environment: console.environment)
        } catch {
            throw .configuration(error)
        }
        var tuned = configuration
        tuned.userAgent = "kubectl-automagic/0.1 (libcurl)"
        tuned.maxRetries = 2
        do {
            return KubeCluster(client: try KubernetesClient(configuration: tuned))
        } catch {
            throw .configuration(error)
        }
    }

    func snapshot() async throws(PluginError) -> ClusterSnapshot {
        let reader = try reader()
        let snapshot = try await ClusterSnapshot.read(reader)
        if snapshot.nodes == nil && options.output == .table {
            console.writeErr("warning: you may not list Nodes: node selectors are matched against no labels\n")
        }
        return snapshot
    }
}

extension OutputFormat: ExpressibleByArgument {}
extension MatrixRows: ExpressibleByArgument {}

/// Flags every subcommand accepts.
struct GlobalOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Path to the kubeconfig file (default: $KUBECONFIG, merged, else ~/.kube/config).", valueName: "path"))
    var kubeconfig: String?

    @Option(help: ArgumentHelp("The kubeconfig context to use (default: current-context).", valueName: "name"))
    var context: String?

    @Option(name: [.short, .long], help: ArgumentHelp("Output format: table, json or yaml.", valueName: "format"))
    var output: OutputFormat = .table

    @Flag(help: "Never colour the output (colour is used only on a terminal and when NO_COLOR is unset).")
    var noColor = false
}

/// A subcommand that renders its output as text.
protocol PluginCommand: ParsableCommand {
    var global: GlobalOptions { get }
    func execute(_ context: CommandContext) async throws(PluginError) -> String
}

struct RootCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubectl automagic",
        abstract: "Inspect Automagic semantic networks: which device carries each network on each node, and why.",
        discussion: """
        Networks are NetworkDeviceMaps (automagic.dev/v1alpha1); each node's agent publishes its devices and its \
        resolution in a NodeDevice. explain and preview run the same resolver as the agents, locally.

        Global options (every subcommand): --kubeconfig, --context, -o table|json|yaml, --no-color.

        Examples:
          kubectl automagic status
          kubectl automagic status storage -o yaml
          kubectl automagic explain storage --node worker-1
          kubectl automagic devices worker-1
          kubectl automagic preview -f storage.yaml
        """,
        subcommands: [StatusCommand.self, ExplainCommand.self, DevicesCommand.self, PreviewCommand.self])
}

struct StatusCommand: PluginCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Networks × nodes matrix: the device each node's agent resolved for each network.",
        discussion: """
        Rows are networks and columns nodes while there are at most \(StatusRenderer.maxNodeColumns) nodes; with more, \
        rows are nodes (use --rows to choose). Cells: the device (green), '-' not selected, '✗' (or 'none' when \
        not on a terminal) no device (red), '?' the node has no NodeDevice, '*' the agent's report differs from \
        the resolver, '!' an exclusive-device conflict. The footer shows each map's Ready/Degraded/Conflict conditions.
        """)

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("Matrix orientation: auto, networks (one row per network) or nodes (one row per node).", valueName: "rows"))
    var rows: MatrixRows = .auto

    @Argument(help: "Show only these networks (default: all).")
    var networks: [String] = []

    func execute(_ context: CommandContext) async throws(PluginError) -> String {
        let snapshot = try await context.snapshot()
        var report = StatusReport.build(snapshot)
        if !networks.isEmpty {
            for name in networks where snapshot.map(name) == nil {
                throw .networkNotFound(name, available: snapshot.maps.map(\.network))
            }
            report.networks.removeAll { !networks.contains($0.name) }
        }
        if global.output != .table { return try Machine.render(report, format: global.output, what: "status") }
        return StatusRenderer(color: context.color, rows: rows).render(report)
    }
}

struct ExplainCommand: PluginCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Explain how NETWORK resolves on each node: each rule, each candidate device, each failing expression.",
        discussion: "Resolved locally with the shared resolver from the live NetworkDeviceMaps, NodeDevices and Node labels, and compared with what each agent reports.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The network (NetworkDeviceMap name).")
    var network: String

    @Option(help: ArgumentHelp("Explain only this node.", valueName: "node"))
    var node: String?

    func execute(_ context: CommandContext) async throws(PluginError) -> String {
        let report = try ExplainReport.build(try await context.snapshot(), network: network, node: node)
        if global.output != .table { return try Machine.render(report, format: global.output, what: "explanation") }
        return ExplainRenderer(color: context.color).render(report)
    }
}

struct DevicesCommand: PluginCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "The network devices of NODE as its agent published them, with LLDP neighbour and VLANs.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The node.")
    var node: String

    func execute(_ context: CommandContext) async throws(PluginError) -> String {
        let report = try DevicesReport.build(try await context.snapshot(), node: node)
        if global.output != .table { return try Machine.render(report, format: global.output, what: "devices") }
        return DevicesRenderer(color: context.color).render(report)
    }
}

struct PreviewCommand: PluginCommand {
    static let configuration = CommandConfiguration(
        commandName: "preview",
        abstract: "Validate a NetworkDeviceMap file and show what it would resolve to on every node, before applying it.",
        discussion: """
        The file may be YAML (several documents allowed) or JSON; '-' reads standard input. A map with the name of an \
        existing one is previewed as its replacement.

        Fields the NetworkDeviceMap CRD does not define are errors, each named with its path and the nearest known \
        field ("spec.exclusiv: unknown field; did you mean spec.exclusive?"): an API server before 1.25 drops them \
        silently. A map that would resolve on no node gets a warning; with --fail-on-empty the command then exits \
        with status \(KubectlAutomagic.emptyMapExitCode) (after printing the preview). Other errors exit with status 1.
        """)

    @OptionGroup var global: GlobalOptions

    @Option(name: [.short, .customLong("filename")], help: ArgumentHelp("The map file ('-' for standard input).", valueName: "file"))
    var filename: String

    @Flag(help: "Only parse and validate the maps (schema fields included); do not contact the cluster.")
    var validateOnly = false

    @Flag(help: ArgumentHelp("Exit with status \(KubectlAutomagic.emptyMapExitCode) when a map would resolve on no node (none selected, or no device on any selected node)."))
    var failOnEmpty = false

    func execute(_ context: CommandContext) async throws(PluginError) -> String {
        let bytes: [UInt8]
        let label = filename == "-" ? "<stdin>" : filename
        if filename == "-" {
            do { bytes = try context.console.readIn() } catch {
                throw .readFile(path: label, cause: "\(error)")
            }
        } else {
            guard let data = FileManager.default.contents(atPath: filename) else {
                let exists = FileManager.default.fileExists(atPath: filename)
                throw .readFile(path: filename, cause: exists ? "not readable" : "no such file")
            }
            bytes = [UInt8](data)
        }
        let entries = try MapFile.parseEntries(bytes, path: label)
        let maps = entries.map(\.map)
        // Validate before touching the cluster: a bad file fails fast, even offline.
        let unknown = entries.filter { !$0.unknownFields.isEmpty }
        if !unknown.isEmpty {
            throw .unknownFields(path: label, maps: unknown.map { (name: $0.map.network, fields: $0.unknownFields) })
        }
        for map in maps {
            let errors = Resolver.validate(map)
            if !errors.isEmpty { throw .invalidMap(name: map.network, path: label, errors: errors) }
        }
        if validateOnly {
            if failOnEmpty { throw .usage("--fail-on-empty needs the cluster; it cannot be combined with --validate-only") }
            return maps.map { "NetworkDeviceMap \($0.network): valid\n" }.joined()
        }
        let report = try PreviewReport.build(try await context.snapshot(), maps: maps, path: label)
        let text = global.output != .table
            ? try Machine.render(report, format: global.output, what: "preview")
            : PreviewRenderer(color: context.color).render(report)
        let empty = report.maps.filter { $0.resolved == 0 }.map(\.network)
        if failOnEmpty && !empty.isEmpty { throw .emptyMaps(names: empty, report: text) }
        return text
    }
}
