import Synchronization

/// A bounded, single-consumer queue between the task that reads a watch response and the code that
/// iterates the watch. The producer waits (``send(_:)`` suspends) while `capacity` elements are
/// queued, so a slow consumer stops the producer, which stops acknowledging response bytes, which
/// pauses the HTTP transfer (see `StreamFlow`): memory stays bounded end to end.
///
/// Exactly one consumer calls ``next()`` at a time (the contract of an async iterator). The
/// consumer leaving (``cancelConsumer()``, or cancellation of its task while it waits) makes every
/// pending and later ``send(_:)`` return false.
final class BoundedChannel<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var head = 0
        /// Set by ``finish(_:)``; delivered after the queued elements, once (nil afterwards).
        var end: Result<Void, any Error>?
        var delivered = false
        var consumer: CheckedContinuation<Element?, any Error>?
        var producer: CheckedContinuation<Bool, Never>?
        var consumerGone = false
        var peak = 0

        var count: Int { items.count - head }

        mutating func pop() -> Element {
            let element = items[head]
            head += 1
            if head == items.count {
                items.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 64 && head * 2 >= items.count {
                items.removeFirst(head)
                head = 0
            }
            return element
        }
    }

    private enum SendStep {
        case handed(CheckedContinuation<Element?, any Error>), queued, full, gone
    }
    private enum NextStep {
        case element(Element, CheckedContinuation<Bool, Never>?), end(Result<Void, any Error>?), wait
    }

    /// The most elements queued at once (a test and benchmark figure).
    var peakCount: Int { state.withLock { $0.peak } }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Queues `element`, waiting while the queue is full. False when the consumer has gone (the
    /// producer should stop).
    func send(_ element: Element) async -> Bool {
        while true {
            let step: SendStep = state.withLock { s in
                if s.consumerGone || s.end != nil { return .gone }
                if let consumer = s.consumer {
                    s.consumer = nil
                    return .handed(consumer)
                }
                if s.count < capacity {
                    s.items.append(element)
                    s.peak = max(s.peak, s.count)
                    return .queued
                }
                return .full
            }
            switch step {
            case .handed(let consumer):
                consumer.resume(returning: element)
                return true
            case .queued:
                return true
            case .gone:
                return false
            case .full:
                let proceed = await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                        let resumeNow: Bool? = state.withLock { s in
                            if s.consumerGone || Task.isCancelled { return false }
                            if s.count < capacity { return true }
                            s.producer = continuation
                            return nil
                        }
                        if let resumeNow { continuation.resume(returning: resumeNow) }
                    }
                } onCancel: {
                    let producer = state.withLock { s -> CheckedContinuation<Bool, Never>? in
                        defer { s.producer = nil }
                        return s.producer
                    }
                    producer?.resume(returning: false)
                }
                if !proceed { return false }
            }
        }
    }

    /// Ends the sequence after the queued elements: normally (`nil`) or with `error`.
    func finish(_ error: (any Error)? = nil) {
        let consumer = state.withLock { s -> CheckedContinuation<Element?, any Error>? in
            guard s.end == nil else { return nil }
            s.end = error.map { .failure($0) } ?? .success(())
            defer { s.consumer = nil }
            if s.consumer != nil { s.delivered = true }
            return s.consumer
        }
        guard let consumer else { return }
        if let error { consumer.resume(throwing: error) } else { consumer.resume(returning: nil) }
    }

    /// The next element; nil at the end or when the consuming task is cancelled; throws the
    /// producer's error once.
    func next() async throws -> Element? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Element?, any Error>) in
                let step: NextStep = state.withLock { s in
                    if s.count > 0 {
                        let element = s.pop()
                        defer { s.producer = nil }
                        return .element(element, s.producer)
                    }
                    if let end = s.end {
                        if s.delivered { return .end(nil) }
                        s.delivered = true
                        return .end(end)
                    }
                    if s.consumerGone { return .end(nil) }
                    s.consumer = continuation
                    return .wait
                }
                switch step {
                case .element(let element, let producer):
                    producer?.resume(returning: true)
                    continuation.resume(returning: element)
                case .end(.some(.failure(let error))):
                    continuation.resume(throwing: error)
                case .end:
                    continuation.resume(returning: nil)
                case .wait:
                    break
                }
            }
        } onCancel: {
            cancelConsumer()
        }
    }

    /// The consumer has gone: queued elements are dropped, a waiting producer is told to stop, a
    /// waiting ``next()`` returns nil.
    func cancelConsumer() {
        let (consumer, producer) = state.withLock { s in
            s.consumerGone = true
            s.items.removeAll()
            s.head = 0
            defer {
                s.consumer = nil
                s.producer = nil
            }
            return (s.consumer, s.producer)
        }
        producer?.resume(returning: false)
        consumer?.resume(returning: nil)
    }
}
