import AutomagicAPI
import FoundationEssentials
import JSON
import KubeClient
import KubeCore
import KubeRuntime
import Logging
import Resolver
import Synchronization

/// The Automagic controller: reconciles `NetworkDeviceMap`s and `NodeDevice`s into map status,
/// node labels and extended resources, Multus NetworkAttachmentDefinitions, Events, and the
/// clean-up of `NodeDevice`s whose Node is gone.
///
/// Level-based: informers cache maps, NodeDevices, Nodes and Namespaces. A node reconcile re-resolves
/// that node from the caches (only when its labels, devices or the maps changed), stores the result in
/// an index and marks the maps whose result changed; a map reconcile aggregates the index, renders
/// NADs and writes status only when it differs. Node writes are merge patches of the controller's own
/// keys; map status writes are compare-and-swap on the resourceVersion.
///
/// ```swift
/// let client = try KubernetesClient(configuration: KubeConfigLoader.defaultConfiguration())
/// let controller = AutomagicController(client: client)
/// try await controller.run()          // until the task is cancelled
/// ```
public final class AutomagicController: Sendable {
    /// The settings.
    public let options: ControllerOptions
    /// Metrics (reconciles, durations, queue depth, errors, API writes).
    public let metrics: ControllerMetrics
    let client: KubernetesClient
    let logger: Logger
    let maps: Informer<NetworkDeviceMap>
    let devices: Informer<CachedNodeDevice>
    let nodes: Informer<ClusterNode>
    let namespaces: Informer<Namespace>
    /// The NADs this controller manages (label-selected), so that a NAD edited or deleted by hand is
    /// repaired at once rather than on the next ``ControllerOptions/nadResyncPeriod``. Started only once
    /// the NetworkAttachmentDefinition CRD is served (Multus is optional).
    let nads: Informer<DynamicObject>
    let index = ClusterIndex()
    let mapClient: ResourceClient<NetworkDeviceMap>
    let nodeClient: ResourceClient<ClusterNode>
    let deviceClient: ResourceClient<CachedNodeDevice>
    let nadClient: ResourceClient<DynamicObject>
    /// `resource.k8s.io/v1` DeviceClasses of `dra` networks (when the server serves them).
    let deviceClassClient: ResourceClient<DynamicObject>
    let recorder: EventRecorder
    let state = Mutex(RuntimeState())

    struct NADState: Sendable {
        var fingerprint: Int
        var syncedAt: ContinuousClock.Instant
        var report: NADReport
    }
    struct WrittenStatus: Sendable {
        var resourceVersionBefore: String?
        var status: NetworkDeviceMapStatus
    }
    struct RuntimeState: Sendable {
        var synced = false
        var leading = false
        var nad: [String: NADState] = [:]
        var written: [String: WrittenStatus] = [:]
        var reportedMissing: [String: Set<String>] = [:]
        /// Whether DeviceClasses are served, and when that was last asked.
        var deviceClassProbe: (served: Bool, at: ContinuousClock.Instant)? = nil
        /// DeviceClasses this controller rendered (or found with its label).
        var renderedClasses: Set<String> = []
    }

    /// The queues of one leadership term.
    struct Term: Sendable {
        let nodeQueue: WorkQueue<String>
        let mapQueue: WorkQueue<String>
    }

    /// Creates a controller over `client`.
    public init(client: KubernetesClient, options: ControllerOptions = ControllerOptions(),
                metrics: ControllerMetrics = ControllerMetrics(), logger: Logger = Logger(label: "automagic.controller")) {
        self.client = client
        self.options = options
        self.metrics = metrics
        self.logger = logger
        var informerLogger = logger
        informerLogger[metadataKey: "component"] = "informer"
        maps = Informer(source: client.resource(NetworkDeviceMap.self), logger: informerLogger)
        devices = Informer(source: client.resource(CachedNodeDevice.self), logger: informerLogger)
        nodes = Informer(source: client.resource(ClusterNode.self), logger: informerLogger)
        namespaces = Informer(source: client.resource(Namespace.self), logger: informerLogger)
        mapClient = client.resource(NetworkDeviceMap.self)
        // Node patches get their own connection pool and rate limiter, so that labelling thousands of
        // nodes at start-up never delays map status, Events or NADs.
        let nodeWriter = (try? KubernetesClient(configuration: client.configuration, logger: logger)) ?? client
        nodeClient = nodeWriter.resource(ClusterNode.self)
        deviceClient = nodeWriter.resource(CachedNodeDevice.self)
        nadClient = client.dynamic(.networkAttachmentDefinitions)
        deviceClassClient = client.dynamic(deviceClassResource)
        var nadWatch = WatcherConfiguration()
        nadWatch.labelSelector = "\(NADRenderer.managedByLabel)=\(NADRenderer.managedByValue)"
        nads = Informer(source: nadClient, configuration: nadWatch, logger: informerLogger)
        recorder = EventRecorder(
            events: client.resource(Event.self, namespace: options.eventNamespace), namespace: options.eventNamespace,
            component: options.component, instance: options.instance, metrics: metrics, logger: logger)
    }

