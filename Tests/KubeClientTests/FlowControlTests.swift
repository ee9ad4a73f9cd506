import Foundation
import HTTPServer
import JSON
import KubeCore
import Synchronization
import Testing
@testable import KubeClient

/// Watch flow control over real HTTPS: a consumer that falls behind holds the server back through
/// TCP instead of making the client buffer everything the server sends.
/// A shared counter (an `Atomic` cannot be captured by escaping closures).
final class Counter: Sendable {
    private let atomic = Atomic<Int>(0)
    func add(_ n: Int) { atomic.add(n, ordering: .relaxed) }
    var value: Int { atomic.load(ordering: .relaxed) }
}

@Suite(.timeLimit(.minutes(2))) struct WatchFlowControlTests {
    static let events = 4000
    static let padding = String(repeating: "x", count: 8000)

    /// A server that writes `events` ~8 KB events as fast as the connection takes them and counts
    /// the bytes its (blocking) writes got rid of.
    static func floodingServer(written: Counter) throws -> FakeAPIServer {
        try FakeAPIServer { _, writer in
            writer.writeHead(status: 200, headers: ["Content-Type": "application/json"])
            for i in 0..<events {
                var object = widgetJSON("w\(i)", rv: "\(i + 1)", size: i)
                object["spec"] = ["color": .string(padding), "size": .int(Int64(i))]
                let line = JSONValue.object(["type": "ADDED", "object": object]).serialized() + [0x0A]
                guard writer.writeBody(line) else { return }
                written.add(line.count)
            }
            writer.finish()
        }
    }

    /// Waits until `value` stops growing for `quiet` (the server is blocked), at most `limit`.
    static func settle(_ value: Counter, quiet: Duration = .milliseconds(400), limit: Duration = .seconds(20)) async throws -> Int {
        let deadline = ContinuousClock.now + limit
        var last = value.value
        var stableSince = ContinuousClock.now
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            let now = value.value
            if now != last {
                last = now
                stableSince = ContinuousClock.now
            } else if ContinuousClock.now - stableSince >= quiet {
                return now
            }
        }
        return value.value
    }

    @Test func aSlowConsumerHoldsTheServerBackAndLosesNothing() async throws {
        let written = Counter()
        let server = try Self.floodingServer(written: written)
        let client = try KubernetesClient(configuration: server.configuration)
        let total = Self.events * (Self.padding.utf8.count + 150)
        let (stream, statistics) = client.resource(Widget.self).openWatch(WatchOptions(resourceVersion: "0"))
        var iterator = stream.makeAsyncIterator()
        let first = try #require(try await iterator.next())
        #expect(first.object?.metadata.name == "w0")

        // The consumer takes nothing more: the server must get stuck far short of the whole stream
        // (socket buffers plus the client's bounded queues), not write all ~33 MB into client memory.
        let stuckAt = try await Self.settle(written)
        #expect(stuckAt < total / 2, "the server wrote \(stuckAt) of ~\(total) bytes to a consumer that took 1 event")
        #expect(statistics.peakQueuedEvents <= 128)
        #expect(statistics.peakBufferedBytes <= (1 << 20) + 64 * 1024)
        #expect(statistics.pauses >= 1)

        // Then everything arrives, in order, nothing dropped or repeated.
        var count = 1
        var inOrder = true
        while let event = try await iterator.next() {
            if event.object?.spec?.size != count { inOrder = false }
            count += 1
        }
        #expect(count == Self.events)
        #expect(inOrder)
        #expect(written.value > stuckAt)
    }

    /// A transfer paused for longer than the idle timeout is not a stalled connection: the idle
    /// timeout measures the server's silence, not the consumer's.
    @Test func aPauseLongerThanTheIdleTimeoutIsNotAStall() async throws {
        let written = Counter()
        let server = try Self.floodingServer(written: written)
        let client = try KubernetesClient(configuration: server.configuration)
        var options = WatchOptions(resourceVersion: "0")
        options.idleTimeout = 1
        var iterator = client.resource(Widget.self).watch(options).makeAsyncIterator()
        _ = try await iterator.next()
        try await Task.sleep(for: .seconds(3))
        var count = 1
        while try await iterator.next() != nil { count += 1 }
        #expect(count == Self.events)
    }

    /// Dropping a stream whose transfer is paused ends the transfer (no leaked connection or task).
    @Test func droppingAPausedWatchClosesTheConnection() async throws {
        let written = Counter()
        let gone = Counter()
        let server = try FakeAPIServer { _, writer in
            writer.onClientGone { gone.add(1) }
            writer.writeHead(status: 200, headers: ["Content-Type": "application/json"])
            for i in 0..<Self.events {
                var object = widgetJSON("w\(i)", rv: "\(i + 1)", size: i)
                object["spec"] = ["color": .string(Self.padding), "size": .int(Int64(i))]
                let line = JSONValue.object(["type": "ADDED", "object": object]).serialized() + [0x0A]
                guard writer.writeBody(line) else { return }
                written.add(line.count)
            }
            writer.finish()
        }
        let client = try KubernetesClient(configuration: server.configuration)
        do {
            var iterator = client.resource(Widget.self).watch(WatchOptions(resourceVersion: "0")).makeAsyncIterator()
            _ = try await iterator.next()
            _ = try await Self.settle(written)
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while gone.value == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(gone.value > 0, "the server did not see the client go")
    }
}

@Suite struct BoundedChannelTests {
    @Test func theProducerWaitsWhileFullAndTheOrderIsKept() async throws {
        let channel = BoundedChannel<Int>(capacity: 4)
        let sent = Counter()
        let producer = Task {
            for i in 0..<100 {
                guard await channel.send(i) else { return }
                sent.add(1)
            }
            channel.finish()
        }
        try await Task.sleep(for: .milliseconds(200))
        #expect(sent.value <= 5)  // 4 queued, the 5th handed over at most
        var received: [Int] = []
        while let value = try await channel.next() { received.append(value) }
        await producer.value
        #expect(received == Array(0..<100))
        #expect(channel.peakCount <= 4)
    }

    @Test func anErrorIsThrownOnceAfterTheQueuedElements() async throws {
        struct Boom: Error {}
        let channel = BoundedChannel<Int>(capacity: 8)
        #expect(await channel.send(1))
        channel.finish(Boom())
        #expect(try await channel.next() == 1)
        await #expect(throws: Boom.self) { try await channel.next() }
        #expect(try await channel.next() == nil)
        #expect(await channel.send(2) == false)
    }

    @Test func aGoneConsumerReleasesAWaitingProducer() async throws {
        let channel = BoundedChannel<Int>(capacity: 1)
        #expect(await channel.send(1))
        let producer = Task { await channel.send(2) }
        try await Task.sleep(for: .milliseconds(100))
        channel.cancelConsumer()
        #expect(await producer.value == false)
    }

    @Test func cancellingAWaitingConsumerEndsItsIteration() async throws {
        let channel = BoundedChannel<Int>(capacity: 1)
        let consumer = Task { try await channel.next() }
        try await Task.sleep(for: .milliseconds(100))
        consumer.cancel()
        #expect(try await consumer.value == nil)
        #expect(await channel.send(1) == false)
    }
}
