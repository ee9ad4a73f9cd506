import AutomagicAPI
import DeviceProbe
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JSON
import KubeClient
import KubeCore
import KubeRuntime
import Logging
import MappingFile
import Observability
import Resolver
import Synchronization

/// The version the agent writes into `NodeDevice.status.agentVersion`.
public enum AgentVersion {
    /// This build's version.
    public static let current = "0.1.0"
}

/// How one node agent runs.
public struct AgentConfiguration: Sendable {
    /// The node this agent speaks for (`--node-name`, default `$NODE_NAME`).
    public var nodeName: String
    /// Where the mapping file is written (`--mapping-file`).
    public var mappingFile: String
    /// The network namespace probed (`--netns`); nil: the agent's own.
    public var netnsPath: String?
    /// Root below which `/sys` is read (`--host-root`).
    public var hostRoot: String
    /// LLDP listening (physical devices plus `--lldp-devices` patterns); nil with `--no-lldp`.
    public var lldp: LLDPOptions?
    /// Period of the full re-probe safety net (`--resync-period`).
    public var resyncPeriod: Duration
    /// Quiet time after the last netlink event before re-probing.
    public var debounce: Duration
    /// Longest a re-probe is held back while netlink events keep coming.
    public var maxDelay: Duration
    /// Version written into the status.
    public var agentVersion: String
    /// Delays between failed `NodeDevice` writes and mapping-file writes.
    public var retryBackoff: Backoff
    /// Delays between failed lists/watches.
    public var watchBackoff: Backoff
    /// Publish the node's NICs as `resource.k8s.io/v1` ResourceSlices when the server serves them
    /// (`--no-resource-slices` turns it off).
    public var publishResourceSlices = true

    /// A configuration with production defaults for node `nodeName`.
    public init(
        nodeName: String, mappingFile: String = MappingFile.defaultPath, netnsPath: String? = nil, hostRoot: String = "/",
        lldp: LLDPOptions? = LLDPOptions(), resyncPeriod: Duration = .seconds(300), debounce: Duration = .milliseconds(50),
        maxDelay: Duration = .milliseconds(250), agentVersion: String = AgentVersion.current,
        retryBackoff: Backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(30), resetAfter: .seconds(120)),
        watchBackoff: Backoff = .watchDefault
    ) {
        self.nodeName = nodeName
        self.mappingFile = mappingFile
        self.netnsPath = netnsPath
        self.hostRoot = hostRoot
        self.lldp = lldp
        self.resyncPeriod = resyncPeriod
        self.debounce = debounce
        self.maxDelay = maxDelay
        self.agentVersion = agentVersion
        self.retryBackoff = retryBackoff
        self.watchBackoff = watchBackoff
    }

    /// Checks the settings that can be checked without touching the system.
    public func validate() throws(AgentError) {
        guard !nodeName.isEmpty else {
            throw .configuration(field: "--node-name", message: "no node name: pass --node-name or set NODE_NAME")
        }
        guard Self.isDNSSubdomain(nodeName) else {
            throw .configuration(field: "--node-name", message: "'\(nodeName)' is not a valid node name (DNS subdomain)")
        }
        guard mappingFile.hasPrefix("/"), !mappingFile.hasSuffix("/") else {
            throw .configuration(field: "--mapping-file", message: "'\(mappingFile)' must be an absolute file path")
        }
        guard resyncPeriod > .zero else {
            throw .configuration(field: "--resync-period", message: "must be positive")
        }
    }

    /// Parses a flag duration (`500ms`, `30s`, `5m`, `1h30m`, or a bare number of seconds); nil
    /// for anything else and for zero.
    public static func parseDuration(_ text: String) -> Duration? {
        guard let d = FlagDuration.parse(text), d > .zero else { return nil }
        return d
    }

    static func isDNSSubdomain(_ s: String) -> Bool {
        guard (1...253).contains(s.utf8.count) else { return false }
        for label in s.split(separator: ".", omittingEmptySubsequences: false) {
            guard let first = label.utf8.first, let last = label.utf8.last, label.utf8.count <= 63 else { return false }
            func alnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) }
            guard alnum(first), alnum(last), label.utf8.allSatisfy({ alnum($0) || $0 == 0x2D }) else { return false }
        }
        return true
    }
}