    /// Whether every cache has completed its first list (readiness).
    public var hasSynced: Bool { state.withLock { $0.synced } }

    /// Whether this instance is currently reconciling (it leads, or runs without leader election).
    public var isLeading: Bool { state.withLock { $0.leading } }

    /// The latest list/watch failure of any cache, for health reporting.
    public var cacheFailure: String? {
        maps.lastFailure ?? devices.lastFailure ?? nodes.lastFailure ?? namespaces.lastFailure
    }

    /// Runs until the calling task is cancelled: caches always (a standby keeps them warm), the
    /// reconcilers only while leading. Throws ``ControllerError/leadershipLost(lease:)`` when
    /// leadership is lost (the process should exit and restart).
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await self.maps.run() }
            group.addTask { await self.devices.run() }
            group.addTask { await self.nodes.run() }
            group.addTask { await self.namespaces.run() }
            group.addTask { await self.runNADInformer() }
            group.addTask {
                guard await waitForCacheSync(self.maps, self.devices, self.nodes, self.namespaces) else { return }
                self.state.withLock { $0.synced = true }
                self.logger.info("caches synced", metadata: [
                    "maps": "\(self.maps.store.count)", "nodes": "\(self.nodes.store.count)", "nodedevices": "\(self.devices.store.count)",
                ])
                try await self.leadOrCampaign()
                throw CancellationError()  // stop the caches too
            }
        }
    }

    private func leadOrCampaign() async throws {
        guard let le = options.leaderElection else {
            try await lead()
            return
        }
        let configuration = LeaderElectionConfiguration(
            identity: le.identity, leaseDuration: le.leaseDuration, renewDeadline: le.renewDeadline, retryPeriod: le.retryPeriod,
            releaseOnCancel: true)
        let elector = LeaderElector(
            store: client.resource(Lease.self, namespace: le.namespace), leaseName: le.leaseName, namespace: le.namespace,
            configuration: configuration, logger: logger)
        let outcome: LeaderElectionOutcome
        do {
            outcome = try await elector.run { try await self.lead() }
        } catch let error as ControllerError {
            throw error
        } catch is CancellationError {
            return
        } catch {
            throw ControllerError.leaderElection(cause: "\(error)")
        }
        if outcome == .leadershipLost { throw ControllerError.leadershipLost(lease: "\(le.namespace)/\(le.leaseName)") }
    }

    // MARK: - Leading

    func lead() async throws {
        state.withLock { $0.leading = true }
        defer { state.withLock { $0.leading = false } }
        logger.info("starting reconcilers")
        let term = Term(nodeQueue: WorkQueue(), mapQueue: WorkQueue())
        // Subscribe before the initial pass so that no change is missed.
        let mapChanges = maps.changes(replay: false)
        let deviceChanges = devices.changes(replay: false)
        let nodeChanges = nodes.changes(replay: false)
        let namespaceChanges = namespaces.changes(replay: false)
        let nadChanges = nads.changes(replay: false)

        index.updateMaps(maps.store.list())
        let started = ContinuousClock.now
        await initialResolve()
        logger.info("resolved every node", metadata: [
            "nodes": "\(index.nodeNames.count)", "maps": "\(index.maps.compiled.count)", "seconds": "\((ContinuousClock.now - started).inSeconds)",
        ])

        let nodeController = ReconcileRunner<String>(
            name: "nodes", queue: term.nodeQueue, concurrency: options.nodeConcurrency, shutdownGracePeriod: .seconds(10), logger: logger
        ) { name in
            try await self.instrumented("Node") { try await self.reconcileNode(name, term) }
        }
        let mapController = ReconcileRunner<String>(
            name: "maps", queue: term.mapQueue, concurrency: options.mapConcurrency, shutdownGracePeriod: .seconds(10), logger: logger
        ) { name in
            try await self.instrumented("NetworkDeviceMap") { try await self.reconcileMap(name, term) }
        }
        mapController.watch(mapChanges) { change in self.onMapChange(change, term) }
        nodeController.watch(deviceChanges) { change in
            if case .updated(let old, let new) = change, old.metadata.uid == new.metadata.uid,
                old.metadata.deletionTimestamp == new.metadata.deletionTimestamp, DeviceInput(old) == DeviceInput(new)
            {
                return []  // only metadata changed (status.networks, probedAt and conditions are not cached)
            }
            return [change.object.metadata.name ?? ""]
        }
        nodeController.watch(nodeChanges) { change in
            if case .updated(let old, let new) = change, old.metadata.uid == new.metadata.uid, old.labels == new.labels {
                return []  // heartbeats
            }
            return [change.object.metadata.name ?? ""]
        }
        mapController.watch(nadChanges) { change in self.onNADChange(change) }
        mapController.watch(namespaceChanges) { change in
            if case .updated = change { return [] }
            return self.index.networks(renderingIn: change.object.metadata.name ?? "")
        }

        var all = Set(nodes.store.keys().map(\.name))
        for key in devices.store.keys() { all.insert(key.name) }
        for name in all.sorted() { term.nodeQueue.add(name) }
        for key in maps.store.keys() { term.mapQueue.add(key.name) }

        await withDiscardingTaskGroup { group in
            group.addTask { await nodeController.run() }
            group.addTask { await mapController.run() }
            group.addTask {
                while !Task.isCancelled {
                    self.metrics.queueDepth.set(Double(term.nodeQueue.readyCount), labels: ["kind": "Node"])
                    self.metrics.queueDepth.set(Double(term.mapQueue.readyCount), labels: ["kind": "NetworkDeviceMap"])
                    do { try await Task.sleep(for: .seconds(1)) } catch { break }
                }
            }
        }
        logger.info("reconcilers stopped")
    }

    /// Resolves every node once, in parallel, before the reconcilers start (so that the first map
    /// statuses are computed over complete data).
    func initialResolve() async {
        let snapshot = index.maps
        var work: [(String, [String: String], DeviceInput)] = []
        for node in nodes.store.list() {
            guard let name = node.metadata.name else { continue }
            work.append((name, node.labels, DeviceInput(devices.store.get(name: name))))
        }
        let workers = max(2, min(8, ProcessInfo.processInfo.activeProcessorCount))
        let chunk = max(1, (work.count + workers - 1) / workers)
        let index = self.index
        await withTaskGroup(of: Void.self) { group in
            for start in stride(from: 0, to: work.count, by: chunk) {
                let slice = Array(work[start..<min(work.count, start + chunk)])
                group.addTask {
                    for (name, labels, input) in slice {
                        let results = ClusterIndex.resolve(node: name, labels: labels, input: input, maps: snapshot)
                        _ = index.store(name, labels: labels, input: input, version: snapshot.version, results: results)
                    }
                }
            }
        }
    }

    func onMapChange(_ change: StoreChange<NetworkDeviceMap>, _ term: Term) -> [String] {
        if index.updateMaps(maps.store.list()) {
            logger.debug("maps changed: resolving every node again")
            for name in index.nodeNames { term.nodeQueue.add(name) }
            for key in nodes.store.keys() { term.nodeQueue.add(key.name) }
        }
        return [change.object.network]
    }

    func instrumented(_ kind: String, _ body: () async throws -> ReconcileResult) async throws -> ReconcileResult {
        let start = ContinuousClock.now
        do {
            let result = try await body()
            metrics.reconciles.increment(labels: ["kind": kind, "result": "success"])
            metrics.duration.observe((ContinuousClock.now - start).inSeconds, labels: ["kind": kind])
            return result
        } catch {
            metrics.reconciles.increment(labels: ["kind": kind, "result": "error"])
            metrics.errors.increment(labels: ["kind": kind])
            metrics.duration.observe((ContinuousClock.now - start).inSeconds, labels: ["kind": kind])
            throw error
        }
    }

    func markDirty(_ networks: [String], _ term: Term) {
        for network in Set(networks) { term.mapQueue.add(network, after: options.statusDebounce) }
    }

    // MARK: - Nodes

    func reconcileNode(_ name: String, _ term: Term) async throws -> ReconcileResult {
        guard !name.isEmpty else { return .done }
        guard let node = nodes.store.get(name: name) else {
            markDirty(index.remove(name), term)
            if let nd = devices.store.get(name: name), nd.metadata.deletionTimestamp == nil {
                try await cleanUp(nd)
            }
            return .done
        }
        let input = DeviceInput(devices.store.get(name: name))
        let labels = node.labels
        if index.needsResolve(name, labels: labels, input: input) {
            let snapshot = index.maps
            let results = ClusterIndex.resolve(node: name, labels: labels, input: input, maps: snapshot)
            let (changed, outdated) = index.store(name, labels: labels, input: input, version: snapshot.version, results: results)
            markDirty(changed, term)
            if outdated { term.nodeQueue.add(name) }
        }
        // Labels only: the capacity of exclusive networks (`automagic.dev/<network>`) is the
        // kubelet's, fed by the device plugin; a patch from here would fight it.
        do {
            if let patch = NodeSignals.labelPatch(current: labels, desired: index.labels(name)) {
                _ = try await nodeClient.patch(name, .merge(["metadata": ["labels": patch]]))
                metrics.wrote("nodes", object: name)
                logger.debug("patched node labels", metadata: ["node": "\(name)", "patch": "\(patch.jsonString())"])
            }
        } catch where error.isNotFound {
            return .done  // the node is gone; its delete event follows
        } catch {
            metrics.errors.increment(labels: ["kind": "Node"])
            throw ControllerError.api(verb: "patch", what: "node", name: name, cause: error)
        }
        return .done
    }

    /// Deletes a NodeDevice whose Node is gone (confirmed by a live read: the Node cache may lag behind
    /// a new node's first NodeDevice), with a uid precondition so a re-created object is left alone.
    func cleanUp(_ nd: CachedNodeDevice) async throws {
        let name = nd.metadata.name ?? ""
        do {
            if try await nodeClient.getIfExists(name) != nil { return }
        } catch {
            throw ControllerError.api(verb: "get", what: "node", name: name, cause: error)
        }
        do {
            try await deviceClient.delete(name, options: DeleteOptions(preconditionUID: nd.metadata.uid))
            metrics.wrote("nodedevices", object: name)
            logger.info("deleted NodeDevice of a node that no longer exists", metadata: ["node": "\(name)"])
        } catch where error.isNotFound || error.isConflict {
            return  // already gone, or replaced by a new object
        } catch {
            metrics.errors.increment(labels: ["kind": "NodeDevice"])
            throw ControllerError.api(verb: "delete", what: "NodeDevice", name: name, cause: error)
        }
    }

    // MARK: - Maps

    func reconcileMap(_ name: String, _ term: Term) async throws -> ReconcileResult {
        guard let map = maps.store.get(name: name) else {
            state.withLock { s in
                s.nad[name] = nil
                s.written[name] = nil
                s.reportedMissing[name] = nil
            }
            try await deleteNADs(network: name, keeping: [], report: nil)
            _ = await syncDeviceClass(network: name, map: nil)
            return .done
        }
        guard var aggregate = index.aggregate(name) else {
            _ = onMapChange(.added(map), term)
            return .requeueAfter(options.statusDebounce)
        }
        if aggregate.staleNodes > 0 { return .requeueAfter(.milliseconds(300)) }
        ClusterIndex.fillDetails(&aggregate, network: name, maps: index.maps)

        let (report, retry) = await syncNADs(map)
        let deviceClass = await syncDeviceClass(network: name, map: map)
        let previous = map.status
        let (status, events) = StatusBuilder.build(
            map: map, aggregate: aggregate, nad: report, deviceClass: deviceClass, previous: previous, now: KubeTime.format(Date()))
        let alreadyWritten = state.withLock { s in
            guard let w = s.written[name] else { return false }
            return w.resourceVersionBefore == map.metadata.resourceVersion && w.status == status
        }
        if status != previous && !alreadyWritten {
            var updated = map
            updated.status = status
            do {
                _ = try await mapClient.updateStatus(updated)
                metrics.wrote("networkdevicemaps/status", object: name)
                state.withLock { $0.written[name] = WrittenStatus(resourceVersionBefore: map.metadata.resourceVersion, status: status) }
                logger.debug("wrote map status", metadata: [
                    "network": "\(name)", "matched": "\(status.nodes?.matched ?? 0)", "total": "\(status.nodes?.total ?? 0)",
                ])
            } catch where error.isNotFound {
                return .done
            } catch where error.isConflict {
                // Someone else wrote the map since the cache saw it: recompute from the fresh object.
                logger.debug("status write raced another writer; retrying", metadata: ["network": "\(name)"])
                return .requeueAfter(.milliseconds(200))
            } catch {
                metrics.errors.increment(labels: ["kind": "NetworkDeviceMap"])
                throw ControllerError.api(verb: "update", what: "status of NetworkDeviceMap", name: name, cause: error)
            }
            for event in events { await recorder.record(event, about: map) }
        }
        let missing = Set(report.missingNamespaces)
        let newlyMissing = state.withLock { s -> Set<String> in
            let fresh = missing.subtracting(s.reportedMissing[name] ?? [])
            s.reportedMissing[name] = missing
            return fresh
        }
        for ns in newlyMissing.sorted() {
            await recorder.record(
                MapEvent(type: "Warning", reason: "NamespaceNotFound",
                         message: "namespace \(ns) in spec.networkAttachmentDefinition.namespaces does not exist; its NetworkAttachmentDefinition is not rendered"),
                about: map)
        }
        let classRetry = deviceClass.map { !$0.rendered && $0.reason != "NotExpressible" } ?? false
        return .requeueAfter(retry || classRetry ? options.nadRetryPeriod : options.resyncPeriod)
    }

    // MARK: - NetworkAttachmentDefinitions

    /// Waits until the NetworkAttachmentDefinition CRD is served (probing every
    /// ``ControllerOptions/nadRetryPeriod``), then runs the NAD informer until cancelled. Without
    /// Multus the probe answers 404 and nothing else happens: no watch errors, no log noise.
    func runNADInformer() async {
        var logged = false
        while !Task.isCancelled {
            do {
                _ = try await nadClient.list(ListOptions(labelSelector: NADRenderer.selector(for: "probe"), limit: 1))
                break
            } catch {
                if !logged {
                    logger.debug("NetworkAttachmentDefinitions not served yet; not watching them: \(error)")
                    logged = true
                }
            }
            do { try await Task.sleep(for: options.nadRetryPeriod) } catch { return }
        }
        guard !Task.isCancelled else { return }
        logger.debug("watching managed NetworkAttachmentDefinitions")
        await nads.run()
    }

    /// The networks to reconcile after a change of a managed NAD: none when the NAD still is what the
    /// map renders (the controller's own writes come back this way), else the NAD's network, with its
    /// NAD state forgotten so that the next reconcile re-reads and repairs the NADs.
    func onNADChange(_ change: StoreChange<DynamicObject>) -> [String] {
        let nad = change.object
        guard let network = nad.metadata.labels?[NADRenderer.networkLabel], !network.isEmpty else { return [] }
        if let map = maps.store.get(name: network), let namespace = nad.metadata.namespace {
            let wanted = NADRenderer.namespaces(of: map).contains(namespace) && nad.metadata.name == network
            switch change {
            case .added(let object), .updated(_, let object):
                if wanted && object.metadata.deletionTimestamp == nil && NADRenderer.isUpToDate(object, for: map) { return [] }
            case .deleted:
                if !wanted { return [] }
            }
        }
        logger.debug("managed NetworkAttachmentDefinition changed", metadata: [
            "network": "\(network)", "namespace": "\(nad.metadata.namespace ?? "")",
        ])
        state.withLock { $0.nad[network] = nil }
        return [network]
    }

    /// Renders the map's NADs; returns what went wrong (for status) and whether to retry soon.
    func syncNADs(_ map: NetworkDeviceMap) async -> (NADReport, retry: Bool) {
        let name = map.network
        let wanted = NADRenderer.namespaces(of: map)
        let present = wanted.filter { ns in
            guard let object = namespaces.store.get(name: ns) else { return false }
            return object.metadata.deletionTimestamp == nil
        }
        var report = NADReport()
        report.missingNamespaces = wanted.filter { !present.contains($0) }
        var hasher = Hasher()
        hasher.combine(map.metadata.uid)
        hasher.combine(map.spec.networkAttachmentDefinition)
        hasher.combine(map.spec.isExclusive)  // the resourceName annotation
        hasher.combine(map.spec.isDRA)  // … which a dra network does not get
        hasher.combine(present)
        let fingerprint = hasher.finalize()
        let now = ContinuousClock.now
        if let last = state.withLock({ $0.nad[name] }), last.fingerprint == fingerprint, now - last.syncedAt < options.nadResyncPeriod,
            last.report.errors.isEmpty, !last.report.crdMissing
        {
            return (report, false)
        }
        let existing: [DynamicObject]
        do {
            existing = try await nadClient.list(ListOptions(labelSelector: NADRenderer.selector(for: name))).items
        } catch where error.httpCode == 404 {
            if map.spec.networkAttachmentDefinition != nil { report.crdMissing = true }
            state.withLock { $0.nad[name] = NADState(fingerprint: fingerprint, syncedAt: now, report: report) }
            return (report, report.crdMissing)
        } catch {
            if map.spec.networkAttachmentDefinition == nil {
                // Only looking for leftovers: not a problem of this map; try again later.
                logger.debug("failed to list NetworkAttachmentDefinitions of network '\(name)': \(error)", metadata: ["network": "\(name)"])
                return (report, true)
            }
            report.errors.append("failed to list NetworkAttachmentDefinitions of network '\(name)': \(error)")
            return (report, true)
        }
        var byNamespace: [String: DynamicObject] = [:]
        for nad in existing where nad.metadata.name == name {
            if let ns = nad.metadata.namespace { byNamespace[ns] = nad }
        }
        for ns in present {
            do {
                if let current = byNamespace[ns] {
                    if !NADRenderer.isUpToDate(current, for: map) {
                        _ = try await nadClient.update(NADRenderer.render(map, namespace: ns, existing: current))
                        metrics.wrote("network-attachment-definitions", object: "\(ns)/\(name)")
                        logger.info("updated NetworkAttachmentDefinition", metadata: ["network": "\(name)", "namespace": "\(ns)"])
                    }
                } else {
                    _ = try await nadClient.create(NADRenderer.render(map, namespace: ns))
                    metrics.wrote("network-attachment-definitions", object: "\(ns)/\(name)")
                    logger.info("created NetworkAttachmentDefinition", metadata: ["network": "\(name)", "namespace": "\(ns)"])
                }
            } catch where error.isAlreadyExists {
                report.errors.append("NetworkAttachmentDefinition '\(ns)/\(name)' exists and is not managed by automagic; left alone")
            } catch where error.isNotFound && byNamespace[ns] == nil {
                report.missingNamespaces.append(ns)
            } catch {
                metrics.errors.increment(labels: ["kind": "NetworkAttachmentDefinition"])
                report.errors.append("failed to write NetworkAttachmentDefinition '\(ns)/\(name)': \(error)")
            }
        }
        await deleteNADs(network: name, keeping: Set(present), existing: byNamespace, report: &report)
        report.missingNamespaces.sort()
        state.withLock { $0.nad[name] = NADState(fingerprint: fingerprint, syncedAt: now, report: report) }
        return (report, !report.errors.isEmpty)
    }

    /// Deletes the managed NADs of `network` outside `keeping` (all of them for a deleted map).
    func deleteNADs(network: String, keeping: Set<String>, report: NADReport?) async throws {
        let existing: [DynamicObject]
        do {
            existing = try await nadClient.list(ListOptions(labelSelector: NADRenderer.selector(for: network))).items
        } catch where error.httpCode == 404 {
            return
        } catch {
            throw ControllerError.api(verb: "list", what: "NetworkAttachmentDefinitions of network", name: network, cause: error)
        }
        var byNamespace: [String: DynamicObject] = [:]
        for nad in existing { if let ns = nad.metadata.namespace { byNamespace[ns] = nad } }
        var scratch = NADReport()
        await deleteNADs(network: network, keeping: keeping, existing: byNamespace, report: &scratch)
        if !scratch.errors.isEmpty { throw ControllerError.cleanUp(what: "NetworkAttachmentDefinitions of network", name: network, cause: scratch.errors.joined(separator: "; ")) }
    }

    private func deleteNADs(network: String, keeping: Set<String>, existing: [String: DynamicObject], report: inout NADReport) async {
        for (ns, nad) in existing.sorted(by: { $0.key < $1.key }) where !keeping.contains(ns) {
            let name = nad.metadata.name ?? network
            do {
                try await nadClient.delete(name, options: DeleteOptions(preconditionUID: nad.metadata.uid), namespace: ns)
                metrics.wrote("network-attachment-definitions", object: "\(ns)/\(name)")
                logger.info("deleted NetworkAttachmentDefinition", metadata: ["network": "\(network)", "namespace": "\(ns)"])
            } catch where error.isNotFound || error.isConflict {
                continue
            } catch {
                metrics.errors.increment(labels: ["kind": "NetworkAttachmentDefinition"])
                report.errors.append("failed to delete NetworkAttachmentDefinition '\(ns)/\(name)': \(error)")
            }
        }
    }
}
