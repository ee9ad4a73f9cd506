import Foundation
import JSON
import KubeCore
import Testing
import TestSupport

/// A generic object for the reader tests: typed metadata, any spec and status.
struct Gizmo: KubernetesObject, JSONReadable, Hashable {
    static let resourceType = ResourceType(group: "example.com", version: "v1", resource: "gizmos", kind: "Gizmo", namespaced: true)
    var apiVersion: String?
    var kind: String?
    var metadata: ObjectMeta
    var spec: JSONValue?
    var status: JSONValue?

    init(metadata: ObjectMeta, spec: JSONValue? = nil) {
        self.metadata = metadata
        self.spec = spec
    }

    init(from reader: inout JSONReader) throws(JSONError) {
        var metadata: ObjectMeta?
        var apiVersion: String?, kind: String?, spec: JSONValue?, status: JSONValue?
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "apiVersion": apiVersion = try r.readStringOrNull()
            case "kind": kind = try r.readStringOrNull()
            case "metadata": metadata = try ObjectMeta(from: &r)
            case "spec": spec = try r.readOrNull(JSONValue.self)
            case "status": status = try r.readOrNull(JSONValue.self)
            default: break
            }
        }
        guard let metadata else { throw reader.missingKey("metadata") }
        self.init(metadata: metadata, spec: spec)
        self.apiVersion = apiVersion
        self.kind = kind
        self.status = status
    }
}

/// What a watch event holds, comparable.
struct EventSummary: Equatable {
    var type: WatchEventType
    var object: Gizmo?
    var resourceVersion: String?
    var status: Status?
    init(_ e: WatchEvent<Gizmo>) {
        type = e.type
        object = e.object
        resourceVersion = e.resourceVersion
        if case .error(let s) = e { status = s }
    }
}

extension SplitMix64 {
    mutating func string() -> String {
        let parts = ["", "w1", "worker-7", "q\"uote", "back\\slash", "tab\tnl\n", "\u{01}", "é", "日本", "😀", "a/b", String(repeating: "x", count: 70)]
        return parts[below(parts.count)] + (chance() ? "" : parts[below(parts.count)])
    }
    mutating func maybe<T>(_ make: (inout SplitMix64) -> T) -> T? { chance() ? make(&self) : nil }
    mutating func int64() -> Int64 { [0, 1, -1, Int64.max, Int64.min, 42, 1 << 40][below(7)] }
}

func randomMeta(_ g: inout SplitMix64) -> ObjectMeta {
    var m = ObjectMeta()
    m.name = g.maybe { $0.string() }
    m.generateName = g.maybe { $0.string() }
    m.namespace = g.maybe { $0.string() }
    m.uid = g.maybe { _ in UUID().uuidString.lowercased() }
    m.resourceVersion = g.maybe { String($0.below(1_000_000)) }
    m.generation = g.maybe { $0.int64() }
    m.creationTimestamp = g.maybe { _ in "2026-11-28T22:58:09Z" }
    m.deletionTimestamp = g.maybe { _ in "2026-11-28T22:59:09Z" }
    m.deletionGracePeriodSeconds = g.maybe { $0.int64() }
    m.labels = g.maybe { g in Dictionary((0..<g.below(4)).map { ("l\($0)" + g.string(), g.string()) }, uniquingKeysWith: { a, _ in a }) }
    m.annotations = g.maybe { g in Dictionary((0..<g.below(4)).map { ("a\($0)" + g.string(), g.string()) }, uniquingKeysWith: { a, _ in a }) }
    m.ownerReferences = g.maybe { g in
        (0..<g.below(3)).map { _ in
            OwnerReference(apiVersion: g.string(), kind: g.string(), name: g.string(), uid: g.string(),
                           controller: g.maybe { $0.chance() }, blockOwnerDeletion: g.maybe { $0.chance() })
        }
    }
    m.finalizers = g.maybe { g in (0..<g.below(3)).map { _ in g.string() } }
    m.managedFields = g.maybe { g in
        (0..<g.below(3)).map { _ in
            ["manager": .string(g.string()), "operation": "Update", "fieldsV1": ["f:spec": ["f:size": [:]]], "n": .int(g.int64()), "x": 2.5, "b": .bool(g.chance()), "z": nil]
        }
    }
    return m
}