/// A snapshot of what the agent knows, for health checks, tests and logs.
public struct AgentStatus: Sendable {
    /// Devices of the last successful probe (nil before the first).
    public var devices: [NetworkDevice]?
    /// The last probe's failure, if it failed.
    public var probeError: String?
    /// The mapping last written (or found on disk at start).
    public var mapping: NodeNetworkMapping?
    /// Whether the mapping file reflects the current resolution.
    public var mappingWritten: Bool
    /// The last mapping-file failure.
    public var mappingError: String?
    /// The status the agent wants published.
    public var desired: NodeDeviceStatus?
    /// The last `NodeDevice` seen (watch) or written.
    public var published: NodeDevice?
    /// The last publish failure.
    public var publishError: String?
    /// Whether the maps have been listed once.
    public var mapsSynced: Bool
}

/// The node agent: probes the node's devices, publishes its `NodeDevice`, resolves every
/// `NetworkDeviceMap` for the node and writes the mapping file the CNI plugin reads.
///
/// Work is event driven: a debounced netlink subscription (plus a periodic full re-probe) for
/// devices, watches for maps, the own Node and the own `NodeDevice`. Nothing polls the API
/// server. The mapping file is written first (local, fast) and the `NodeDevice` status after it,
/// each only when its content changes (timestamps alone never cause a write).
///
/// Decisions worth knowing:
/// - `probedAt` (and each neighbour's `lldp.lastHeard`) is the time of the probe that produced
///   the published content; it is refreshed only when something else is written. A periodic
///   resync that finds nothing new writes nothing, so an idle node costs zero API writes.
/// - The mapping file lists every map that selects the node: resolved networks with their
///   device, unresolved and invalid ones with an empty device and the reason (the plugin
///   reports it). `generation` continues from the file found at start.
/// - Until the maps have been listed once (API server unreachable at start) the file found on
///   disk is left untouched; later outages keep the cached maps, so the file still follows
///   local device changes, and the `NodeDevice` catches up when the server is back.
/// - The agent only ever writes the `NodeDevice` named after its node (``NodeDevicePublisher``).
///
/// ```swift
/// let client = try KubernetesClient(configuration: KubeConfigLoader.defaultConfiguration())
/// let agent = try NodeAgent(configuration: AgentConfiguration(nodeName: "worker-1"), client: client)
/// try await agent.run()            // until the task is cancelled
/// ```
public final class NodeAgent: Sendable {
    /// The settings.
    public let configuration: AgentConfiguration
    /// Metrics (serve `metrics.registry`).
    public let metrics: AgentMetrics
    /// Liveness and readiness checks (serve them with `HealthServer`).
    public let health: HealthChecks

    let client: KubernetesClient
    let logger: Logger
    let state = Mutex(State())
    let resolveKick: AsyncStream<Void>.Continuation
    let resolveKicks: AsyncStream<Void>
    let publishKick: AsyncStream<Void>.Continuation
    let publishKicks: AsyncStream<Void>
    /// Work happened: hand free heap memory back to the kernel once things are quiet again.
    let trimKick: AsyncStream<Void>.Continuation
    let trimKicks: AsyncStream<Void>
    /// Quiet time after work before the heap is trimmed.
    static let heapTrimDelay: Duration = .seconds(2)
    let maps = Store<DynamicObject>()
    let nodes = Store<Node>()
    let nodeDevices = Store<NodeDevice>()
    let prober = Mutex<DeviceProber?>(nil)
    let events: EventRecorder
    let fileWorker = BlockingWorker(name: "agent:mapping-file")
    /// The ResourceSlice publisher (nil with `publishResourceSlices` off).
    let resourceSlices: ResourceSlicePublisher?

    struct State {
        var devices: [NetworkDevice]?
        var probedAt = ""
        var probeError: String?
        var mapping: NodeNetworkMapping?
        var mappingWritten = false
        var mappingError: String?
        var desired: NodeDeviceStatus?
        var published: NodeDevice?
        var publishError: String?
        var resultLabels: [String: String] = [:]
        var lastNetworks: [NodeNetworkStatus]?
        var lastInvalid: Set<String> = []
        var lastMappingError: String?
    }

    /// What a resolution leaves to do outside the state lock.
    struct ResolveEffects: Equatable {
        /// Each network's outcome before this resolution (metric series to drop when it changed).
        var previousResults: [String: String]
        /// The Events to record.
        var events: [EventPlan.Item]
        /// The published `NodeDevice`'s uid (the Events' subject), if known.
        var uid: String?
    }

