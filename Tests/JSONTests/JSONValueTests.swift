import Testing
@testable import JSON

@Suite struct JSONValueTests {
    @Test func parsesAllTypes() throws {
        let v = try JSONValue.parse(#" {"a": [1, -2.5, 1e3, true, false, null, "x\n\u00e9\ud83d\ude00"], "big": 9007199254740993} "#)
        #expect(v["a"]?[0] == .int(1))
        #expect(v["a"]?[1] == .double(-2.5))
        #expect(v["a"]?[2] == .double(1000))
        #expect(v["a"]?[3] == .bool(true))
        #expect(v["a"]?[5] == .null)
        #expect(v["a"]?[6]?.stringValue == "x\né😀")
        #expect(v["big"]?.intValue == 9007199254740993)
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "\"abc", "\"\\q\"", "tru", "[1] x", "{\"a\":1,}", "\"\u{01}\"", "1e", "nul",
    ])
    func rejectsMalformed(_ text: String) {
        #expect(throws: JSONError.self) { try JSONValue.parse(text) }
    }

    @Test func errorNamesOffset() {
        do {
            _ = try JSONValue.parse("[1, 2, x]")
            Issue.record("expected an error")
        } catch {
            #expect(error.offset == 7)
            #expect(error.description.contains("byte 7"))
        }
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        let deep = String(repeating: "[", count: 100_000)
        #expect(throws: JSONError.self) { try JSONValue.parse(deep) }
    }

    @Test func serializesSortedAndPretty() throws {
        let v: JSONValue = ["b": 1, "a": ["x": [], "y": [:], "z": [true, 1.5]]]
        #expect(v.jsonString() == #"{"a":{"x":[],"y":{},"z":[true,1.5]},"b":1}"#)
        #expect(v.jsonString(pretty: true) == "{\n  \"a\": {\n    \"x\": [],\n    \"y\": {},\n    \"z\": [\n      true,\n      1.5\n    ]\n  },\n  \"b\": 1\n}")
    }

    @Test func roundTripsEscapes() throws {
        let v: JSONValue = .string("q\"b\\s/\t\u{01}é")
        let back = try JSONValue.parse(v.serialized())
        #expect(back == v)
    }

    @Test func pathSetterCreatesIntermediates() {
        var v: JSONValue = [:]
        v[path: ["metadata", "labels", "a"]] = "b"
        #expect(v[path: ["metadata", "labels", "a"]]?.stringValue == "b")
        v[path: ["metadata", "labels", "a"]] = nil
        #expect(v[path: ["metadata", "labels"]] == .object([:]))
    }
}
