#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JSON
import KubeCore

/// Typed operations on one resource (core, CRD, namespaced or cluster-scoped), optionally bound to a namespace.
///
/// ```swift
/// let widgets = client.resource(Widget.self)
/// var w = try await widgets.get("w1")
/// w.spec.size += 1
/// w = try await widgets.update(w)            // 409 Conflict if someone else changed it
/// try await widgets.patch("w1", .merge(["metadata": ["labels": ["a": "b"]]]))
/// ```
public struct ResourceClient<T: KubernetesObject>: Sendable {
    /// The client that sends the requests.
    public let client: KubernetesClient
    /// The resource addressed.
    public let resourceType: ResourceType
    /// The namespace for namespaced resources (nil: all namespaces for list/watch, the object's own otherwise).
    public let namespace: String?

    /// Creates a resource client; prefer ``KubernetesClient/resource(_:namespace:)``.
    public init(client: KubernetesClient, resourceType: ResourceType, namespace: String?) {
        self.client = client
        self.resourceType = resourceType
        self.namespace = resourceType.namespaced ? namespace : nil
    }

    /// The same resource in another namespace.
    public func inNamespace(_ namespace: String?) -> ResourceClient<T> {
        ResourceClient(client: client, resourceType: resourceType, namespace: namespace)
    }

    // MARK: - Paths

    func objectPath(_ name: String, namespace objectNamespace: String? = nil, subresource: String? = nil) throws(KubeClientError) -> String {
        guard !name.isEmpty else {
            throw .encoding(what: "request for \(resourceType)", message: "the object name is empty")
        }
        let ns = try requiredNamespace(objectNamespace)
        return resourceType.path(namespace: ns, name: name, subresource: subresource)
    }

    func requiredNamespace(_ objectNamespace: String?) throws(KubeClientError) -> String? {
        guard resourceType.namespaced else { return nil }
        let ns = namespace ?? objectNamespace
        guard let ns, !ns.isEmpty else {
            throw .encoding(what: "request for \(resourceType)", message: "the resource is namespaced but no namespace was given")
        }
        return ns
    }

    /// Decodes a response body: with `JSONReader` when `V` is `JSONReadable`, else `JSONDecoder`.
    func decode<V: Decodable>(_ type: V.Type, _ response: HTTPResponse, url: String) throws(KubeClientError) -> V {
        try FastDecoding.decode(V.self, from: response.body, url: url)
    }

    func encode(_ object: T) throws(KubeClientError) -> [UInt8] {
        do {
            return [UInt8](try JSONEncoder().encode(object))
        } catch {
            throw .encoding(what: "\(resourceType.kind) '\(object.metadata.name ?? "")'", message: "\(error)")
        }
    }

    // MARK: - Read

    /// Reads one object.
    public func get(_ name: String, namespace objectNamespace: String? = nil) async throws(KubeClientError) -> T {
        let path = try objectPath(name, namespace: objectNamespace)
        let response = try await client.send(method: "GET", path: path, query: [], body: nil, contentType: nil)
        return try decode(T.self, response, url: client.url(path: path))
    }

    /// Reads one object, or nil when it does not exist.
    public func getIfExists(_ name: String, namespace objectNamespace: String? = nil) async throws(KubeClientError) -> T? {
        do {
            return try await get(name, namespace: objectNamespace)
        } catch let error where error.isNotFound {
            return nil
        }
    }

    /// Lists objects (one page when `options.limit` is set; see ``listAll(_:pageSize:)``).
    /// `metadata.resourceVersion` of the result is where a following watch starts.
    public func list(_ options: ListOptions = ListOptions()) async throws(KubeClientError) -> ObjectList<T> {
        let path = resourceType.path(namespace: namespace)
        let query = options.queryItems
        let response = try await client.send(method: "GET", path: path, query: query, body: nil, contentType: nil)
        return try decode(ObjectList<T>.self, response, url: client.url(path: path, query: query))
    }

    /// Lists every object, following `continue` tokens page by page. The result carries the first page's
    /// resourceVersion (all pages are one consistent snapshot). When a later page answers 410 (the
    /// token expired: the server compacted the snapshot meanwhile), the list starts over from the first
    /// page, at most `restartsOnExpiry` times; then, or for a 410 on the first page, it throws.
    public func listAll(_ options: ListOptions = ListOptions(), pageSize: Int = 500,
                        restartsOnExpiry: Int = 3) async throws(KubeClientError) -> ObjectList<T> {
        var options = options
        if options.limit == nil { options.limit = pageSize }
        var restarts = 0
        while true {
            var first = try await list(options)
            var token = first.metadata.continueToken
            var expired = false
            while let next = token, !next.isEmpty {
                var pageOptions = options
                pageOptions.continueToken = next
                // The continue token pins the snapshot; resourceVersion must not be sent with it.
                pageOptions.resourceVersion = nil
                pageOptions.resourceVersionMatch = nil
                let page: ObjectList<T>
                do {
                    page = try await list(pageOptions)
                } catch where error.isGone && restarts < restartsOnExpiry {
                    expired = true
                    break
                }
                first.items.append(contentsOf: page.items)
                token = page.metadata.continueToken
            }
            if expired {
                restarts += 1
                continue
            }
            first.metadata.continueToken = nil
            first.metadata.remainingItemCount = nil
            return first
        }
    }