    /// Creates an agent; checks the configuration. Nothing runs until `run()`.
    public init(
        configuration: AgentConfiguration, client: KubernetesClient, metrics: AgentMetrics = AgentMetrics(),
        logger: Logger = Logger(label: "automagic.agent")
    ) throws(AgentError) {
        try configuration.validate()
        self.configuration = configuration
        self.client = client
        self.metrics = metrics
        var logger = logger
        logger[metadataKey: "node"] = .string(configuration.nodeName)
        self.logger = logger
        health = HealthChecks()
        events = EventRecorder(client: client, nodeName: configuration.nodeName, logger: logger)
        resourceSlices = configuration.publishResourceSlices
            ? ResourceSlicePublisher(node: configuration.nodeName, client: client, logger: logger, writeCounter: metrics.resourceSliceWrites)
            : nil
        (resolveKicks, resolveKick) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (publishKicks, publishKick) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (trimKicks, trimKick) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        health.addReadinessCheck("probe") { [weak self] in
            guard let self else { return }
            let (done, error) = self.state.withLock { ($0.devices != nil, $0.probeError) }
            if let error { throw HealthFailure(message: error) }
            if !done { throw HealthFailure(message: "first probe not done") }
        }
        health.addReadinessCheck("maps-synced") { [weak self] in
            guard let self else { return }
            if !self.maps.hasSynced { throw HealthFailure(message: "NetworkDeviceMaps not listed yet") }
        }
        health.addReadinessCheck("mapping-file") { [weak self] in
            guard let self else { return }
            let (written, error) = self.state.withLock { ($0.mappingWritten, $0.mappingError) }
            if let error { throw HealthFailure(message: error) }
            if !written { throw HealthFailure(message: "mapping file not written yet") }
        }
    }

    deinit { fileWorker.stop() }

    /// What the agent knows now.
    public var status: AgentStatus {
        let synced = maps.hasSynced
        return state.withLock { s in
            AgentStatus(devices: s.devices, probeError: s.probeError, mapping: s.mapping, mappingWritten: s.mappingWritten,
                        mappingError: s.mappingError, desired: s.desired, published: s.published,
                        publishError: s.publishError, mapsSynced: synced)
        }
    }

    /// Whether every readiness check passes (what `/readyz` answers).
    public var isReady: Bool {
        health.run(readiness: true).allSatisfy { $0.failure == nil || $0.excluded }
    }

    /// Asks for a full re-probe now (as the periodic resync does).
    public func requestResync() {
        prober.withLock { $0?.requestResync() }
    }

