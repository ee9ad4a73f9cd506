import AutomagicAPI
import DRA
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
import Observability
import Synchronization

/// What the agent's `resource.k8s.io/v1` ResourceSlices should say, and the writes that get them
/// there: pure, no I/O (``ResourceSlicePublisher`` does the writing).
///
/// One pool per node for driver `automagic.dev`: pool name = node name, `spec.nodeName` = node
/// name, slices `<node>-automagic.dev-<index>` of at most 128 devices (sorted by device name),
/// each owned by the Node (its current UID). `spec.pool.generation` goes up by one whenever the
/// device set or an attribute changes (not for an owner-reference repair).
public enum ResourceSlicePlanning {
    /// `resource.k8s.io/v1` `resourceslices`.
    public static let resourceType = ResourceType(
        group: "resource.k8s.io", version: "v1", resource: "resourceslices", kind: "ResourceSlice", namespaced: false)

    /// The name of slice `index` of `node`'s pool.
    public static func sliceName(node: String, index: Int) -> String { "\(node)-\(DRADriver.name)-\(index)" }

    /// Why `node`'s slices cannot be named (`<node>-automagic.dev-<n>` must be a DNS subdomain of at
    /// most 253 characters, room for 4-digit indexes), or nil.
    public static func nameError(node: String) -> String? {
        let longest = sliceName(node: node, index: 9999)
        guard longest.utf8.count > 253 else { return nil }
        return "the node name is too long for ResourceSlice names ('\(node)-\(DRADriver.name)-<n>' must be at most 253 characters; node names up to \(253 - longest.utf8.count + node.utf8.count) characters fit)"
    }

    /// The field selector of a node's own slices (list/watch).
    public static func fieldSelector(node: String) -> String { "spec.nodeName=\(node),spec.driver=\(DRADriver.name)" }

    /// One write.
    public enum Action: Equatable, Sendable {
        /// Create this slice.
        case create(PlannedSlice)
        /// Replace the stored slice with this one (its metadata carries the stored resourceVersion).
        case update(PlannedSlice)
        /// Delete the slice `name` (precondition: `uid`).
        case delete(name: String, uid: String)
    }

    /// A slice to write: its metadata and the canonical JSON of its `spec`.
    public struct PlannedSlice: Equatable, Sendable {
        public var metadata: ObjectMeta
        /// `spec` as ``JSONValue/serialized(pretty:)`` would write it (keys sorted).
        public var spec: [UInt8]

        public var name: String { metadata.name ?? "" }

