#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import JSON
import KubeCore

/// Splits a watch response body into lines and decodes each as a ``WatchEvent``, incrementally:
/// feed chunks as they arrive; events are produced as soon as their line is complete.
///
/// It is also the benchmark entry point for watch decoding (no server needed):
/// ```swift
/// var decoder = WatchLineDecoder<Widget>()
/// try decoder.feed(chunk) { event in count += 1 }
/// try decoder.finish { event in count += 1 }
/// ```
///
/// When `T` is `JSONReadable` (NodeDevice, NetworkDeviceMap, ...) lines are read straight from the
/// bytes with `JSONReader`; other types go through Foundation's `JSONDecoder`.
public struct WatchLineDecoder<T: KubernetesObject> {
    private var pending = Data()
    private let decoder = JSONDecoder()
    private let fastRead = FastDecoding.reader(for: WatchEvent<T>.self)
    /// Events decoded so far.
    public private(set) var eventCount = 0
    /// A name for errors (the watch URL).
    public var source: String
    /// The longest line (event) accepted, in bytes; a longer one is a decoding error naming the limit.
    public var maxLineBytes: Int

    /// Creates a decoder; `source` names the stream in errors.
    public init(source: String = "watch", maxLineBytes: Int = 16 << 20) {
        self.source = source
        self.maxLineBytes = max(1, maxLineBytes)
    }

    /// Consumes `chunk`, calling `handler` for every complete line. Throws ``KubeClientError/decoding(url:message:)``
    /// for a line that is not a watch event.
    public mutating func feed(_ chunk: Data, _ handler: (WatchEvent<T>) throws -> Void) throws {
        var start = chunk.startIndex
        while let newline = Self.newline(in: chunk, from: start) {
            try checkLength(pending.count + (newline - start))
            if pending.isEmpty {
                try decodeLine(chunk[start..<newline], handler)
            } else {
                pending.append(chunk[start..<newline])
                let line = pending
                pending = Data()
                try decodeLine(line, handler)
            }
            start = chunk.index(after: newline)
        }
        if start < chunk.endIndex {
            try checkLength(pending.count + (chunk.endIndex - start))
            pending.append(chunk[start...])
        }
    }

    private mutating func checkLength(_ length: Int) throws(KubeClientError) {
        guard length > maxLineBytes else { return }
        pending = Data()
        throw .decoding(url: source, message: "watch event \(eventCount + 1) is longer than the \(byteLimit(maxLineBytes)) limit "
                        + "for one watch line (maxWatchLineBytes); watch abandoned")
    }

    /// The index of the next `\n` at or after `from` (memchr, not a byte-by-byte generic scan).
    static func newline(in data: Data, from: Data.Index) -> Data.Index? {
        guard from < data.endIndex else { return nil }
        return data.withUnsafeBytes { raw -> Data.Index? in
            let offset = from - data.startIndex
            guard let base = raw.baseAddress,
                  let found = memchr(base + offset, 0x0A, raw.count - offset) else { return nil }
            return data.startIndex + (UnsafeRawPointer(found) - base)
        }
    }

    /// Decodes `bytes` holding any number of newline-terminated events (a whole recorded stream).
    public mutating func decodeAll(_ bytes: Data) throws -> [WatchEvent<T>] {
        var events: [WatchEvent<T>] = []
        try feed(bytes) { events.append($0) }
        try finish { events.append($0) }
        return events
    }

    /// Decodes a last line that was not newline-terminated (the stream ended).
    public mutating func finish(_ handler: (WatchEvent<T>) throws -> Void) throws {
        guard !pending.isEmpty else { return }
        let line = pending
        pending = Data()
        try decodeLine(line, handler)
    }

