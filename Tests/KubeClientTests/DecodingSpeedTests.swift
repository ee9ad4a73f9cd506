import Foundation
import JSON
import KubeClient
import KubeCore
import Testing

/// Kept small: CPU-bound tests occupy the (two-thread) cooperative pool that the other tests share.
/// Rough, debug-build figures (the release benchmark lives in hack/bench.sh); these only guard against
/// accidental quadratic behaviour.
@Suite struct DecodingSpeedTests {
    static func padding(_ bytes: Int) -> String { String(repeating: "x", count: bytes) }

    @Test func watchDecodingIsLinearAndFast() throws {
        var stream = Data()
        let count = 1_500
        for i in 0..<count {
            var object = widgetJSON("w\(i)", rv: String(1000 + i))
            object["metadata"]?["annotations"] = ["note": .string(Self.padding(1_800))]
            let event: JSONValue = ["type": "MODIFIED", "object": object]
            stream.append(contentsOf: event.serialized())
            stream.append(0x0A)
        }
        var decoder = WatchLineDecoder<Widget>()
        var decoded = 0
        let start = ContinuousClock.now
        // feed in 16 KiB chunks like libcurl delivers them
        var offset = 0
        while offset < stream.count {
            let end = min(offset + 16_384, stream.count)
            try decoder.feed(stream.subdata(in: offset..<end)) { _ in decoded += 1 }
            offset = end
        }
        try decoder.finish { _ in decoded += 1 }
        let d = ContinuousClock.now - start
        let seconds = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        let rate = Double(count) / seconds
        print("watch decoding (debug build): \(Int(rate)) events/s of \(stream.count / count) bytes")
        // the same lines through JSONDecoder alone, to separate splitting from decoding
        let lines = stream.split(separator: 0x0A)
        let plainStart = ContinuousClock.now
        let jsonDecoder = JSONDecoder()
        for line in lines { _ = try jsonDecoder.decode(WatchEvent<Widget>.self, from: Data(line)) }
        let p = ContinuousClock.now - plainStart
        print("JSONDecoder alone (debug build): \(Int(Double(count) / (Double(p.components.seconds) + Double(p.components.attoseconds) / 1e18))) events/s")
        #expect(decoded == count)
        #expect(rate > 1_000)
    }

    @Test func listDecoding() throws {
        var items: [JSONValue] = []
        for i in 0..<500 {
            var object = widgetJSON("w\(i)", rv: String(i))
            object["metadata"]?["annotations"] = ["note": .string(Self.padding(3_800))]
            items.append(object)
        }
        let body = Data(JSONValue.object(["kind": "WidgetList", "apiVersion": "example.com/v1",
                                          "metadata": ["resourceVersion": "99"], "items": .array(items)]).serialized())
        let list = try ResponseDecoding.decodeList(Widget.self, from: body)
        #expect(list.items.count == 500)
        #expect(list.metadata.resourceVersion == "99")
        let truncated = body.prefix(body.count / 2)
        let error = #expect(throws: KubeClientError.self) { try ResponseDecoding.decodeList(Widget.self, from: Data(truncated), source: "https://h/list") }
        #expect(error?.description.contains("https://h/list") == true)
    }
}