    /// Runs until the calling task is cancelled (SIGTERM/SIGINT in the binary). Throws only when
    /// the agent cannot start at all (the network namespace cannot be entered).
    public func run() async throws(AgentError) {
        prepareMappingFile()
        let probeOptions = ProbeOptions()
        let watch = ProbeWatchOptions(
            debounce: configuration.debounce, maxDelay: configuration.maxDelay, resyncInterval: configuration.resyncPeriod)
        let prober: DeviceProber
        do {
            prober = try DeviceProber(
                hostRoot: configuration.hostRoot, netnsPath: configuration.netnsPath, options: probeOptions,
                watch: watch, lldp: configuration.lldp)
        } catch {
            throw .probe(namespace: configuration.netnsPath ?? "self", cause: error)
        }
        self.prober.withLock { $0 = prober }
        defer {
            self.prober.withLock { $0 = nil }
            prober.shutdown()
        }
        let changes = prober.changes()
        logger.info("agent starting", metadata: [
            "mappingFile": .string(configuration.mappingFile), "netns": .string(configuration.netnsPath ?? "self"),
            "lldp": .string(configuration.lldp == nil ? "off" : "on"),
        ])
        // A removed or altered mapping file is restored at once (and checked at every resync).
        var fileWatcher: MappingFileWatcher?
        do {
            fileWatcher = try MappingFileWatcher(path: configuration.mappingFile) { [weak self] change in
                self?.mappingFileChanged(change)
            }
        } catch {
            logger.warning("\(error); the mapping file is checked at every resync only")
        }
        defer { fileWatcher?.stop() }

        do {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await self.probeLoop(prober, changes) }
                group.addTask { await self.resolveLoop() }
                group.addTask { await self.trimLoop() }
                // Nothing is read from or written to the API before the server has said who
                // the credentials belong to: a mismatch ends the agent here.
                group.addTask {
                    _ = try await IdentityCheck.verify(
                        client: self.client, nodeName: self.configuration.nodeName,
                        backoff: self.configuration.watchBackoff, logger: self.logger)
                    if Task.isCancelled { return }
                    await self.runAPILoops()
                }
            }
        } catch let error as AgentError {
            logger.error("\(error)")
            throw error
        } catch {
            // Cancelled: stopping.
        }
        logger.info("agent stopped")
    }

    /// The watches of maps, the own Node and the own `NodeDevice`, and the publisher.
    func runAPILoops() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.publishLoop() }
            if let slices = resourceSlices { group.addTask { await self.runResourceSlices(slices) } }
            let name = configuration.nodeName
            group.addTask {
                await self.runWatcher(
                    self.client.dynamic(NetworkDeviceMap.resourceType), WatcherConfiguration(), self.maps, "maps",
                    keep: CachedObject.withoutManagedFields
                ) { self.resolveKick.yield() }
            }
            group.addTask {
                await self.runWatcher(
                    self.client.resource(Node.self), WatcherConfiguration(fieldSelector: "metadata.name=\(name)"),
                    self.nodes, "node", keep: CachedObject.withoutManagedFields
                ) {
                    self.resolveKick.yield()
                    self.publishKick.yield()
                    self.resourceSlices?.kick.yield()
                }
            }
            group.addTask {
                await self.runWatcher(
                    self.client.resource(NodeDevice.self), WatcherConfiguration(fieldSelector: "metadata.name=\(name)"),
                    self.nodeDevices, "nodedevice", keep: CachedObject.withoutManagedFields
                ) {
                    let current = self.nodeDevices.get(name: name)
                    self.state.withLock { $0.published = current }
                    self.publishKick.yield()
                }
            }
        }
    }

    // MARK: - Mapping file

    /// Cleans stale temporaries, creates the directory and loads the current file (so the
    /// generation continues and an unchanged resolution does not rewrite it).
    func prepareMappingFile() {
        let path = configuration.mappingFile
        let directory = Self.directory(of: path)
        let removed = MappingFile.cleanStaleTemporaries(directory: directory, olderThanSeconds: 0)
        if !removed.isEmpty {
            logger.info("removed stale temporary files", metadata: ["files": .string(removed.joined(separator: ","))])
        }
        do throws(MappingFileError) {
            try AtomicFile.makeDirectories(directory)
        } catch {
            let message = failed("mapping-file", AgentError.mappingFile(path: path, cause: error).description)
            state.withLock { $0.mappingError = message }
        }
        do {
            let existing = try MappingFile.read(path: path)
            state.withLock { $0.mapping = existing }
            logger.info("found mapping file", metadata: ["generation": .stringConvertible(existing.generation)])
        } catch where error.isNotFound {
        } catch {
            logger.warning("ignoring unreadable mapping file (it will be replaced): \(error)")
        }
    }

    /// The folder of `path` (`/` for a file at the root).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    /// The watcher saw the mapping file change: readiness says so while it is gone, and the
    /// resolver checks it against what the agent last wrote and restores it.
    func mappingFileChanged(_ change: MappingFileWatcher.Change) {
        if change.missing {
            let path = configuration.mappingFile
            let wasWritten = state.withLock { s -> Bool in
                guard s.mapping != nil, s.mappingWritten else { return false }
                s.mappingWritten = false
                s.mappingError = "mapping file '\(path)' is missing (removed or renamed away); restoring it"
                return true
            }
            if wasWritten { logger.warning("the mapping file was removed; restoring it", metadata: ["path": .string(path)]) }
        }
        resolveKick.yield()
    }

    // MARK: - Probe

    func probeLoop(_ prober: DeviceProber, _ changes: AsyncStream<DeviceChange>) async {
        var backoff = configuration.retryBackoff
        while !Task.isCancelled {
            if await probe(prober) { break }
            let delay = backoff.next(now: .now)
            do { try await Task.sleep(for: delay) } catch { return }
        }
        for await change in changes {
            if Task.isCancelled { return }
            logger.debug("devices changed", metadata: [
                "reasons": .string(change.reasons.map(\.rawValue).sorted().joined(separator: ",")),
                "interfaces": .string(change.interfaces.sorted().joined(separator: ",")),
            ])
            let probed = await probe(prober)
            // The periodic resync (and an explicit one) also checks the mapping file against
            // what was last written, in case a change escaped the folder watch.
            if probed, !change.reasons.isDisjoint(with: [.resync, .requested, .overflow]) { resolveKick.yield() }
            if !probed {
                // Probe again after a pause even if nothing else happens.
                let delay = configuration.retryBackoff.initial
                Task {
                    try await Task.sleep(for: delay)
                    prober.requestResync()
                }
            }
        }
    }

    /// One full probe; true on success. Kicks the resolver when the devices changed.
    func probe(_ prober: DeviceProber) async -> Bool {
        let start = ContinuousClock.now
        do {
            let probed = try await prober.probe()
            let elapsed = ContinuousClock.now - start
            metrics.probes.increment()
            metrics.probeDuration.record(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            let devices = DeviceConversion.sorted(probed)
            let now = KubeTime.format(Date())
            let changed = state.withLock { s -> Bool in
                s.probeError = nil
                guard s.devices != devices else { return false }
                s.devices = devices
                s.probedAt = now
                return true
            }
            if changed {
                logger.debug("probed devices", metadata: ["count": .stringConvertible(devices.count)])
                resolveKick.yield()
                resourceSlices?.kick.yield()
            }
            trimKick.yield()
            return true
        } catch {
            let message = failed("probe", AgentError.probe(namespace: configuration.netnsPath ?? "self", cause: error).description)
            state.withLock { $0.probeError = message }
            return false
        }
    }

    /// Logs a failed step, counts it in the errors metric under `step`, and returns `message`.
    @discardableResult
    func failed(_ step: String, _ message: String, level: Logger.Level = .error) -> String {
        logger.log(level: level, "\(message)")
        metrics.errors.increment(labels: ["step": step])
        return message
    }

    // MARK: - Resolve

    func resolveLoop() async {
        var backoff = configuration.retryBackoff
        for await _ in resolveKicks {
            if Task.isCancelled { return }
            defer { trimKick.yield() }
            if await resolveOnce() {
                backoff.reset()
            } else {
                let delay = backoff.next(now: .now)
                do { try await Task.sleep(for: delay) } catch { return }
                resolveKick.yield()
            }
        }
    }

    /// Resolves the node and writes the mapping file if its content changed. Returns false when
    /// the write failed (the caller retries after a pause).
    func resolveOnce() async -> Bool {
        let node = configuration.nodeName
        guard maps.hasSynced, nodes.hasSynced else { return await keepFileIntact() }
        guard let nodeObject = nodes.get(name: node) else {
            logger.warning("Node '\(node)' not found; keeping the current mapping file")
            return await keepFileIntact()
        }
        let (devices, current) = state.withLock { ($0.devices, $0.mapping) }
        guard let devices else { return await keepFileIntact() }
        let now = KubeTime.format(Date())
        let plan = Planning.resolvePlan(
            node: node, labels: nodeObject.metadata.labels ?? [:], devices: devices, maps: maps.list(), current: current, now: now)
        for n in plan.resolution.networks where n.outcome == .invalid {
            logger.warning("skipping invalid map", metadata: ["network": .string(n.network), "reason": .string(n.message)])
        }

        let mappingError = await writeMappingFile(plan.next, current: current)
        let conditions = Planning.agentConditions(resolution: plan.resolution, mappingError: mappingError, now: now)
        let effects = state.withLock { s in
            s.record(plan, devices: devices, mappingError: mappingError, conditions: conditions, agentVersion: configuration.agentVersion)
        }

        for item in effects.events {
            events.record(uid: effects.uid, type: item.type, reason: item.reason, message: item.message)
        }
        for (network, result) in effects.previousResults where plan.results[network] != result {
            metrics.resolutions.remove(labels: ["network": network, "result": result])
        }
        for (network, result) in plan.results {
            metrics.resolutions.set(1, labels: ["network": network, "result": result])
        }
        publishKick.yield()
        return mappingError == nil
    }

    /// Writes `next` (nil: the content is unchanged, so only makes sure the file is still there and
    /// intact); logs and counts what happened. Returns the failure, if the write failed.
    func writeMappingFile(_ next: NodeNetworkMapping?, current: NodeNetworkMapping?) async -> String? {
        let path = configuration.mappingFile
        // fsync and rename block: on the worker thread, not the cooperative pool.
        let outcome: Result<Bool, MappingFileError> = await fileWorker.run {
            do throws(MappingFileError) {
                if let next {
                    try MappingFile.write(next, to: path)
                    return .success(true)
                } else if let current {
                    // Same content: make sure the file is still there and intact (cheap read + compare).
                    return .success(try MappingFile.writeIfChanged(current, to: path))
                }
                return .success(false)
            } catch {
                return .failure(error)
            }
        }
        switch outcome {
        case .success(let wrote):
            guard wrote else { return nil }
            if next == nil {
                metrics.mappingRestores.increment()
                logger.warning("restored the mapping file (it was missing or its content had changed)", metadata: ["path": .string(path)])
            }
            metrics.mappingWrites.increment()
            let networks = (next ?? current)?.networks ?? [:]
            logger.info("wrote mapping file", metadata: [
                "generation": .stringConvertible(next?.generation ?? current?.generation ?? 0),
                "networks": .string(networks.keys.sorted().map { "\($0)=\(networks[$0]?.device ?? "")" }.joined(separator: ",")),
            ])
            return nil
        case .failure(let error):
            return failed("mapping-file", AgentError.mappingFile(path: path, cause: error).description)
        }
    }

    /// Before a resolution is possible (maps not listed yet, Node or devices unknown): makes
    /// sure the file the agent last wrote, or found at start, is still there and intact.
    func keepFileIntact() async -> Bool {
        guard let current = state.withLock({ $0.mapping }) else { return true }
        let path = configuration.mappingFile
        let outcome: Result<Bool, MappingFileError> = await fileWorker.run {
            do throws(MappingFileError) {
                return .success(try MappingFile.writeIfChanged(current, to: path))
            } catch {
                return .failure(error)
            }
        }
        switch outcome {
        case .success(let wrote):
            if wrote {
                metrics.mappingRestores.increment()
                metrics.mappingWrites.increment()
                logger.warning("restored the mapping file (it was missing or its content had changed)", metadata: ["path": .string(path)])
            }
            state.withLock { s in
                if s.mappingError?.hasPrefix("mapping file '") == true { s.mappingError = nil }
            }
            return true
        case .failure(let error):
            let message = failed("mapping-file", AgentError.mappingFile(path: path, cause: error).description)
            state.withLock { $0.mappingError = message }
            return false
        }
    }

    // MARK: - Publish

    func publishLoop() async {
        var backoff = configuration.retryBackoff
        for await _ in publishKicks {
            if Task.isCancelled { return }
            defer { trimKick.yield() }
            do {
                try await publishOnce()
                backoff.reset()
                state.withLock { $0.publishError = nil }
            } catch .nodeMissing(let node) {
                // Not retried on a timer: the Node watch asks again when the Node appears.
                logger.warning("\(AgentError.nodeMissing(node: node))")
                state.withLock { $0.publishError = "\(AgentError.nodeMissing(node: node))" }
            } catch {
                if Task.isCancelled { return }
                let message = failed("publish", "\(error)", level: .warning)
                state.withLock { $0.publishError = message }
                let delay = backoff.next(now: .now)
                do { try await Task.sleep(for: delay) } catch { return }
                publishKick.yield()
            }
        }
    }

    /// Creates the `NodeDevice` if needed and writes its status when it differs from what is
    /// published in anything but timestamps.
    func publishOnce() async throws(AgentError) {
        let name = configuration.nodeName
        guard nodeDevices.hasSynced, nodes.hasSynced else { return }
        guard let desired = state.withLock({ $0.desired }) else { return }
        let publisher = NodeDevicePublisher(nodeName: name, client: client.resource(NodeDevice.self))
        var current = state.withLock { $0.published }
        // Owned by the Node as it is now: a Node deleted and created again has a new UID, and
        // a reference to the old one would let the garbage collector delete the NodeDevice.
        let nodeUID = nodes.get(name: name)?.metadata.uid
        let owned = nodeUID.map { uid in
            current?.metadata.ownerReferences?.contains { $0.kind == "Node" && $0.apiVersion == "v1" && $0.uid == uid } ?? false
        } ?? !(current?.metadata.ownerReferences?.isEmpty ?? true)
        if current == nil || !owned {
            guard nodeUID != nil else { throw .nodeMissing(node: name) }
            // Read the Node itself rather than trust the watch cache: the NodeDevice's deletion
            // by the garbage collector can arrive before the Node's own, and an owner reference
            // to a Node that is already gone would be wrong from the start.
            let live: Node?
            do { live = try await client.resource(Node.self).getIfExists(name) } catch {
                throw .publish(node: name, step: "read owner Node of", cause: "\(error)")
            }
            guard let uid = live?.metadata.uid else { throw .nodeMissing(node: name) }
            if let stale = current?.metadata.ownerReferences?.first(where: { $0.kind == "Node" }) {
                logger.info("repairing the NodeDevice's owner reference: the Node was created again", metadata: [
                    "oldUID": .string(stale.uid), "newUID": .string(uid)])
            }
            let owner = OwnerReference(apiVersion: "v1", kind: "Node", name: name, uid: uid)
            current = try await publisher.ensureExists(owner: owner, current: current)
            metrics.publishes.increment()
            state.withLock { $0.published = current }
        }
        guard let current, Planning.needsPublish(desired: desired, published: current.status) else { return }
        let written = try await publisher.writeStatus(desired, current: current)
        if let written {
            metrics.publishes.increment()
            logger.info("published NodeDevice status", metadata: [
                "devices": .stringConvertible(desired.devices?.count ?? 0),
                "networks": .stringConvertible(desired.networks?.count ?? 0),
            ])
            state.withLock { $0.published = written }
        }
    }

    // MARK: - Heap

    /// Trims the heap `heapTrimDelay` after work (kicks arriving meanwhile cause one more trim
    /// at most): the start-up lists and probes, and every later burst, leave free memory behind.
    func trimLoop() async {
        for await _ in trimKicks {
            do { try await Task.sleep(for: Self.heapTrimDelay) } catch { return }
            HeapTuning.releaseFreeMemory()
        }
    }

    // MARK: - Watches

    func runWatcher<O: KubernetesObject>(
        _ source: any ListWatchSource<O>, _ config: WatcherConfiguration, _ store: Store<O>, _ what: String,
        keep: @escaping @Sendable (O) -> O = { $0 }, onChange: @escaping @Sendable () -> Void
    ) async {
        let metrics = self.metrics
        var logger = self.logger
        logger[metadataKey: "watch"] = .string(what)
        let watcher = Watcher(
            source: source, configuration: config, backoff: configuration.watchBackoff, logger: logger,
            onFailure: { _ in
                metrics.watchRestarts.increment()
                metrics.errors.increment(labels: ["step": "watch"])
            })
        await watcher.run { event in
            let wasSynced = store.hasSynced
            let changes = store.apply(event.map(keep))
            if !changes.isEmpty || !wasSynced {
                onChange()
                self.trimKick.yield()
            }
        }
    }
}