/// The same document with unknown members added and some absent optional members written as `null`.
func decorate(_ value: JSONValue, _ g: inout SplitMix64, nullable: [String]) -> JSONValue {
    guard case .object(var o) = value else { return value }
    o["zzUnknown" + String(g.below(100))] = ["nested": [1, "two", nil, ["deep": true]], "s": .string(g.string())]
    for key in nullable where o[key] == nil && g.chance() { o[key] = .null }
    return .object(o)
}

func codable<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T { try JSONDecoder().decode(T.self, from: Data(bytes)) }
func reader<T: JSONReadable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T { try JSONReader.decode(T.self, from: bytes) }

/// Both decoders accept `document` and agree on the value, or both reject it.
func agree<T: Equatable>(_ a: Result<T, any Error>, _ b: Result<T, any Error>, _ what: String) {
    switch (a, b) {
    case (.success(let x), .success(let y)): #expect(x == y, "\(what)")
    case (.failure, .failure): break
    case (.success, .failure(let e)): Issue.record("\(what): Codable accepts, JSONReader rejects: \(e)")
    case (.failure(let e), .success): Issue.record("\(what): JSONReader accepts, Codable rejects: \(e)")
    }
}

let metaOptionalKeys = ["name", "generateName", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                        "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences",
                        "finalizers", "managedFields"]

@Suite struct KubeCoreReaderTests {
    @Test func randomObjectMetaReadsAsCodableDecodesIt() throws {
        var g = SplitMix64(state: 0x0B1EC7)
        for round in 0..<300 {
            let meta = randomMeta(&g)
            var doc = try JSONValue(encoding: meta)
            if round % 2 == 1 { doc = decorate(doc, &g, nullable: metaOptionalKeys) }
            let bytes = doc.serialized(pretty: round % 3 == 0)
            let reference = try codable(ObjectMeta.self, bytes)
            let fast = try reader(ObjectMeta.self, bytes)
            #expect(fast == reference, "round \(round): \(doc)")
            #expect(fast == meta, "round \(round)")
        }
    }

    @Test func randomListsAndEventsReadAsCodableDecodesThem() throws {
        var g = SplitMix64(state: 42)
        for round in 0..<100 {
            let items = (0..<g.below(6)).map { _ in Gizmo(metadata: randomMeta(&g), spec: ["size": .int(Int64(g.below(9))), "s": .string(g.string())]) }
            var list: JSONValue = ["apiVersion": "example.com/v1", "kind": "GizmoList",
                                   "metadata": ["resourceVersion": .string(String(round)), "continue": "tok", "remainingItemCount": 3],
                                   "items": .array(try items.map { try JSONValue(encoding: $0) })]
            if round % 2 == 0 { list = decorate(list, &g, nullable: ["apiVersion", "kind"]) }
            let bytes = list.serialized()
            let reference = try codable(ObjectList<Gizmo>.self, bytes)
            let fast = try reader(ObjectList<Gizmo>.self, bytes)
            #expect(fast.items == reference.items)
            #expect(fast.items.map(\.metadata) == items.map(\.metadata))
            #expect(fast.metadata == reference.metadata)
            #expect(fast.apiVersion == reference.apiVersion && fast.kind == reference.kind)

            for type in ["ADDED", "MODIFIED", "DELETED"] {
                let object = try JSONValue(encoding: Gizmo(metadata: randomMeta(&g)))
                let objectFirst = g.chance()
                let line = objectFirst ? #"{"object":\#(object.jsonString()),"type":"\#(type)"}"# : #"{"type":"\#(type)","object":\#(object.jsonString())}"#
                let a = EventSummary(try codable(WatchEvent<Gizmo>.self, Array(line.utf8)))
                let b = EventSummary(try reader(WatchEvent<Gizmo>.self, Array(line.utf8)))
                #expect(a == b, "\(line)")
            }
        }
    }

    @Test func listEdgeCases() throws {
        for text in [#"{"items":null}"#, #"{}"#, #"{"items":[],"metadata":null}"#, #"{"metadata":{"continue":null,"remainingItemCount":null}}"#] {
            let a = try codable(ObjectList<Gizmo>.self, Array(text.utf8))
            let b = try reader(ObjectList<Gizmo>.self, Array(text.utf8))
            #expect(a.items == b.items && a.metadata == b.metadata && a.kind == b.kind, "\(text)")
        }
    }