    private mutating func decodeLine(_ line: Data, _ handler: (WatchEvent<T>) throws -> Void) throws {
        // Skip blank lines (and a trailing CR).
        var end = line.endIndex
        while end > line.startIndex, line[line.index(before: end)] == 0x0D || line[line.index(before: end)] == 0x20 {
            end = line.index(before: end)
        }
        guard end > line.startIndex else { return }
        let event: WatchEvent<T>
        if let fastRead {
            do {
                event = try line[line.startIndex..<end].withUnsafeBytes { raw in try fastRead(raw) }
            } catch let error as JSONError {
                throw KubeClientError.decoding(url: source, message: "watch event \(eventCount + 1): " + describeReaderError(error, body: line))
            }
        } else {
            do {
                event = try decoder.decode(WatchEvent<T>.self, from: line[line.startIndex..<end])
            } catch {
                throw KubeClientError.decoding(url: source, message: "watch event \(eventCount + 1): " + describeDecodingError(error, body: line))
            }
        }
        eventCount += 1
        try handler(event)
    }
}

extension KubernetesClient {
    /// Seconds past `timeoutSeconds` after which a watch still open is ended as a dead connection.
    static let watchDeadlineGrace = 3.0

    /// Runs one watch connection, yielding decoded events into `continuation` until the server ends it.
    func runWatch<T: KubernetesObject>(path: String, query: [(String, String)], idleTimeout: Double, serverTimeout: Int,
                                       flow: StreamFlow, sink: BoundedChannel<WatchEvent<T>>) async throws(KubeClientError) {
        let url = url(path: path, query: query)
        var refreshedCredentials = false
        var attempt = 0
        while true {
            if let limiter {
                do { try await limiter.acquire() } catch { throw .cancelled(url: url) }
            }
            let credentials = try await authenticator.credentials()
            var request = HTTPRequest(method: "GET", url: url)
            request.headers = ["Accept: application/json"]
            if let authorization = credentials.authorization { request.headers.append("Authorization: \(authorization)") }
            request.idleTimeout = idleTimeout
            // The server ends the watch after timeoutSeconds. A connection still open shortly after
            // that is dead (a peer gone without FIN or RST, a dropped NAT entry): without bookmarks
            // nothing else would notice before TCP keepalive gives up, minutes later. Ending it here
            // makes the caller reconnect within timeoutSeconds + the grace.
            request.timeout = Double(serverTimeout) + Self.watchDeadlineGrace
            request.timeoutIsWatchDeadline = true
            var material = tls
            if let cert = credentials.certificatePEM, let key = credentials.keyPEM {
                material.certificatePEM = cert
                material.keyPEM = key
            }
            let transfer = loop.stream(request, tls: material, flow: flow)
            var status = 0
            var headers: [HTTPHeader] = []
            var errorBody = Data()
            var decoder = WatchLineDecoder<T>(source: url, maxLineBytes: configuration.maxWatchLineBytes)
            var decoded: [WatchEvent<T>] = []
            do {
                for try await part in transfer.parts {
                    switch part {
                    case .head(let code, let responseHeaders):
                        status = code
                        headers = responseHeaders
                    case .data(let chunk):
                        if status == 200 {
                            try decoder.feed(chunk) { event in decoded.append(event) }
                            try await deliver(&decoded, url: url, sink)
                        } else if errorBody.count < 1 << 20 {
                            errorBody.append(chunk)
                        }
                        // Acknowledged once its events are queued: a full queue holds the transfer.
                        transfer.consumed(chunk.count)
                    }
                }
                if status == 200 {
                    try decoder.finish { event in decoded.append(event) }
                    try await deliver(&decoded, url: url, sink)
                }
            } catch let error as KubeClientError {
                if case .cancelled = error, Task.isCancelled { throw .cancelled(url: url) }
                throw error
            } catch is CancellationError {
                throw .cancelled(url: url)
            } catch {
                throw .transport(url: url, message: "\(error)")
            }
            if Task.isCancelled { throw .cancelled(url: url) }
            if status == 200 { return }
            let response = HTTPResponse(status: status, headers: headers, body: errorBody)
            if status == 410 {
                let error = Self.apiError(response, url: url)
                throw .watchExpired(url: url, message: error.status?.message ?? "resourceVersion too old")
            }
            if status == 401, authenticator.canRefresh, !refreshedCredentials {
                refreshedCredentials = true
                logger.notice("credentials refused (401), fetching them again", metadata: ["url": "\(url)"])
                await authenticator.invalidate()
                continue
            }
            if attempt < configuration.maxRetries, let delay = Self.retryDelay(response, method: "GET") {
                attempt += 1
                logger.debug("retrying watch after HTTP \(status)", metadata: ["url": "\(url)", "attempt": "\(attempt)"])
                do { try await Task.sleep(for: .seconds(delay)) } catch { throw .cancelled(url: url) }
                continue
            }
            throw Self.apiError(response, url: url)
        }
    }
}