        /// The request body: the whole ResourceSlice as JSON.
        public func body() throws(AgentError) -> [UInt8] {
            let meta: [UInt8]
            do { meta = Array(try JSONEncoder().encode(metadata)) } catch {
                throw .encode(what: "ResourceSlice '\(name)'", cause: "\(error)")
            }
            var out: [UInt8] = []
            out.reserveCapacity(spec.count + meta.count + 64)
            out.append(contentsOf: #"{"apiVersion":"resource.k8s.io/v1","kind":"ResourceSlice","metadata":"#.utf8)
            out.append(contentsOf: meta)
            out.append(contentsOf: #","spec":"#.utf8)
            out.append(contentsOf: spec)
            out.append(UInt8(ascii: "}"))
            return out
        }
    }

    /// Whether a slice named `name`, for `nodeName` and `driver`, is one this node's agent writes:
    /// named `<node>-automagic.dev-<n>`, for the node and the driver. Nothing else is ever updated
    /// or deleted.
    public static func isOwn(name: String?, nodeName: String?, driver: String?, node: String) -> Bool {
        let prefix = "\(node)-\(DRADriver.name)-"
        guard let name, name.hasPrefix(prefix), Int(name.dropFirst(prefix.count)) != nil else { return false }
        return nodeName == node && driver == DRADriver.name
    }

    static func isOwn(_ slice: ResourceSliceSummary, node: String) -> Bool {
        isOwn(name: slice.metadata.name, nodeName: slice.nodeName, driver: slice.driver, node: node)
    }

    /// The canonical JSON of each device's `spec.devices` entry (``DRADevice/json``), in order:
    /// what ``plan(node:nodeUID:devices:current:)`` takes. Each device's JSON tree lives only
    /// while it is written.
    public static func encode(_ devices: [DRADevice]) -> [[UInt8]] {
        devices.map { $0.json.serialized() }
    }

    /// The writes that turn `current` (the node's slices as stored) into the published form of
    /// `devices` (``encode(_:)``, sorted by name). Empty when nothing needs writing. No devices:
    /// no slices. Stored slices are compared by digest (``ResourceSliceSummary``).
    static func plan(node: String, nodeUID: String, devices: [[UInt8]], current: [ResourceSliceSummary]) -> [Action] {
        let own = current.filter { isOwn($0, node: node) }
        var byName: [String: ResourceSliceSummary] = [:]
        for s in own { if let n = s.metadata.name { byName[n] = s } }
        // Each slice's `spec.devices`, as JSON.
        let chunks = stride(from: 0, to: devices.count, by: DRADriver.maxDevicesPerSlice).map {
            devicesJSON(devices[$0..<min($0 + DRADriver.maxDevicesPerSlice, devices.count)])
        }
        let names = chunks.indices.map { sliceName(node: node, index: $0) }
        let generations = own.compactMap(\.generation)
        let highest = generations.max() ?? 0
        // The pool's content as stored: the same slices with the same devices, all of one generation.
        let sameContent = Set(byName.keys) == Set(names) && Set(generations).count <= 1
            && zip(names, chunks).allSatisfy { name, chunk in
                guard let s = byName[name] else { return false }
                return s.devicesDigest == ContentDigest(of: chunk) && s.resourceSliceCount == Int64(chunks.count) && s.poolName == node
            }
        let generation = sameContent && !own.isEmpty ? highest : highest + 1
        var actions: [Action] = []
        for (index, chunk) in chunks.enumerated() {
            let name = names[index]
            let spec = spec(node: node, generation: generation, count: chunks.count, devicesJSON: chunk)
            let owner = ownerReference(node: node, uid: nodeUID)
            guard let stored = byName[name] else {
                actions.append(.create(PlannedSlice(metadata: ObjectMeta(name: name, ownerReferences: [owner]), spec: spec)))
                continue
            }
            // Keep what others may have added to the metadata (labels, annotations, other owners).
            var owners = (stored.metadata.ownerReferences ?? []).filter { !($0.kind == "Node" && $0.apiVersion == "v1") }
            owners.append(owner)
            if ContentDigest(of: spec) != stored.specDigest || stored.metadata.ownerReferences != owners {
                var meta = stored.metadata
                meta.ownerReferences = owners
                actions.append(.update(PlannedSlice(metadata: meta, spec: spec)))
            }
        }
        for s in own.sorted(by: { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }) {
            guard let name = s.metadata.name, !names.contains(name) else { continue }
            actions.append(.delete(name: name, uid: s.metadata.uid ?? ""))
        }
        return actions
    }

    /// The owner reference to the Node as it is now.
    static func ownerReference(node: String, uid: String) -> OwnerReference {
        OwnerReference(apiVersion: "v1", kind: "Node", name: node, uid: uid)
    }

    /// `spec.devices` of one slice: the devices' JSON as an array.
    static func devicesJSON(_ devices: ArraySlice<[UInt8]>) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "[")]
        out.reserveCapacity(devices.reduce(2) { $0 + $1.count + 1 })
        for (n, device) in devices.enumerated() {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: device)
        }
        out.append(UInt8(ascii: "]"))
        return out
    }

    /// The canonical JSON of a slice's `spec` with `devicesJSON` as its devices: keys in sorted
    /// order, as ``JSONValue/serialized(pretty:)`` writes them, so that its digest equals the
    /// digest of the same spec read back from the server.
    static func spec(node: String, generation: Int64, count: Int, devicesJSON: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(devicesJSON.count + 2 * node.utf8.count + 128)
        out.append(contentsOf: #"{"devices":"#.utf8)
        out.append(contentsOf: devicesJSON)
        out.append(contentsOf: #","driver":"#.utf8)
        JSONValue.writeString(DRADriver.name, into: &out)
        out.append(contentsOf: #","nodeName":"#.utf8)
        JSONValue.writeString(node, into: &out)
        out.append(contentsOf: #","pool":"#.utf8)
        let pool: JSONValue = ["name": .string(node), "generation": .int(generation), "resourceSliceCount": .int(Int64(count))]
        pool.write(into: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }
}

/// Publishes the node's NICs as ResourceSlices (driver `automagic.dev`) and keeps them current:
/// watches the node's own slices (field selector `spec.nodeName`, `spec.driver`), and on every
/// change of the probed devices, the Node or the slices plans with ``ResourceSlicePlanning`` and
/// writes only the difference — nothing in steady state.
///
/// Starts only when the API server serves `resource.k8s.io/v1` (discovery); an older server is
/// logged once and the agent goes on without slices.
final class ResourceSlicePublisher: Sendable {
    let node: String
    let client: KubernetesClient
    let logger: Logger
    /// The node's slices, as the watch sees them (summaries: digests in place of the devices).
    let store = Store<ResourceSliceSummary>()
    let kick: AsyncStream<Void>.Continuation
    let kicks: AsyncStream<Void>
    let state = Mutex(PublisherState())

    struct PublisherState {
        /// Whether the server serves resource.k8s.io/v1 (nil: not asked yet).
        var served: Bool?
        /// The last write failure, for the agent's status.
        var error: String?
        /// What this publisher last wrote, by name (nil: deleted), until the watch has caught up.
        var written: [String: Written] = [:]
        /// Writes made (creates, updates, deletes).
        var writes = 0
        /// Plans made (each reconcile, whether or not it wrote).
        var plans = 0
    }

    struct Written {
        var slice: ResourceSliceSummary?
        var resourceVersion: Int64
    }

    /// Counts writes by verb (`automagic_agent_resourceslice_writes_total`).
    let writeCounter: CounterFamily?

    init(node: String, client: KubernetesClient, logger: Logger, writeCounter: CounterFamily? = nil) {
        self.node = node
        self.client = client
        self.logger = logger
        self.writeCounter = writeCounter
        (kicks, kick) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// The slices as the publisher knows them: the watch's, overridden by its own newer writes.
    func current() -> [ResourceSliceSummary] {
        let stored = store.list()
        return state.withLock { s -> [ResourceSliceSummary] in
            var byName: [String: ResourceSliceSummary] = [:]
            for o in stored { if let n = o.metadata.name { byName[n] = o } }
            for (name, w) in s.written {
                let seen = Int64(byName[name]?.metadata.resourceVersion ?? "") ?? 0
                if let slice = w.slice {
                    if seen >= w.resourceVersion { s.written[name] = nil } else { byName[name] = slice }
                } else if byName[name] == nil || seen > w.resourceVersion {
                    s.written[name] = nil  // gone from the watch too (or made again since)
                } else {
                    byName[name] = nil
                }
            }
            return byName.keys.sorted().compactMap { byName[$0] }
        }
    }

    /// Asks the server whether it serves ResourceSlices: true, false (404: an older server), or
    /// throws for anything else (retried).
    func discover() async throws -> Bool {
        do {
            let response = try await client.request("GET", path: ResourceSlicePlanning.resourceType.groupVersionPath)
            let list = try JSONValue.parse(Array(response.body))
            return (list["resources"]?.arrayValue ?? []).contains { $0["name"]?.stringValue == "resourceslices" }
        } catch let error as KubeClientError where error.httpCode == 404 {
            return false
        }
    }

    /// Plans and writes once. Returns the number of writes made.
    func reconcile(devices: [NetworkDevice], nodeUID: String) async throws -> Int {
        let encoded = ResourceSlicePlanning.encode(DRAAttributes.devices(devices, node: node))
        let actions = ResourceSlicePlanning.plan(node: node, nodeUID: nodeUID, devices: encoded, current: current())
        state.withLock { $0.plans += 1 }
        for action in actions {
            switch action {
            case .create(let slice):
                try check(name: slice.name, nodeName: node, driver: DRADriver.name)
                remember(try await write("POST", slice))
                writeCounter?.increment(labels: ["verb": "create"])
            case .update(let slice):
                try check(name: slice.name, nodeName: node, driver: DRADriver.name)
                remember(try await write("PUT", slice))
                writeCounter?.increment(labels: ["verb": "update"])
            case .delete(let name, let uid):
                guard let stored = current().first(where: { $0.metadata.name == name }) else { continue }
                try check(name: stored.metadata.name, nodeName: stored.nodeName, driver: stored.driver)
                try await Self.deleteIfPresent(client.resource(ResourceSliceSummary.self), name, uid: uid)
                let rv = Int64(stored.metadata.resourceVersion ?? "") ?? 0
                state.withLock { $0.written[name] = Written(slice: nil, resourceVersion: rv) }
                writeCounter?.increment(labels: ["verb": "delete"])
            }
        }
        if !actions.isEmpty {
            state.withLock { $0.writes += actions.count }
            logger.info("published ResourceSlices", metadata: [
                "devices": .stringConvertible(encoded.count), "writes": .stringConvertible(actions.count)])
        }
        return actions.count
    }

    /// Creates (POST) or replaces (PUT) a slice; returns the stored object's summary. The body is
    /// written and the answer read as JSON directly: a slice of 128 devices is ~40 KB, and going
    /// through Codable costs several times the request itself.
    func write(_ method: String, _ slice: ResourceSlicePlanning.PlannedSlice) async throws -> ResourceSliceSummary {
        let type = ResourceSlicePlanning.resourceType
        let path = method == "POST" ? type.path() : type.path(name: slice.name)
        let response = try await client.request(
            method, path: path, query: [("fieldManager", NodeDevicePublisher.fieldManager)], body: try slice.body(),
            contentType: "application/json")
        do {
            return try JSONReader.decode(ResourceSliceSummary.self, from: response.body)
        } catch {
            throw KubeClientError.decoding(url: client.url(path: path), message: "the answer to \(method) of ResourceSlice '\(slice.name)': \(error)")
        }
    }

    /// Deletes slice `name` (precondition: `uid`); one already gone is fine.
    static func deleteIfPresent(_ resource: ResourceClient<ResourceSliceSummary>, _ name: String, uid: String) async throws(KubeClientError) {
        do {
            try await resource.delete(name, options: DeleteOptions(preconditionUID: uid.isEmpty ? nil : uid))
        } catch where error.isNotFound {
        }
    }

    /// Refuses to write anything but this node's own slices.
    func check(name: String?, nodeName: String?, driver: String?) throws(AgentError) {
        guard ResourceSlicePlanning.isOwn(name: name, nodeName: nodeName, driver: driver, node: node) else {
            throw .foreignObject(kind: "ResourceSlice", name: name ?? "", node: node)
        }
    }

    func remember(_ slice: ResourceSliceSummary) {
        guard let name = slice.metadata.name, let rv = Int64(slice.metadata.resourceVersion ?? "") else { return }
        state.withLock { $0.written[name] = Written(slice: slice, resourceVersion: rv) }
    }
}

extension NodeAgent {
    /// Discovery, then the watch of the node's slices and the publishing loop (until cancelled).
    func runResourceSlices(_ publisher: ResourceSlicePublisher) async {
        if let problem = ResourceSlicePlanning.nameError(node: publisher.node) {
            logger.error("\(problem): no ResourceSlices are published")
            publisher.state.withLock { $0.error = problem }
            return
        }
        var backoff = configuration.watchBackoff
        while !Task.isCancelled {
            do {
                let served = try await publisher.discover()
                publisher.state.withLock { $0.served = served }
                if !served {
                    logger.notice("the API server does not serve resource.k8s.io/v1 (Kubernetes 1.34+): no ResourceSlices are published")
                    return
                }
                break
            } catch {
                if Task.isCancelled { return }
                logger.warning("cannot ask the API server for resource.k8s.io/v1: \(error)")
                do { try await Task.sleep(for: backoff.next(now: .now)) } catch { return }
            }
        }
        await withDiscardingTaskGroup { group in
            group.addTask {
                await self.runWatcher(
                    self.client.resource(ResourceSliceSummary.self),
                    WatcherConfiguration(fieldSelector: ResourceSlicePlanning.fieldSelector(node: publisher.node)),
                    publisher.store, "resourceslices"
                ) { publisher.kick.yield() }
            }
            group.addTask { await self.resourceSliceLoop(publisher) }
        }
    }

    func resourceSliceLoop(_ publisher: ResourceSlicePublisher) async {
        var backoff = configuration.retryBackoff
        for await _ in publisher.kicks {
            if Task.isCancelled { return }
            guard publisher.store.hasSynced, nodes.hasSynced,
                  let devices = state.withLock({ $0.devices }) else { continue }
            guard let uid = nodes.get(name: configuration.nodeName)?.metadata.uid else { continue }
            do {
                _ = try await publisher.reconcile(devices: devices, nodeUID: uid)
                backoff.reset()
                publisher.state.withLock { $0.error = nil }
            } catch {
                if Task.isCancelled { return }
                let message = failed("resourceslices", "cannot publish the ResourceSlices of node '\(configuration.nodeName)': \(error)",
                                     level: .warning)
                publisher.state.withLock { $0.error = message }
                do { try await Task.sleep(for: backoff.next(now: .now)) } catch { return }
                publisher.kick.yield()
            }
        }
    }
}