    @Test func bookmarksAndErrorsReadAsCodableDecodesThem() throws {
        let lines = [
            #"{"type":"BOOKMARK","object":{"kind":"Gizmo","apiVersion":"example.com/v1","metadata":{"resourceVersion":"311","annotations":{"k8s.io/initial-events-end":"true"}}}}"#,
            #"{"type":"BOOKMARK","object":{"metadata":{}}}"#,
            #"{"object":{"metadata":{"resourceVersion":"9"}},"type":"BOOKMARK"}"#,
            #"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (204)","reason":"Expired","code":410}}"#,
            #"{"type":"ERROR","object":{"code":500,"details":{"name":"x","causes":[{"reason":"FieldValueInvalid","message":"bad","field":"spec.size"}],"retryAfterSeconds":2}}}"#,
            #"{"type":"ERROR","object":{}}"#,
        ]
        for line in lines {
            let a = EventSummary(try codable(WatchEvent<Gizmo>.self, Array(line.utf8)))
            let b = EventSummary(try reader(WatchEvent<Gizmo>.self, Array(line.utf8)))
            #expect(a == b, "\(line)")
        }
    }

    @Test func malformedEventsAreRejectedByBoth() {
        let lines = [
            #"{"type":"SOMETHING","object":{"metadata":{}}}"#,
            #"{"object":{"metadata":{}}}"#,
            #"{"type":"ADDED"}"#,
            #"{"type":"ADDED","object":null}"#,
            #"{"type":"BOOKMARK","object":{}}"#,
            #"{"type":"BOOKMARK","object":{"metadata":null}}"#,
            #"{"type":7,"object":{"metadata":{}}}"#,
            #"{"type":"ADDED","object":{"metadata":{"name":1}}}"#,
            #"{"type":"ADDED","object":{"metadata":{"labels":{"a":1}}}}"#,
            #"{"type":"ADDED","object":{"metadata":{"ownerReferences":[{"kind":"Node","name":"n","uid":"u"}]}}}"#,
            #"{"type":"ADDED","object":{"metadata":{"generation":1.5}}}"#,
            #"{"type":"ADDED","object":{"metadata":{}}} trailing"#,
            #"{"type":"ADDED","object":{"metadata":{}}"#,
            "[]", "",
        ]
        for line in lines {
            #expect(throws: (any Error).self, "\(line)") { try codable(WatchEvent<Gizmo>.self, Array(line.utf8)) }
            #expect(throws: JSONError.self, "\(line)") { try reader(WatchEvent<Gizmo>.self, Array(line.utf8)) }
        }
    }

    @Test func errorsNameTheMember() {
        let line = #"{"type":"ADDED","object":{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"Node","name":"n"}]}}}"#
        let error = #expect(throws: JSONError.self) { try reader(WatchEvent<Gizmo>.self, Array(line.utf8)) }
        #expect(error?.message == "missing required member 'uid' at object.metadata.ownerReferences[0]")
        let badType = #expect(throws: JSONError.self) { try reader(WatchEvent<Gizmo>.self, Array(#"{"type":"NOPE","object":{}}"#.utf8)) }
        #expect(badType?.message == "unknown watch event type 'NOPE' at type")
        #expect(badType?.offset == 8)
    }