    // MARK: - Write

    /// Creates an object (in its own namespace, or this client's). `dryRun` validates only.
    public func create(_ object: T, dryRun: Bool = false, fieldManager: String? = nil) async throws(KubeClientError) -> T {
        let ns = try requiredNamespace(object.metadata.namespace)
        let path = resourceType.path(namespace: ns)
        var query: [(String, String)] = []
        if dryRun { query.append(("dryRun", "All")) }
        if let fieldManager { query.append(("fieldManager", fieldManager)) }
        let response = try await client.send(method: "POST", path: path, query: query, body: try encode(object),
                                             contentType: "application/json")
        return try decode(T.self, response, url: client.url(path: path, query: query))
    }

    /// Replaces an object. Its `metadata.resourceVersion` makes this a compare-and-swap: a stale one fails with 409 Conflict.
    /// An object without a resourceVersion is refused here (``KubeClientError/encoding(what:message:)`` naming
    /// the object): the server would take it as an unconditional overwrite of whatever is stored.
    public func update(_ object: T, dryRun: Bool = false, fieldManager: String? = nil) async throws(KubeClientError) -> T {
        try await put(object, subresource: nil, dryRun: dryRun, fieldManager: fieldManager)
    }

    /// Replaces the `/status` subresource of an object (spec changes are ignored by the server).
    public func updateStatus(_ object: T, dryRun: Bool = false, fieldManager: String? = nil) async throws(KubeClientError) -> T {
        try await put(object, subresource: "status", dryRun: dryRun, fieldManager: fieldManager)
    }

    func put(_ object: T, subresource: String?, dryRun: Bool, fieldManager: String?) async throws(KubeClientError) -> T {
        let path = try objectPath(object.metadata.name ?? "", namespace: object.metadata.namespace, subresource: subresource)
        guard let version = object.metadata.resourceVersion, !version.isEmpty else {
            let ns = resourceType.namespaced ? object.metadata.namespace ?? namespace : nil
            let name = [ns, object.metadata.name].compactMap { $0 }.joined(separator: "/")
            let target = subresource.map { "the \($0) of " } ?? ""
            throw .encoding(what: "the update of \(target)\(resourceType.resource) '\(name)'",
                            message: "metadata.resourceVersion is empty, so the PUT would overwrite any concurrent change; "
                                + "read the object first (get or list) and update that copy, or use patch")
        }
        var query: [(String, String)] = []
        if dryRun { query.append(("dryRun", "All")) }
        if let fieldManager { query.append(("fieldManager", fieldManager)) }
        let response = try await client.send(method: "PUT", path: path, query: query, body: try encode(object),
                                             contentType: "application/json")
        return try decode(T.self, response, url: client.url(path: path, query: query))
    }

    /// Patches an object (or its `subresource`, e.g. "status") with a merge, JSON, strategic or apply patch.
    public func patch(_ name: String, _ patch: Patch, subresource: String? = nil, namespace objectNamespace: String? = nil,
                      dryRun: Bool = false, fieldManager: String? = nil) async throws(KubeClientError) -> T {
        let path = try objectPath(name, namespace: objectNamespace, subresource: subresource)
        var query: [(String, String)] = []
        if dryRun { query.append(("dryRun", "All")) }
        if case .apply(_, let manager, let force) = patch {
            query.append(("fieldManager", manager))
            if force { query.append(("force", "true")) }
        } else if let fieldManager {
            query.append(("fieldManager", fieldManager))
        }
        let response = try await client.send(method: "PATCH", path: path, query: query, body: patch.body,
                                             contentType: patch.contentType)
        return try decode(T.self, response, url: client.url(path: path, query: query))
    }

    /// Deletes an object. Returns the object when the server kept it (finalizers or foreground deletion
    /// pending: it now has a deletionTimestamp), nil when it is gone.
    @discardableResult
    public func delete(_ name: String, options: DeleteOptions = DeleteOptions(),
                       namespace objectNamespace: String? = nil) async throws(KubeClientError) -> T? {
        let path = try objectPath(name, namespace: objectNamespace)
        let body: [UInt8]? = options.isEmpty ? nil : options.body
        let response = try await client.send(method: "DELETE", path: path, query: [], body: body,
                                             contentType: body == nil ? nil : "application/json")
        return decodeDeleted(response)
    }