/// A failed health check's reason.
struct HealthFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

extension NodeAgent.State {
    /// Records a resolution once its mapping file was written (or failed to be, `mappingError`): the
    /// mapping, the status to publish, the results and what the Events compare against next time.
    /// Returns what is left to do outside the lock.
    mutating func record(
        _ plan: ResolvePlan, devices: [NetworkDevice], mappingError: String?, conditions: [Condition], agentVersion: String
    ) -> NodeAgent.ResolveEffects {
        if mappingError == nil, let next = plan.next { mapping = next }
        mappingWritten = mappingError == nil
        self.mappingError = mappingError
        desired = NodeDeviceStatus(
            devices: devices, networks: plan.statuses, probedAt: probedAt, agentVersion: agentVersion, conditions: conditions)
        let invalid = plan.invalid
        let effects = NodeAgent.ResolveEffects(
            previousResults: resultLabels,
            events: EventPlan.items(
                previous: lastNetworks, current: plan.statuses, invalid: invalid, previousInvalid: lastInvalid,
                mappingError: mappingError, previousMappingError: lastMappingError),
            uid: published?.metadata.uid)
        resultLabels = plan.results
        lastNetworks = plan.statuses
        lastInvalid = invalid
        lastMappingError = mappingError
        return effects
    }
}