    @Test func conditionsStatusAndSelectorsReadAsCodableDecodesThem() throws {
        let conditions = [
            #"{"type":"Ready","status":"True","observedGeneration":3,"lastTransitionTime":"2026-11-28T22:58:09Z","reason":"Resolved","message":"ok"}"#,
            #"{"type":"Ready","status":"False","observedGeneration":null,"lastTransitionTime":"t","reason":"","message":"","extra":[1]}"#,
        ]
        for text in conditions {
            #expect(try reader(Condition.self, Array(text.utf8)) == codable(Condition.self, Array(text.utf8)))
        }
        for bad in [#"{"type":"Ready","status":"True","lastTransitionTime":"t","reason":"r"}"#,
                    #"{"type":"Ready","status":null,"lastTransitionTime":"t","reason":"r","message":"m"}"#] {
            #expect(throws: (any Error).self) { try codable(Condition.self, Array(bad.utf8)) }
            #expect(throws: JSONError.self) { try reader(Condition.self, Array(bad.utf8)) }
        }
        let selectors = [
            #"{"matchLabels":{"a":"b","c":""},"matchExpressions":[{"key":"k","operator":"In","values":["x","y"]},{"key":"e","operator":"Exists"}]}"#,
            #"{}"#, #"{"matchLabels":null,"matchExpressions":[]}"#,
        ]
        for text in selectors {
            #expect(try reader(LabelSelector.self, Array(text.utf8)) == codable(LabelSelector.self, Array(text.utf8)))
        }
        let badOperator = #"{"matchExpressions":[{"key":"k","operator":"Near"}]}"#
        #expect(throws: (any Error).self) { try codable(LabelSelector.self, Array(badOperator.utf8)) }
        #expect(throws: JSONError.self) { try reader(LabelSelector.self, Array(badOperator.utf8)) }
        let statuses = [#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"m","reason":"NotFound","details":{"name":"w","kind":"widgets"},"code":404}"#, #"{}"#]
        for text in statuses {
            #expect(try reader(Status.self, Array(text.utf8)) == codable(Status.self, Array(text.utf8)))
        }
    }

    /// Every JSON body recorded from a real kube-apiserver: metadata, lists, Status bodies and watch
    /// events read the same both ways.
    @Test func recordedAPIServerBodiesReadAsCodableDecodesThem() throws {
        let traces = kubeAPITracesDirectory()
        let files = try FileManager.default.contentsOfDirectory(atPath: traces).filter { $0.hasSuffix(".txt") }.sorted()
        #expect(files.count >= 100, "expected the trace files in \(traces)")
        var metas = 0, events = 0, lists = 0, statuses = 0
        for file in files {
            let text = try String(contentsOfFile: traces + "/" + file, encoding: .utf8)
            var documents: [String] = []
            var current: [Substring]?
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                if var lines = current {
                    lines.append(line)
                    if line == "}" {
                        documents.append(lines.joined(separator: "\n"))
                        current = nil
                    } else {
                        current = lines
                    }
                } else if line == "{" {
                    current = [line]
                } else if line.hasPrefix("{"), line.hasSuffix("}") {
                    documents.append(String(line))
                }
            }
            for document in documents {
                let bytes = Array(document.utf8)
                guard case .success(let value) = Result(catching: { () throws(JSONError) in try JSONValue.parse(bytes) }) else { continue }
                if let metadata = value["metadata"], case .object = metadata {
                    let metaBytes = metadata.serialized()
                    agree(Result { try codable(ObjectMeta.self, metaBytes) }, Result { try reader(ObjectMeta.self, metaBytes) }, file)
                    metas += 1
                }
                if value["kind"]?.stringValue == "Status" {
                    agree(Result { try codable(Status.self, bytes) }, Result { try reader(Status.self, bytes) }, file)
                    statuses += 1
                }
                if value["items"] != nil, value["metadata"] != nil, value["items"]?.arrayValue?.allSatisfy({ $0["metadata"] != nil }) == true {
                    agree(Result { try codable(ObjectList<Gizmo>.self, bytes) }.map { [$0.items.map(AnyHashable.init), [AnyHashable($0.metadata)]] },
                          Result { try reader(ObjectList<Gizmo>.self, bytes) }.map { [$0.items.map(AnyHashable.init), [AnyHashable($0.metadata)]] }, file)
                    lists += 1
                }
                if value["type"]?.stringValue != nil, value["object"] != nil {
                    let a = Result { try codable(WatchEvent<Gizmo>.self, bytes) }
                    let b = Result { try reader(WatchEvent<Gizmo>.self, bytes) }
                    switch (a, b) {
                    case (.success(let x), .success(let y)): #expect(EventSummary(x) == EventSummary(y), "\(file)")
                    case (.failure, .failure): break
                    default: Issue.record("\(file): Codable and JSONReader disagree on \(document.prefix(200))")
                    }
                    events += 1
                }
            }
        }
        #expect(metas >= 100 && events >= 20 && lists >= 5 && statuses >= 20, "metadata \(metas), events \(events), lists \(lists), statuses \(statuses)")
    }
}