/// Passes decoded events on, in order, waiting while the consumer's queue is full; an in-stream
/// ERROR becomes a thrown error (410 → watchExpired).
private func deliver<T: KubernetesObject>(_ events: inout [WatchEvent<T>], url: String, _ sink: BoundedChannel<WatchEvent<T>>) async throws {
    defer { events.removeAll(keepingCapacity: true) }
    for event in events {
        if case .error(let status) = event {
            if status.code == 410 || status.reason == "Expired" || status.reason == "Gone" {
                throw KubeClientError.watchExpired(url: url, message: status.message ?? "resourceVersion too old")
            }
            throw KubeClientError.api(status, httpCode: status.code ?? 500, url: url)
        }
        guard await sink.send(event) else { throw KubeClientError.cancelled(url: url) }
    }
}

/// The consuming side of one watch: takes events from the bounded channel; when it goes (the
/// stream and its iterators are released, or the consuming task is cancelled) the reading task and
/// its HTTP transfer are cancelled.
final class WatchConsumer<T: KubernetesObject>: Sendable {
    let channel: BoundedChannel<WatchEvent<T>>
    let task: Task<Void, Never>
    let flow: StreamFlow

    init(channel: BoundedChannel<WatchEvent<T>>, task: Task<Void, Never>, flow: StreamFlow) {
        self.channel = channel
        self.task = task
        self.flow = flow
    }

    func next() async throws -> WatchEvent<T>? {
        try await channel.next()
    }

    deinit {
        channel.cancelConsumer()
        task.cancel()
    }
}

/// Flow-control figures of one watch, for tests and benchmarks: how far the buffers filled.
struct WatchStatistics: Sendable {
    private let events: @Sendable () -> Int
    private let bytes: @Sendable () -> (Int, Int)

    init<T>(_ consumer: WatchConsumer<T>) {
        let channel = consumer.channel, flow = consumer.flow
        events = { channel.peakCount }
        bytes = { flow.statistics }
    }

    /// The most decoded events queued for the consumer at once (at most ``WatchOptions/bufferedEvents``).
    var peakQueuedEvents: Int { events() }
    /// The most response bytes received and not yet decoded at once (about ``WatchOptions/bufferedBytes``).
    var peakBufferedBytes: Int { bytes().0 }
    /// How often the transfer was paused because the consumer fell behind.
    var pauses: Int { bytes().1 }
}

/// The client's response decoding, callable on bytes without a server (benchmarks, recorded responses).
public enum ResponseDecoding {
    /// Decodes a list response body (`{"kind":"WidgetList","metadata":{...},"items":[...]}`) the way
    /// ``ResourceClient/list(_:)`` does: item by item with `JSONReader` when `T` is `JSONReadable`,
    /// else Foundation's `JSONDecoder`, straight from the bytes.
    public static func decodeList<T: KubernetesObject>(_ type: T.Type, from body: Data, source: String = "list") throws(KubeClientError) -> ObjectList<T> {
        try FastDecoding.decode(ObjectList<T>.self, from: body, url: source)
    }

    /// Decodes a whole recorded watch stream (newline-delimited events).
    public static func decodeWatchStream<T: KubernetesObject>(_ type: T.Type, from body: Data, source: String = "watch") throws -> [WatchEvent<T>] {
        var decoder = WatchLineDecoder<T>(source: source)
        return try decoder.decodeAll(body)
    }
}
