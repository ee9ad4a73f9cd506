import Foundation
import JSON
import Testing
@testable import LabAPIServer

/// The performance fast paths of the lab server against the reference paths they replace.
@Suite struct FastPathTests {
    static let customObject: JSONValue = [
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": ["name": "w<1>&", "uid": "u-1", "labels": ["a": "b"], "generation": 1, "creationTimestamp": "2026-11-28T23:00:00Z",
                     "managedFields": [["manager": "m", "operation": "Update", "apiVersion": "example.com/v1", "fieldsType": "FieldsV1",
                                        "fieldsV1": ["f:spec": ["f:size": [:]]], "time": "2026-11-28T23:00:00Z"]]],
        "spec": ["size": 3, "color": "red", "tags": ["x", "y\u{2028}z"], "ratio": 0.25, "extra": ["nested": [1, 2, ["deep": nil]]]],
    ]
    static let builtinObject: JSONValue = [
        "kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
        "metadata": ["name": "lease-1", "namespace": "kube-node-lease", "uid": "u-2", "creationTimestamp": "2026-11-28T23:00:00Z",
                     "ownerReferences": [["apiVersion": "v1", "kind": "Node", "name": "n1", "uid": "u-3"]],
                     "managedFields": [["manager": "kubelet", "operation": "Update", "apiVersion": "coordination.k8s.io/v1",
                                        "time": "2026-11-28T23:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": ["f:spec": [:]]]]],
        "spec": ["holderIdentity": "n1", "leaseDurationSeconds": 40],
    ]

    @Test(arguments: [Int64(2), 10, 999, 12_345_678_901])
    func preparedObjectSplicesTheResourceVersionLikeAFullEncoding(rv: Int64) throws {
        for (object, order) in [(FastPathTests.customObject, KeyOrder.sorted), (FastPathTests.builtinObject, .goStruct),
                                (FastPathTests.builtinObject, .sorted), (FastPathTests.customObject, .goStruct)] {
            let prepared = try #require(PreparedObject(object, order: order))
            let stored = prepared.stored(rv: rv)
            var expected = object
            expected[path: ["metadata", "resourceVersion"]] = .string(String(rv))
            #expect(stored.value == expected)
            #expect(stored.rv == rv)
            #expect(stored.bytes == Wire.encode(expected, order: order))
            #expect(stored.bytes == StoredObject(value: expected, rv: rv, order: order).bytes)
        }
    }

    @Test func preparedObjectNeedsMetadata() {
        #expect(PreparedObject(["kind": "X"], order: .sorted) == nil)
        #expect(PreparedObject(.array([]), order: .sorted) == nil)
    }

    static let strings: [String] = [
        "", "plain", "quote\"back\\slash", "nl\ncr\rtab\t", "\u{0}\u{1}\u{1f}\u{7f}", "<html>&amp;", "line\u{2028}para\u{2029}end",
        "euro € ellipsis … dash – bullet •", "é😀日本語", "\u{e2}", "x\u{2027}\u{202a}y", String(repeating: "a", count: 300) + "<",
    ]

    @Test func writeStringMatchesTheScalarReference() {
        var all = FastPathTests.strings
        // Pseudo-random strings over the characters that matter (seeded: the same every run).
        let alphabet: [String] = ["a", "Z", "0", " ", "\"", "\\", "\n", "\u{1}", "<", ">", "&", "\u{2028}", "\u{2029}", "€", "…", "é", "😀", "\u{7f}"]
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<500 {
            var s = ""
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            for _ in 0..<Int(seed >> 59) {
                seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                s += alphabet[Int(seed >> 33) % alphabet.count]
            }
            all.append(s)
        }
        for s in all {
            var fast: [UInt8] = [], reference: [UInt8] = []
            Wire.writeString(s, into: &fast)
            Wire.writeStringScalars(s, into: &reference)
            #expect(fast == reference, "\(s.debugDescription)")
        }
    }

    @Test(arguments: [Int64(0), 1, 9, 10, 99, 100, -1, -9, -10, 1_234_567_890, Int64.max, Int64.min, Int64.min + 1])
    func writeIntMatchesStringConversion(_ value: Int64) {
        var out: [UInt8] = []
        Wire.writeInt(value, into: &out)
        #expect(String(decoding: out, as: UTF8.self) == String(value))
    }

    @Test func sortedEncodingMatchesTheJSONSerializer() throws {
        // Without HTML characters (Go escapes them, the JSON module does not) both writers must agree.
        let v = try JSONValue.parse(#"{"z":1,"a":{"k2":[true,false,null,"s"],"k1":{}},"m":[],"n":-12,"s":"x\ny","d":1.5}"#)
        #expect(Wire.encode(v, order: .sorted) == v.serialized())
        #expect(Wire.encode(v, order: .sorted, pretty: true) == v.serialized(pretty: true))
        // Random trees: the lean sorted writer (used below the top level) against the serializer.
        var seed: UInt64 = 99
        for _ in 0..<500 {
            let tree = FastPathTests.randomValue(&seed, depth: 0)
            let wrapped: JSONValue = ["spec": tree, "metadata": ["name": "x", "labels": ["b": "1", "a": "2"]]]
            #expect(Wire.encode(tree, order: .sorted) == tree.serialized())
            #expect(Wire.encode(wrapped, order: .sorted) == wrapped.serialized())
            var lean: [UInt8] = []
            Wire.writeSortedCompact(tree, into: &lean)
            #expect(lean == tree.serialized())
            let goStruct = Wire.encode(["spec": tree], order: .goStruct)
            #expect(goStruct == JSONValue.object(["spec": tree]).serialized())
        }
    }

    @Test func validationReportsTheSameCausesInOneOrTwoPasses() throws {
        let schema = CompiledSchema(try #require(Fixtures.widgetCRD[path: ["spec", "versions"]]?[0]?[path: ["schema", "openAPIV3Schema"]]))
        let objects: [JSONValue] = [
            Fixtures.widget("ok", size: 5),
            ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": "bad"],
             "spec": ["size": 0, "color": "pink", "tags": ["UP", "ok", "x1", "y"]]],
            ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": "bad2"], "spec": ["size": "big"]],
            ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": "bad3"]],
        ]
        for object in objects {
            let ordered = SchemaValidation.validate(object, schema: schema, ordered: true)
            let unordered = SchemaValidation.validate(object, schema: schema, ordered: false)
            #expect(SchemaValidation.validate(object, schema: schema).map(\.field) == ordered.map(\.field))
            #expect(SchemaValidation.validate(object, schema: schema).map(\.message) == ordered.map(\.message))
            #expect(Set(unordered.map { "\($0.field) \($0.message)" }) == Set(ordered.map { "\($0.field) \($0.message)" }))
        }
        let bad = SchemaValidation.validate(objects[1], schema: schema)
        #expect(bad.map(\.field) == ["spec.size", "spec.color", "spec.tags", "spec.tags[0]", "spec.tags[2]"])
    }

    static let nullsSchema: JSONValue = [
        "type": "object",
        "properties": [
            "spec": ["type": "object", "properties": [
                "a": ["type": "string"], "n": ["type": "string", "nullable": true], "d": ["type": "string", "default": "dflt"],
                "list": ["type": "array", "items": ["type": "object", "properties": ["x": ["type": "integer"], "y": ["type": "string", "nullable": true]]]],
                "map": ["type": "object", "additionalProperties": ["type": "object", "properties": ["v": ["type": "string"]]]],
                "free": ["type": "object", "x-kubernetes-preserve-unknown-fields": true],
                "mixed": ["type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": ["k": ["type": "string"]]],
                "emb": ["type": "object", "x-kubernetes-embedded-resource": true],
                "empty": ["type": "object"],
                "scalars": ["type": "array", "items": ["type": "string"]],
            ]],
            "status": ["type": "object", "properties": ["phase": ["type": "string", "default": "New"]]],
        ],
    ]

    /// Seeded random trees over known and unknown keys, nulls, scalars, objects and arrays.
    static func randomValue(_ seed: inout UInt64, depth: Int) -> JSONValue {
        func next() -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(seed >> 33)
        }
        let keys = ["a", "n", "d", "list", "map", "free", "mixed", "emb", "empty", "scalars", "x", "y", "v", "k", "zz", "phase"]
        switch depth > 3 ? next() % 4 : next() % 7 {
        case 0: return .null
        case 1: return .string("s\(next() % 10)")
        case 2: return .int(Int64(next() % 100))
        case 3: return .bool(next() % 2 == 0)
        case 4, 5:
            var o: [String: JSONValue] = [:]
            for _ in 0..<(next() % 6) { o[keys[next() % keys.count]] = randomValue(&seed, depth: depth + 1) }
            return .object(o)
        default:
            return .array((0..<(next() % 4)).map { _ in randomValue(&seed, depth: depth + 1) })
        }
    }

    @Test func oneWalkPruningEqualsPruneThenDefaulting() throws {
        let schemas = [CompiledSchema(FastPathTests.nullsSchema),
                       CompiledSchema(try #require(Fixtures.widgetCRD[path: ["spec", "versions"]]?[0]?[path: ["schema", "openAPIV3Schema"]])),
                       CompiledSchema(["type": "object", "x-kubernetes-preserve-unknown-fields": true])]
        var seed: UInt64 = 42
        var checked = 0
        for schema in schemas {
            for _ in 0..<400 {
                var root: [String: JSONValue] = ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": "r", "junk": 1]]
                for key in ["spec", "status", "other"] where seed % 3 != 0 {
                    root[key] = FastPathTests.randomValue(&seed, depth: 0)
                    seed = seed &* 6_364_136_223_846_793_005 &+ 1
                }
                var twoPasses = JSONValue.object(root)
                SchemaValidation.prune(&twoPasses, schema: schema)
                SchemaDefaulting.apply(&twoPasses, schema: schema)
                var oneWalk = JSONValue.object(root)
                SchemaValidation.pruneDroppingNulls(&oneWalk, schema: schema)
                SchemaDefaulting.applyDefaultsOnly(&oneWalk, schema: schema)
                #expect(oneWalk == twoPasses, "\(JSONValue.object(root).jsonString())")
                checked += 1
            }
        }
        #expect(checked == 1200)
        // And a hand-made case with every rule (a null status is dropped: not nullable, no default of its own).
        var v: JSONValue = ["apiVersion": "x/v1", "kind": "K", "metadata": ["name": "m"],
                            "spec": ["a": nil, "n": nil, "d": nil, "zz": 1, "list": [["x": nil, "y": nil, "q": 1], nil],
                                     "map": ["k1": ["v": nil, "w": 2], "k2": nil], "free": ["any": nil], "mixed": ["k": nil, "u": nil],
                                     "emb": ["kind": "X", "spec": nil], "empty": ["gone": 1], "scalars": ["s", nil]],
                            "status": nil]
        SchemaValidation.pruneDroppingNulls(&v, schema: schemas[0])
        SchemaDefaulting.applyDefaultsOnly(&v, schema: schemas[0])
        let expected: JSONValue = ["apiVersion": "x/v1", "kind": "K", "metadata": ["name": "m"],
                                   "spec": ["n": nil, "d": "dflt", "list": [["y": nil], nil], "map": ["k1": [:]],
                                            "free": ["any": nil], "mixed": ["u": nil], "emb": ["kind": "X", "spec": nil], "empty": [:],
                                            "scalars": ["s", nil]]]
        #expect(v == expected)
    }

    @Test func pruningInPlaceKeepsKnownAndDropsUnknownFields() throws {
        let schema = CompiledSchema(try #require(Fixtures.widgetCRD[path: ["spec", "versions"]]?[0]?[path: ["schema", "openAPIV3Schema"]]))
        var v: JSONValue = ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": "p", "bogus": 1],
                            "spec": ["size": 2, "color": "red", "unknown": ["a": 1], "extra": ["kept": ["x": nil]], "tags": ["a"]],
                            "status": ["phase": "x", "other": 1], "top": 1]
        SchemaValidation.prune(&v, schema: schema)
        SchemaDefaulting.apply(&v, schema: schema)
        let expected: JSONValue = ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": "p"],
                                   "spec": ["size": 2, "color": "red", "extra": ["kept": ["x": nil]], "tags": ["a"]],
                                   "status": ["phase": "x"]]
        #expect(v == expected)
    }
}

