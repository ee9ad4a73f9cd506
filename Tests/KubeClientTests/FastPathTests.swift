import Foundation
import JSON
import KubeClient
import KubeCore
import Testing

/// The test Widget with a hand-written `JSONReader` conformance: the client's fast decode path.
struct FastWidget: KubernetesObject, JSONReadable, Hashable {
    static let resourceType = Widget.resourceType
    var apiVersion: String
    var kind: String
    var metadata: ObjectMeta
    var spec: Widget.Spec?
    var status: Widget.WidgetStatus?

    init(_ w: Widget) {
        apiVersion = w.apiVersion
        kind = w.kind
        metadata = w.metadata
        spec = w.spec
        status = w.status
    }

    init(from reader: inout JSONReader) throws(JSONError) {
        var apiVersion: String?, kind: String?, metadata: ObjectMeta?
        var spec: Widget.Spec?, status: Widget.WidgetStatus?
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "apiVersion": apiVersion = try r.readString()
            case "kind": kind = try r.readString()
            case "metadata": metadata = try ObjectMeta(from: &r)
            case "spec":
                if try r.readNull() { break }
                var color: String?, size: Int?
                try r.readObject { k, s throws(JSONError) in
                    switch k {
                    case "color": color = try s.readString()
                    case "size": size = try s.readInt()
                    default: break
                    }
                }
                guard let color else { throw r.missingKey("color") }
                guard let size else { throw r.missingKey("size") }
                spec = Widget.Spec(color: color, size: size)
            case "status":
                if try r.readNull() { break }
                var phase: String?
                try r.readObject { k, s throws(JSONError) in
                    if case "phase" = k { phase = try s.readStringOrNull() }
                }
                status = Widget.WidgetStatus(phase: phase)
            default: break
            }
        }
        guard let apiVersion else { throw reader.missingKey("apiVersion") }
        guard let kind else { throw reader.missingKey("kind") }
        guard let metadata else { throw reader.missingKey("metadata") }
        self.apiVersion = apiVersion
        self.kind = kind
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

/// What an event holds, comparable across the two widget types.
struct Seen: Equatable {
    var type: WatchEventType
    var object: FastWidget?
    var resourceVersion: String?
    var code: Int?
    init(_ e: WatchEvent<Widget>) {
        type = e.type
        object = e.object.map(FastWidget.init)
        resourceVersion = e.resourceVersion
        if case .error(let s) = e { code = s.code }
    }
    init(_ e: WatchEvent<FastWidget>) {
        type = e.type
        object = e.object
        resourceVersion = e.resourceVersion
        if case .error(let s) = e { code = s.code }
    }
}

@Suite struct FastPathTests {
    @Test func watchLinesDecodeTheSameThroughBothPaths() throws {
        let bytes = Data(WatchDecoderTests.stream.utf8)
        for chunkSize in [1, 7, 64, 200, bytes.count] {
            var slow = WatchLineDecoder<Widget>()
            var fast = WatchLineDecoder<FastWidget>()
            var a: [Seen] = [], b: [Seen] = []
            var offset = 0
            while offset < bytes.count {
                let end = min(offset + chunkSize, bytes.count)
                try slow.feed(bytes.subdata(in: offset..<end)) { a.append(Seen($0)) }
                try fast.feed(bytes.subdata(in: offset..<end)) { b.append(Seen($0)) }
                offset = end
            }
            try slow.finish { a.append(Seen($0)) }
            try fast.finish { b.append(Seen($0)) }
            #expect(b.count == 5)
            #expect(a == b, "chunk size \(chunkSize)")
            #expect(fast.eventCount == 5)
        }
    }

    @Test func crlfBlankLinesAndAnUnterminatedLastLine() throws {
        var fast = WatchLineDecoder<FastWidget>()
        let text = "\r\n  \n" + #"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"4"}}}"# + "\r\n"
            + #"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"5"}}}"#
        var events: [WatchEvent<FastWidget>] = []
        try fast.feed(Data(text.utf8)) { events.append($0) }
        #expect(events.map(\.resourceVersion) == ["4"])
        try fast.finish { events.append($0) }
        #expect(events.map(\.resourceVersion) == ["4", "5"])
    }

