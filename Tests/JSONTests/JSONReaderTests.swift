import Testing
@testable import JSON
import TestSupport

/// A small hand-written reader, the way the API types are written.
private struct Port: JSONReadable, Equatable {
    var name: String
    var mtu: Int?
    var tags: [String]?
    var peers: [Port]?

    init(name: String, mtu: Int? = nil, tags: [String]? = nil, peers: [Port]? = nil) {
        self.name = name
        self.mtu = mtu
        self.tags = tags
        self.peers = peers
    }

    init(from reader: inout JSONReader) throws(JSONError) {
        var name: String?
        var mtu: Int?, tags: [String]?, peers: [Port]?
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "name": name = try r.readString()
            case "mtu": mtu = try r.readIntOrNull()
            case "tags": tags = try r.readStringArrayOrNull()
            case "peers": peers = try r.readArrayOrNull(of: Port.self)
            default: break
            }
        }
        guard let name else { throw reader.missingKey("name") }
        self.init(name: name, mtu: mtu, tags: tags, peers: peers)
    }
}

/// Strings that exercise the string scanner: escapes, control characters, multi-byte UTF-8, astral planes.
let awkwardStrings = ["", "plain", "q\"uote", "back\\slash", "sl/ash", "tab\tnew\nline\r", "\u{01}\u{1f}", "é", "日本語",
                      "😀 emoji", "mixed \u{7f} del", String(repeating: "long-", count: 40)]

func randomValue(_ g: inout SplitMix64, depth: Int = 0) -> JSONValue {
    switch g.below(depth > 4 ? 5 : 7) {
    case 0: return .null
    case 1: return .bool(g.below(2) == 0)
    case 2:
        let choices: [Int64] = [0, -1, 1, 42, Int64.max, Int64.min, -9_000_000_000, Int64(g.below(1_000_000))]
        return .int(choices[g.below(choices.count)])
    case 3:
        let choices = [0.5, -2.25, 1e-7, 6.02e23, -1.5e300, 3.141592653589793]
        return .double(choices[g.below(choices.count)])
    case 4: return .string(awkwardStrings[g.below(awkwardStrings.count)])
    case 5: return .array((0..<g.below(5)).map { _ in randomValue(&g, depth: depth + 1) })
    default:
        var o: [String: JSONValue] = [:]
        for _ in 0..<g.below(5) { o[awkwardStrings[g.below(awkwardStrings.count)] + "k"] = randomValue(&g, depth: depth + 1) }
        return .object(o)
    }
}

@Suite struct JSONReaderTests {
    @Test func readsAHandWrittenTypeAndSkipsUnknownMembers() throws {
        let text = #" {"x":{"deep":[1,{"y":null}]},"name":"eth0","mtu":9000,"tags":["a","b"],"peers":[{"name":"p"}],"z":"\u00e9"} "#
        let port = try JSONReader.decode(Port.self, from: Array(text.utf8))
        #expect(port == Port(name: "eth0", mtu: 9000, tags: ["a", "b"], peers: [Port(name: "p")]))
    }