/// The shared watch log and the watch fan-out built on it.
@Suite struct WatchFanOutTests {
    static func change(_ rv: Int64) -> Change {
        let value: JSONValue = ["apiVersion": "v1", "kind": "X", "metadata": ["name": .string("o\(rv)"), "resourceVersion": .string(String(rv))]]
        return Change(rv: rv, storageKey: "k", type: .added, object: StoredObject(value: value, rv: rv, order: .sorted), previous: nil)
    }

    @Test func everyWatcherReadsEveryChangeInOrderAndCloseDeliversTheRest() {
        let hub = WatchHub()
        let objects = [NSObject(), NSObject()]
        let ids = objects.map(ObjectIdentifier.init)
        for id in ids { hub.register(id) }
        for rv in 1...5 { _ = hub.append(WatchFanOutTests.change(Int64(rv))) }
        let first = hub.take(ids[0], until: Date().addingTimeInterval(1))
        #expect(first.changes.map(\.rv) == [1, 2, 3, 4, 5])
        #expect(!first.closed)
        for rv in 6...7 { _ = hub.append(WatchFanOutTests.change(Int64(rv))) }
        hub.close(ids[1])
        let second = hub.take(ids[1], until: Date().addingTimeInterval(1))
        #expect(second.changes.map(\.rv) == [1, 2, 3, 4, 5, 6, 7])
        #expect(second.closed)
        #expect(hub.take(ids[0], until: Date().addingTimeInterval(1)).changes.map(\.rv) == [6, 7])
        // Nothing new: the take waits until its deadline and returns nothing.
        let started = Date()
        let idle = hub.take(ids[0], until: Date().addingTimeInterval(0.2))
        #expect(idle.changes.isEmpty && !idle.closed)
        #expect(Date().timeIntervalSince(started) >= 0.15)
    }