    @Test func badLinesNameTheStreamTheEventAndTheMember() throws {
        var fast = WatchLineDecoder<FastWidget>(source: "https://h/w?watch=1")
        let good = #"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"1"}}}"#
        let bad = #"{"type":"ADDED","object":{"apiVersion":"v1","kind":"Widget","metadata":{},"spec":{"color":"red","size":"big"}}}"#
        let error = #expect(throws: KubeClientError.self) { _ = try fast.decodeAll(Data((good + "\n" + bad + "\n").utf8)) }
        let text = try #require(error).description
        #expect(text.contains("https://h/w?watch=1"))
        #expect(text.contains("watch event 2"))
        #expect(text.contains("expected integer, got string at object.spec.size"))
        var again = WatchLineDecoder<FastWidget>(source: "s")
        #expect(throws: KubeClientError.self) { _ = try again.decodeAll(Data("not json\n".utf8)) }
    }

    @Test func listsDecodeTheSameThroughBothPaths() throws {
        var items: [JSONValue] = []
        for i in 0..<300 {
            var object = widgetJSON("w\(i)", rv: String(i))
            object["metadata"]?["labels"] = ["i": .string(String(i)), "é": "\"q\""]
            object["status"] = i % 2 == 0 ? ["phase": "Ready"] : nil
            items.append(object)
        }
        let body = Data(JSONValue.object(["kind": "WidgetList", "apiVersion": "example.com/v1",
                                          "metadata": ["resourceVersion": "99", "continue": "next"], "items": .array(items)]).serialized())
        let slow = try ResponseDecoding.decodeList(Widget.self, from: body)
        let fast = try ResponseDecoding.decodeList(FastWidget.self, from: body)
        #expect(fast.items == slow.items.map(FastWidget.init))
        #expect(fast.metadata == slow.metadata)
        #expect(fast.items.count == 300)
        #expect(fast.items.capacity < 310)
        let truncated = body.prefix(body.count / 2)
        let error = #expect(throws: KubeClientError.self) { try ResponseDecoding.decodeList(FastWidget.self, from: Data(truncated), source: "https://h/list") }
        #expect(error?.description.contains("https://h/list") == true)
        #expect(error?.description.contains("invalid JSON at byte") == true)
        let empty = #expect(throws: KubeClientError.self) { try ResponseDecoding.decodeList(FastWidget.self, from: Data(), source: "https://h/list") }
        #expect(empty?.description.contains("the body is empty") == true)
    }

    @Test func recordedWatchStreamsDecodeTheSameThroughBothPaths() throws {
        let stream = Data(WatchDecoderTests.stream.utf8)
        let slow = try ResponseDecoding.decodeWatchStream(Widget.self, from: stream)
        let fast = try ResponseDecoding.decodeWatchStream(FastWidget.self, from: stream)
        #expect(slow.map(Seen.init) == fast.map(Seen.init))
    }

    /// The typed client's get/list/watch on the fast path, against the lab API server (or a real cluster).
    @Test func resourceClientReadsThroughTheFastPath() async throws {
        try await TestCluster.with { cluster in
            let widgets = cluster.widgetClient()
            let fastWidgets = ResourceClient<FastWidget>(client: cluster.client, resourceType: cluster.widgets, namespace: nil)
            _ = try await widgets.create(cluster.widget("f1", size: 2, labels: ["a": "b"]))
            _ = try await widgets.create(cluster.widget("f2", size: 3))
            let got = try await fastWidgets.get("f1")
            #expect(got == FastWidget(try await widgets.get("f1")))
            #expect(got.spec?.size == 2)
            let list = try await fastWidgets.list()
            #expect(list.items.map(\.metadata.name) == ["f1", "f2"])
            #expect(list.items == (try await widgets.list()).items.map(FastWidget.init))
            let missing = await #expect(throws: KubeClientError.self) { try await fastWidgets.get("nope") }
            #expect(missing?.isNotFound == true)
            var updated = try await widgets.get("f2")
            updated.spec?.size = 9
            _ = try await widgets.update(updated)
            var seen: [FastWidget] = []
            for try await event in fastWidgets.watch(WatchOptions(resourceVersion: list.metadata.resourceVersion, allowWatchBookmarks: false, timeoutSeconds: 10)) {
                if let object = event.object { seen.append(object) }
                if !seen.isEmpty { break }
            }
            #expect(seen.map(\.metadata.name) == ["f2"])
            #expect(seen.first?.spec?.size == 9)
            #expect(try await fastWidgets.delete("f1") == nil)
            #expect(try await fastWidgets.getIfExists("f1") == nil)
        }
    }
}
