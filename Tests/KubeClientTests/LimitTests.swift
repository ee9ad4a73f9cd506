import Foundation
import HTTPServer
import JSON
import KubeClient
import KubeCore
import Testing
import TestSupport

/// Issue 13 item 7: a broken server could run the client out of memory with an endless body or an
/// endless watch line. Both are capped; the request (or watch connection) fails naming the limit.
@Suite struct ResponseLimitTests {
    @Test func bodyLargerThanTheLimitFailsTheRequestNamingIt() async throws {
        let size = Locked(512 << 10)
        let server = try FakeAPIServer { _, writer in
            // A list whose items pad it to `size` bytes, sent in 64 KiB chunks without Content-Length.
            writer.writeHead(status: 200, headers: ["Content-Type": "application/json"])
            var body = Array(#"{"kind":"WidgetList","apiVersion":"example.com/v1","metadata":{"resourceVersion":"5"},"items":[],"pad":""#.utf8)
            body += [UInt8](repeating: UInt8(ascii: "x"), count: max(0, size.value - body.count - 2)) + Array(#""}"#.utf8)
            var offset = 0
            while offset < body.count {
                let end = min(body.count, offset + (64 << 10))
                guard writer.writeBody(Array(body[offset..<end])) else { return }
                offset = end
            }
            writer.finish()
        }
        var config = server.configuration
        config.maxResponseBytes = 1 << 20
        config.maxRetries = 0
        let client = try KubernetesClient(configuration: config)
        // Under the limit: read whole.
        #expect(try await client.resource(Widget.self).list().metadata.resourceVersion == "5")
        // Over it: the request fails, naming the limit.
        size.withLock { $0 = 8 << 20 }
        let error = await #expect(throws: KubeClientError.self) { try await client.resource(Widget.self).list() }
        let text = try #require(error).description
        #expect(text.contains("larger than the 1 MiB limit"), "\(text)")
        #expect(text.contains("maxResponseBytes"), "\(text)")
        // The client stays usable.
        size.withLock { $0 = 1000 }
        #expect(try await client.resource(Widget.self).list().metadata.resourceVersion == "5")
    }

    @Test func defaultLimitsAreGenerous() {
        let config = ClientConfiguration(server: "https://127.0.0.1:6443")
        #expect(config.maxResponseBytes == 64 << 20)
        #expect(config.maxWatchLineBytes == 16 << 20)
    }

    @Test func watchLineLongerThanTheLimitEndsTheWatchNamingIt() async throws {
        let server = try FakeAPIServer { _, writer in
            writer.writeHead(status: 200, headers: ["Content-Type": "application/json"])
            let first: JSONValue = ["type": "ADDED", "object": widgetJSON("w1", rv: "11")]
            _ = writer.writeBody(first.serialized() + [0x0A])
            // Then a line that never ends (until the client gives up or 8 MiB were sent).
            let chunk = [UInt8](repeating: UInt8(ascii: " "), count: 64 << 10)
            _ = writer.writeBody(Array(#"{"type":"ADDED","object":"#.utf8))
            for _ in 0..<128 { guard writer.writeBody(chunk) else { return } }
            writer.finish()
        }
        var config = server.configuration
        config.maxWatchLineBytes = 1 << 20
        let client = try KubernetesClient(configuration: config)
        var names: [String] = []
        let error = await #expect(throws: KubeClientError.self) {
            for try await event in client.resource(Widget.self).watch(WatchOptions(resourceVersion: "10")) {
                if case .added(let widget) = event { names.append(widget.metadata.name ?? "") }
            }
        }
        #expect(names == ["w1"])
        let text = try #require(error).description
        #expect(text.contains("watch event 2 is longer than the 1 MiB limit"), "\(text)")
        #expect(text.contains("maxWatchLineBytes"), "\(text)")
    }

    @Test func decoderRefusesALongLineSplitOverChunks() throws {
        var decoder = WatchLineDecoder<Widget>(source: "test", maxLineBytes: 100)
        var count = 0
        try decoder.feed(Data(Array(String(repeating: " ", count: 60).utf8))) { _ in count += 1 }
        #expect(throws: KubeClientError.self) {
            try decoder.feed(Data(Array(String(repeating: " ", count: 60).utf8))) { _ in count += 1 }
        }
        // A line within the limit still decodes.
        var small = WatchLineDecoder<Widget>(source: "test", maxLineBytes: 4096)
        let event: JSONValue = ["type": "ADDED", "object": widgetJSON("w1", rv: "11")]
        let line = event.serialized() + [0x0A]
        try small.feed(Data(line)) { _ in count += 1 }
        #expect(count == 1)
    }
}