    @Test func aWatcherTooFarBehindIsClosedAndNoLongerPinsTheLog() {
        let hub = WatchHub(maxPending: 10)
        let objects = [NSObject(), NSObject()]
        let fast = ObjectIdentifier(objects[0]), slow = ObjectIdentifier(objects[1])
        hub.register(fast)
        hub.register(slow)
        var seen: [Int64] = []
        for rv in 1...40 {
            _ = hub.append(WatchFanOutTests.change(Int64(rv)))
            seen += hub.take(fast, until: Date()).changes.map(\.rv)
        }
        #expect(seen == Array(1...40))
        let late = hub.take(slow, until: Date().addingTimeInterval(1))
        #expect(late.closed)
        #expect(late.changes.isEmpty)
    }

    @Test func waitingWatchersAreWokenByAnAppend() {
        let hub = WatchHub()
        let object = NSObject()
        let id = ObjectIdentifier(object)
        hub.register(id)
        let got = LockedData()
        let t = Thread {
            let r = hub.take(id, until: Date().addingTimeInterval(5))
            got.set(Data(r.changes.map { UInt8($0.rv) }))
        }
        t.start()
        Thread.sleep(forTimeInterval: 0.2)
        let started = Date()
        if hub.append(WatchFanOutTests.change(9)) { hub.wake() }
        while !got.done && Date().timeIntervalSince(started) < 5 { Thread.sleep(forTimeInterval: 0.005) }
        #expect(got.done)
        #expect(Array(got.data) == [9])
        #expect(Date().timeIntervalSince(started) < 1)
    }