    @Test func nullReadsAsNilForOptionals() throws {
        let port = try JSONReader.decode(Port.self, from: Array(#"{"name":"a","mtu":null,"tags":null,"peers":null}"#.utf8))
        #expect(port == Port(name: "a"))
    }

    @Test func escapedKeysMatch() throws {
        let port = try JSONReader.decode(Port.self, from: Array(#"{"n\u0061me":"a","\u006dtu":1}"#.utf8))
        #expect(port == Port(name: "a", mtu: 1))
    }

    @Test func missingRequiredMemberNamesMemberAndPath() {
        let text = #"{"name":"a","peers":[{"name":"b"},{"mtu":1}]}"#
        let error = #expect(throws: JSONError.self) { try JSONReader.decode(Port.self, from: Array(text.utf8)) }
        #expect(error?.message == "missing required member 'name' at peers[1]")
        #expect(error?.offset == text.utf8.count - 3)
    }

    @Test func wrongTypeNamesExpectedFoundAndPath() throws {
        let text = #"{"name":"a","peers":[{"name":"b","tags":["x",7]}]}"#
        let error = #expect(throws: JSONError.self) { try JSONReader.decode(Port.self, from: Array(text.utf8)) }
        #expect(error?.message == "expected string, got number at peers[0].tags[1]")
        let seven = try #require(Array(text.utf8).firstIndex(of: UInt8(ascii: "7")))
        #expect(error?.offset == seven)
        #expect(error?.description.contains("byte \(seven)") == true)
        let null = #expect(throws: JSONError.self) { try JSONReader.decode(Port.self, from: Array(#"{"name":null}"#.utf8)) }
        #expect(null?.message == "expected string, got null at name")
        let top = #expect(throws: JSONError.self) { try JSONReader.decode(Port.self, from: Array("[]".utf8)) }
        #expect(top?.message == "expected object, got array")
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "\"abc", "\"\\q\"", "tru", "[1] x", "{\"a\":1,}", "\"\u{01}\"", "1e", "nul",
        "{\"a\":1 \"b\":2}", "[1 2]", "{,}", "[,1]", "\"\\u12\"", "\"\\uzzzz\"", "{\"a\":}", "{1:2}", "+1", ".5", "1.e5", "--1", "[}", "{]",
    ])
    func rejectsWhatParseRejects(_ text: String) {
        #expect(throws: JSONError.self) { try JSONValue.parse(text) }
        #expect(throws: JSONError.self) { try JSONReader.decode(JSONValue.self, from: Array(text.utf8)) }
        var reader = JSONReader(UnsafeBufferPointer(start: nil, count: 0))
        Array(text.utf8).withUnsafeBufferPointer { buffer in
            reader = JSONReader(buffer)
            let skipped = Result { () throws(JSONError) in
                try reader.skipValue()
                if !reader.isAtEnd() { throw JSONError(message: "trailing", offset: reader.offset) }
            }
            #expect(throws: JSONError.self) { try skipped.get() }
        }
    }

    @Test func randomDocumentsReadExactlyAsParseReadsThem() throws {
        var g = SplitMix64(state: 0xA11CE)
        for round in 0..<400 {
            let value = randomValue(&g)
            let bytes = value.serialized(pretty: round % 2 == 0)
            let parsed = try JSONValue.parse(bytes)
            let read = try JSONReader.decode(JSONValue.self, from: bytes)
            #expect(read == parsed, "round \(round): \(value)")
            #expect(read == value, "round \(round)")
            try bytes.withUnsafeBufferPointer { buffer throws(JSONError) in
                var reader = JSONReader(buffer)
                try reader.skipValue()
                let atEnd = reader.isAtEnd()
                #expect(atEnd)
            }
        }
    }

    @Test func everyTruncationIsAnErrorNotACrash() throws {
        var g = SplitMix64(state: 7)
        var value: JSONValue = ["name": "eth0", "tags": ["a", "é\n"], "peers": [["name": "p", "mtu": 1500]]]
        value["junk"] = randomValue(&g)
        let bytes = value.serialized()
        _ = try JSONReader.decode(Port.self, from: bytes)
        for cut in 0..<bytes.count {
            let prefix = Array(bytes[0..<cut])
            #expect(throws: JSONError.self) { try JSONReader.decode(Port.self, from: prefix) }
            #expect(throws: JSONError.self) { try JSONReader.decode(JSONValue.self, from: prefix) }
        }
    }

    @Test func integersFollowJSONDecoder() throws {
        func int(_ text: String) throws(JSONError) -> Int64 { try JSONReader.decode(Int64.self, from: Array(text.utf8)) }
        #expect(try int("0") == 0)
        #expect(try int("-0") == 0)
        #expect(try int("9223372036854775807") == Int64.max)
        #expect(try int("-9223372036854775808") == Int64.min)
        #expect(try int("1.0") == 1)
        #expect(try int("1e2") == 100)
        #expect(try int("1E+2") == 100)
        #expect(try int("100e-2") == 1)
        #expect(try int("-1.0e0") == -1)
        for bad in ["9223372036854775808", "-9223372036854775809", "1.5", "1e400", "9223372036854775807.0", "true", "\"1\"", "null"] {
            #expect(throws: JSONError.self, "\(bad)") { try int(bad) }
        }
        let outOfRange = #expect(throws: JSONError.self) { try int(" 99999999999999999999") }
        #expect(outOfRange?.offset == 1)
    }

    @Test func doublesAndBooleans() throws {
        #expect(try JSONReader.decode(Double.self, from: Array("-2.5e-3".utf8)) == -0.0025)
        #expect(try JSONReader.decode(Double.self, from: Array("7".utf8)) == 7)
        #expect(throws: JSONError.self) { try JSONReader.decode(Double.self, from: Array("1e400".utf8)) }
        #expect(try JSONReader.decode(Bool.self, from: Array(" false ".utf8)) == false)
        #expect(throws: JSONError.self) { try JSONReader.decode(Bool.self, from: Array("1".utf8)) }
        #expect(try JSONReader.decode([String: Int].self, from: Array(#"{"a":1,"b":2,"a":3}"#.utf8)) == ["a": 3, "b": 2])
        #expect(try JSONReader.decode([Int?].self, from: Array("[1,null,3]".utf8)) == [1, nil, 3])
    }

    @Test func stringsDecodeEscapesAndSurrogatesLikeParse() throws {
        let cases = [#""\ud83d\ude00""#, #""\ud800""#, #""\udc00x""#, #""\ud800\u0041""#, #""a\u0000b""#, #""\"\\\/\b\f\n\r\t""#,
                     #""\u00e9\u65e5""#, "\"\u{7f}é\""]
        for text in cases {
            let parsed = try JSONValue.parse(text)
            let read = try JSONReader.decode(String.self, from: Array(text.utf8))
            #expect(.string(read) == parsed, "\(text)")
        }
        #expect(try JSONReader.decode(String.self, from: Array(#""\ud83d\ude00""#.utf8)) == "😀")
        #expect(try JSONReader.decode(String.self, from: Array(#""\ud800""#.utf8)) == "\u{FFFD}")
    }

    @Test func nestingIsLimitedLikeParse() throws {
        let ok = String(repeating: "[", count: JSONValue.maximumDepth) + String(repeating: "]", count: JSONValue.maximumDepth)
        #expect(try JSONReader.decode(JSONValue.self, from: Array(ok.utf8)) == JSONValue.parse(ok))
        let tooDeep = "[" + ok + "]"
        #expect(throws: JSONError.self) { try JSONValue.parse(tooDeep) }
        let error = #expect(throws: JSONError.self) { try JSONReader.decode(JSONValue.self, from: Array(tooDeep.utf8)) }
        #expect(error?.message.contains("nesting deeper than") == true)
        let huge = String(repeating: "[", count: 100_000)
        #expect(throws: JSONError.self) { try JSONReader.decode(JSONValue.self, from: Array(huge.utf8)) }
        let deepUnknown = #"{"name":"a","x":"# + String(repeating: "{\"a\":", count: 600) + "1" + String(repeating: "}", count: 601)
        #expect(throws: JSONError.self) { try JSONReader.decode(Port.self, from: Array(deepUnknown.utf8)) }
    }

    @Test func arraysHaveNoGrowthSlack() throws {
        let items = (0..<1000).map { JSONValue.string("item-\($0)") }
        let strings = try JSONReader.decode([String].self, from: JSONValue.array(items).serialized())
        #expect(strings.count == 1000)
        // Swift rounds a capacity up to the allocation size only: far below the doubling slack (1024+).
        #expect(strings.capacity < 1002)
        #expect(try JSONReader.decode([Int].self, from: Array("[]".utf8)).isEmpty)
        #expect(try JSONReader.decode([[Int]].self, from: Array("[[1,2],[],[3]]".utf8)) == [[1, 2], [], [3]])
    }

    @Test func aMalformedHugeArrayFailsAtItsFirstElement() throws {
        // Two million elements counted, each of them the wrong type for a `Port`.
        let text = "[" + String(repeating: "1,", count: 2_000_000) + "1]"
        let error = #expect(throws: JSONError.self) { try JSONReader.decode([Port].self, from: Array(text.utf8)) }
        #expect(error?.message == "expected object, got number at [0]")
        let truncated = "{\"name\":\"a\",\"tags\":[" + String(repeating: "\"t\",", count: 100_000)
        #expect(throws: JSONError.self) { try JSONReader.decode(Port.self, from: Array(truncated.utf8)) }
    }

    @Test func isNullPeeksWithoutConsuming() throws {
        try Array(" null".utf8).withUnsafeBufferPointer { buffer throws(JSONError) in
            var reader = JSONReader(buffer)
            let null = try reader.isNull()
            #expect(null)
            let consumed = try reader.readNull()
            #expect(consumed)
            let atEnd = reader.isAtEnd()
            #expect(atEnd)
        }
    }

    @Test func elementCountIsOnlyAHint() throws {
        for text in [#"["a,b","]",{"x":[1,2]}]"#, #"[ ]"#, "[\"\\\"\",1]"] {
            #expect(try JSONReader.decode(JSONValue.self, from: Array(text.utf8)) == JSONValue.parse(text))
        }
        #expect(try JSONReader.decode([String].self, from: Array(#"["a,b","],[","\"]"]"#.utf8)) == ["a,b", "],[", "\"]"])
    }

    @Test func wordAtATimeStringScanFindsTheFirstSpecialByte() {
        let fillers: [UInt8] = [0x20, 0x41, 0x7F, 0x80, 0xC3, 0xA9, 0xFF, 0x21, 0x23, 0x5B, 0x5D]
        let specials: [UInt8] = [0x22, 0x5C, 0x00, 0x1F, 0x0A]
        var g = SplitMix64(state: 99)
        for length in 0..<40 {
            for position in 0...length {
                var bytes = (0..<length).map { _ in fillers[g.below(fillers.count)] }
                if position < length {
                    bytes[position] = specials[g.below(specials.count)]
                    // Specials after the first one must not matter.
                    for k in (position + 1)..<length where g.below(3) == 0 { bytes[k] = specials[g.below(specials.count)] }
                }
                let offset = g.below(3)
                let padded = Array(repeating: UInt8(0x61), count: offset) + bytes
                padded.withUnsafeBufferPointer { buffer in
                    let reader = JSONReader(buffer)
                    #expect(reader.stringSpecial(from: offset) == offset + position, "length \(length), position \(position)")
                }
            }
        }
    }

    @Test func nonContiguousCollectionsAreCopied() throws {
        let bytes = Array(#"{"name":"x"}"#.utf8)
        let lazy = bytes.lazy.map { $0 }
        #expect(try JSONReader.decode(Port.self, from: lazy) == Port(name: "x"))
    }
}