    /// Deletes every object matching `options` selectors (in this client's namespace).
    public func deleteCollection(_ options: ListOptions = ListOptions(), deleteOptions: DeleteOptions = DeleteOptions()) async throws(KubeClientError) {
        let path = resourceType.path(namespace: namespace)
        let body: [UInt8]? = deleteOptions.isEmpty ? nil : deleteOptions.body
        _ = try await client.send(method: "DELETE", path: path, query: options.queryItems, body: body,
                                  contentType: body == nil ? nil : "application/json")
    }

    private func decodeDeleted(_ response: HTTPResponse) -> T? {
        guard let probe = try? JSONDecoder().decode(KindProbe.self, from: response.body), probe.kind != "Status" else { return nil }
        return try? FastDecoding.decode(T.self, from: response.body, url: "")
    }

    // MARK: - Watch

    /// Opens one watch connection and streams its events as they arrive.
    ///
    /// The stream ends normally when the server closes the watch (after `timeoutSeconds`); the caller then
    /// watches again from the last event's (or bookmark's) resourceVersion. It throws
    /// ``KubeClientError/watchExpired(url:message:)`` on 410 Gone (HTTP or in-stream ERROR event: list again),
    /// ``KubeClientError/timedOut(url:seconds:)`` when no byte arrives for the idle timeout, and
    /// ``KubeClientError/api(_:httpCode:url:)`` for other failures. Cancelling the consuming task, or
    /// dropping the iterator, aborts the HTTP transfer.
    ///
    /// ```swift
    /// let list = try await widgets.list()
    /// for try await event in widgets.watch(WatchOptions(resourceVersion: list.metadata.resourceVersion)) { ... }
    /// ```
    public func watch(_ options: WatchOptions = WatchOptions()) -> AsyncThrowingStream<WatchEvent<T>, any Error> {
        openWatch(options).events
    }

    /// ``watch(_:)`` with its flow-control figures (tests and benchmarks).
    func openWatch(_ options: WatchOptions) -> (events: AsyncThrowingStream<WatchEvent<T>, any Error>, statistics: WatchStatistics) {
        let channel = BoundedChannel<WatchEvent<T>>(capacity: options.bufferedEvents)
        let flow = StreamFlow(highWater: options.bufferedBytes, lowWater: options.bufferedBytes / 4)
        let client = self.client
        let path = resourceType.path(namespace: namespace)
        let timeout = options.timeoutSeconds ?? Int.random(in: 300..<600)
        let query = options.queryItems(timeout: timeout)
        // kube-apiserver sends a bookmark about every minute when asked to (Kubernetes ≥ 1.19), so silence
        // longer than the idle timeout means a dead connection. Without bookmarks a quiet resource is
        // legitimately silent until timeoutSeconds: then only TCP keepalive and the hard deadline apply.
        let idle = options.idleTimeout ?? (options.allowWatchBookmarks ? client.configuration.watchIdleTimeout : 0)
        let task = Task {
            do throws(KubeClientError) {
                try await client.runWatch(path: path, query: query, idleTimeout: idle, serverTimeout: timeout,
                                          flow: flow, sink: channel)
                channel.finish()
            } catch {
                channel.finish(error)
            }
        }
        // Pull-based: the consumer's `next()` takes from the bounded channel. When the iteration ends,
        // is cancelled, or the stream is dropped, the consumer handle goes and cancels the reading task.
        let consumer = WatchConsumer(channel: channel, task: task, flow: flow)
        return (AsyncThrowingStream { try await consumer.next() }, WatchStatistics(consumer))
    }
}

struct KindProbe: Decodable {
    var kind: String?
}

/// A readable explanation of a decoding failure, with the coding path and the start of the body.
func describeDecodingError(_ error: any Error, body: Data) -> String {
    let snippet = String(decoding: body.prefix(200), as: UTF8.self)
    let reason: String
    switch error {
    case DecodingError.dataCorrupted(let context):
        reason = "not valid JSON (\(context.debugDescription))" + pathSuffix(context.codingPath)
    case DecodingError.keyNotFound(let key, let context):
        reason = "missing key '\(key.stringValue)'" + pathSuffix(context.codingPath)
    case DecodingError.typeMismatch(let type, let context):
        reason = "expected \(type)" + pathSuffix(context.codingPath)
    case DecodingError.valueNotFound(let type, let context):
        reason = "null where \(type) was expected" + pathSuffix(context.codingPath)
    default:
        reason = "\(error)"
    }
    return body.isEmpty ? "\(reason); the body is empty" : "\(reason); body starts with: \(snippet)"
}

private func pathSuffix(_ path: [any CodingKey]) -> String {
    guard !path.isEmpty else { return "" }
    return " at " + path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
}