    /// Coalescing delays only events that follow a delivery closely: after a quiet moment an event
    /// arrives at once, and a burst arrives complete and in order.
    @Test func quietEventsArriveAtOnceAndBurstsArriveWhole() throws {
        let (api, client) = Fixtures.apiWithWidgets()
        let sink = CollectingSink()
        let done = DispatchSemaphore(value: 0)
        Thread {
            api.handle(LabRequest(method: "GET", path: "/apis/example.com/v1/widgets", query: [("watch", "1"), ("timeoutSeconds", "3")],
                                  clientCertificate: admin), sink: sink)
            done.signal()
        }.start()
        Thread.sleep(forTimeInterval: 0.3)
        func waitForLines(_ n: Int) -> TimeInterval {
            let started = Date()
            while Date().timeIntervalSince(started) < 2 {
                let lines = sink.chunks.reduce(0) { $0 + $1.filter { $0 == 0x0A }.count }
                if lines >= n { break }
                Thread.sleep(forTimeInterval: 0.001)
            }
            return Date().timeIntervalSince(started)
        }
        #expect(client.call("POST", "/apis/example.com/v1/widgets", json: Fixtures.widget("quiet")).status == 201)
        #expect(waitForLines(1) < 0.25)
        Thread.sleep(forTimeInterval: 0.1)
        for i in 0..<50 { #expect(client.call("POST", "/apis/example.com/v1/widgets", json: Fixtures.widget("burst-\(i)")).status == 201) }
        #expect(waitForLines(51) < 1)
        done.wait()
        let names = try sink.chunks.flatMap { String(decoding: $0, as: UTF8.self).split(separator: "\n") }
            .map { try JSONValue.parse(String($0)) }.filter { $0["type"]?.stringValue == "ADDED" }
            .compactMap { $0[path: ["object", "metadata", "name"]]?.stringValue }
        #expect(names == ["quiet"] + (0..<50).map { "burst-\($0)" })
    }

    /// Concurrent creates with many watchers: every watcher gets every event once, in resourceVersion
    /// order, with the same bytes a GET answers.
    @Test func concurrentCreatesReachEveryWatcherInOrder() throws {
        let (api, client) = Fixtures.apiWithWidgets()
        let rv = client.currentRV()
        let watchers = 12, writers = 3, perWriter = 40
        let sinks = (0..<watchers).map { _ in CollectingSink() }
        let done = DispatchGroup()
        for sink in sinks {
            done.enter()
            Thread {
                api.handle(LabRequest(method: "GET", path: "/apis/example.com/v1/widgets",
                                      query: [("watch", "1"), ("resourceVersion", rv), ("timeoutSeconds", "4")], clientCertificate: admin), sink: sink)
                done.leave()
            }.start()
        }
        // One more watcher that starts from "now" with a label selector (the per-watcher path).
        let selected = CollectingSink()
        done.enter()
        Thread {
            api.handle(LabRequest(method: "GET", path: "/apis/example.com/v1/widgets",
                                  query: [("watch", "1"), ("labelSelector", "writer=w1"), ("timeoutSeconds", "4")], clientCertificate: admin), sink: selected)
            done.leave()
        }.start()
        Thread.sleep(forTimeInterval: 0.3)
        let writes = DispatchGroup()
        for w in 0..<writers {
            writes.enter()
            Thread {
                for i in 0..<perWriter {
                    let r = client.call("POST", "/apis/example.com/v1/widgets", json: Fixtures.widget("w\(w)-\(i)", size: Int64(i % 50 + 1), labels: ["writer": "w\(w)"]))
                    precondition(r.status == 201, r.text)
                }
                writes.leave()
            }.start()
        }
        writes.wait()
        done.wait()
        let total = writers * perWriter
        for sink in sinks {
            let lines = sink.chunks.flatMap { String(decoding: $0, as: UTF8.self).split(separator: "\n").map(String.init) }
                .filter { !$0.contains("\"BOOKMARK\"") }
            #expect(lines.count == total)
            var last: Int64 = 0
            for line in lines {
                let event = try JSONValue.parse(line)
                #expect(event["type"]?.stringValue == "ADDED")
                let rv = Int64(event[path: ["object", "metadata", "resourceVersion"]]?.stringValue ?? "") ?? -1
                #expect(rv > last)
                last = rv
                let name = event[path: ["object", "metadata", "name"]]?.stringValue ?? ""
                let got = client.call("GET", "/apis/example.com/v1/widgets/\(name)")
                #expect(got.body.last == 0x0A)
                #expect(line == "{\"type\":\"ADDED\",\"object\":" + String(decoding: got.body.dropLast(), as: UTF8.self) + "}")
            }
        }
        let selectedNames = try selected.chunks.flatMap { String(decoding: $0, as: UTF8.self).split(separator: "\n") }
            .map { try JSONValue.parse(String($0)) }.filter { $0["type"]?.stringValue != "BOOKMARK" }
            .compactMap { $0[path: ["object", "metadata", "name"]]?.stringValue }
        #expect(selectedNames.count == perWriter)
        #expect(selectedNames.allSatisfy { $0.hasPrefix("w1-") })
    }
}
