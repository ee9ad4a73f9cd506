import AutomagicAPI
import DRA
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
        case create(JSONValue)
        /// Replace the stored slice with this one (it carries the stored resourceVersion).
        case update(JSONValue)
        /// Delete the slice `name` (precondition: `uid`).
        case delete(name: String, uid: String)
    }

    /// Whether `slice` is one this node's agent writes: named `<node>-automagic.dev-<n>`, for the
    /// node and the driver. Nothing else is ever updated or deleted.
    public static func isOwn(_ slice: JSONValue, node: String) -> Bool {
        let prefix = "\(node)-\(DRADriver.name)-"
        guard let name = slice[path: ["metadata", "name"]]?.stringValue, name.hasPrefix(prefix),
              Int(name.dropFirst(prefix.count)) != nil else { return false }
        return slice[path: ["spec", "nodeName"]]?.stringValue == node && slice[path: ["spec", "driver"]]?.stringValue == DRADriver.name
    }

    /// The writes that turn `current` (the node's slices as stored) into the published form of
    /// `devices` (``DRADevice/json`` entries, sorted by name). Empty when nothing needs writing.
    /// No devices: no slices.
    public static func plan(node: String, nodeUID: String, devices: [JSONValue], current: [JSONValue]) -> [Action] {
        let own = current.filter { isOwn($0, node: node) }
        var byName: [String: JSONValue] = [:]
        for s in own { if let n = s[path: ["metadata", "name"]]?.stringValue { byName[n] = s } }
        let chunks = stride(from: 0, to: devices.count, by: DRADriver.maxDevicesPerSlice).map {
            Array(devices[$0..<min($0 + DRADriver.maxDevicesPerSlice, devices.count)])
        }
        let names = chunks.indices.map { sliceName(node: node, index: $0) }
        let generations = own.compactMap { $0[path: ["spec", "pool", "generation"]]?.intValue }
        let highest = generations.max() ?? 0
        // The pool's content as stored: the same slices with the same devices, all of one generation.
        let sameContent = Set(byName.keys) == Set(names) && Set(generations).count <= 1
            && zip(names, chunks).allSatisfy { name, chunk in
                let s = byName[name]
                return s?[path: ["spec", "devices"]]?.arrayValue ?? [] == chunk
                    && s?[path: ["spec", "pool", "resourceSliceCount"]]?.intValue == Int64(chunks.count)
                    && s?[path: ["spec", "pool", "name"]]?.stringValue == node
            }
        let generation = sameContent && !own.isEmpty ? highest : highest + 1
        var actions: [Action] = []
        for (index, chunk) in chunks.enumerated() {
            let name = names[index]
            var desired = slice(node: node, nodeUID: nodeUID, index: index, count: chunks.count, generation: generation, devices: chunk)
            guard let stored = byName[name] else {
                actions.append(.create(desired))
                continue
            }
            // Keep what others may have added to the metadata (labels, annotations, other owners).
            var meta = stored["metadata"]?.objectValue ?? [:]
            var owners = (meta["ownerReferences"]?.arrayValue ?? []).filter {
                !($0["kind"]?.stringValue == "Node" && $0["apiVersion"]?.stringValue == "v1")
            }
            owners.append(ownerReference(node: node, uid: nodeUID))
            meta["ownerReferences"] = .array(owners)
            desired["metadata"] = .object(meta)
            if desired["spec"] != stored["spec"] || stored[path: ["metadata", "ownerReferences"]] != .array(owners) {
                actions.append(.update(desired))
            }
        }
        for s in own.sorted(by: { ($0[path: ["metadata", "name"]]?.stringValue ?? "") < ($1[path: ["metadata", "name"]]?.stringValue ?? "") }) {
            guard let name = s[path: ["metadata", "name"]]?.stringValue, !names.contains(name) else { continue }
            actions.append(.delete(name: name, uid: s[path: ["metadata", "uid"]]?.stringValue ?? ""))
        }
        return actions
    }

    /// The owner reference to the Node as it is now.
    static func ownerReference(node: String, uid: String) -> JSONValue {
        ["apiVersion": "v1", "kind": "Node", "name": .string(node), "uid": .string(uid)]
    }

    /// Slice `index` of `count` as created.
    static func slice(node: String, nodeUID: String, index: Int, count: Int, generation: Int64, devices: [JSONValue]) -> JSONValue {
        [
            "apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
            "metadata": ["name": .string(sliceName(node: node, index: index)), "ownerReferences": [ownerReference(node: node, uid: nodeUID)]],
            "spec": [
                "driver": .string(DRADriver.name), "nodeName": .string(node),
                "pool": ["name": .string(node), "generation": .int(generation), "resourceSliceCount": .int(Int64(count))],
                "devices": .array(devices),
            ],
        ]
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
    /// The node's slices, as the watch sees them.
    let store = Store<DynamicObject>()
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
        var object: JSONValue?
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
    func current() -> [JSONValue] {
        let stored = store.list().map(\.json)
        return state.withLock { s -> [JSONValue] in
            var byName: [String: JSONValue] = [:]
            for o in stored { if let n = o[path: ["metadata", "name"]]?.stringValue { byName[n] = o } }
            for (name, w) in s.written {
                let seen = Int64(byName[name]?[path: ["metadata", "resourceVersion"]]?.stringValue ?? "") ?? 0
                if let object = w.object {
                    if seen >= w.resourceVersion { s.written[name] = nil } else { byName[name] = object }
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
        let encoded = DRAAttributes.devices(devices, node: node).map(\.json)
        let actions = ResourceSlicePlanning.plan(node: node, nodeUID: nodeUID, devices: encoded, current: current())
        state.withLock { $0.plans += 1 }
        let resource = client.dynamic(ResourceSlicePlanning.resourceType)
        for action in actions {
            switch action {
            case .create(let object):
                try check(object)
                remember(try await write("POST", object))
                writeCounter?.increment(labels: ["verb": "create"])
            case .update(let object):
                try check(object)
                remember(try await write("PUT", object))
                writeCounter?.increment(labels: ["verb": "update"])
            case .delete(let name, let uid):
                guard let stored = current().first(where: { $0[path: ["metadata", "name"]]?.stringValue == name }) else { continue }
                try check(stored)
                try await Self.deleteIfPresent(resource, name, uid: uid)
                let rv = Int64(stored[path: ["metadata", "resourceVersion"]]?.stringValue ?? "") ?? 0
                state.withLock { $0.written[name] = Written(object: nil, resourceVersion: rv) }
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

    /// Creates (POST) or replaces (PUT) a slice; returns the stored object. The body is written
    /// and the answer read as JSON directly: a slice of 128 devices is ~40 KB, and going through
    /// Codable costs several times the request itself.
    func write(_ method: String, _ object: JSONValue) async throws -> JSONValue {
        let type = ResourceSlicePlanning.resourceType
        let path = method == "POST" ? type.path() : type.path(name: object[path: ["metadata", "name"]]?.stringValue ?? "")
        let response = try await client.request(
            method, path: path, query: [("fieldManager", NodeDevicePublisher.fieldManager)], body: object.serialized(),
            contentType: "application/json")
        return try JSONValue.parse(Array(response.body))
    }

    /// Deletes slice `name` (precondition: `uid`); one already gone is fine.
    static func deleteIfPresent(_ resource: ResourceClient<DynamicObject>, _ name: String, uid: String) async throws(KubeClientError) {
        do {
            try await resource.delete(name, options: DeleteOptions(preconditionUID: uid.isEmpty ? nil : uid))
        } catch where error.isNotFound {
        }
    }

    /// Refuses to write anything but this node's own slices.
    func check(_ object: JSONValue) throws(AgentError) {
        guard ResourceSlicePlanning.isOwn(object, node: node) else {
            throw .foreignObject(name: object[path: ["metadata", "name"]]?.stringValue ?? "", node: node)
        }
    }

    func remember(_ object: JSONValue) {
        guard let name = object[path: ["metadata", "name"]]?.stringValue,
              let rv = Int64(object[path: ["metadata", "resourceVersion"]]?.stringValue ?? "") else { return }
        state.withLock { $0.written[name] = Written(object: object, resourceVersion: rv) }
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
                    self.client.dynamic(ResourceSlicePlanning.resourceType),
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
