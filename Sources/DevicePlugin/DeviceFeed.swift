import MappingFile
import Synchronization

/// The current devices of one served resource and the ListAndWatch streams that follow them.
///
/// ``publish(resource:devices:)`` replaces the list; every open stream gets the new list when it
/// differs from the last one sent. ``close()`` ends every stream (the resource is withdrawn, or its
/// server restarts).
final class DeviceFeed: Sendable {
    private struct State {
        var resource: ServedResource
        var devices: [AdvertisedDevice]
        var subscribers: [Int: AsyncStream<[AdvertisedDevice]>.Continuation] = [:]
        var nextID = 0
        var closed = false
    }

    private let state: Mutex<State>

    init(resource: ServedResource, devices: [AdvertisedDevice]) {
        state = Mutex(State(resource: resource, devices: devices))
    }

    /// The resource as last published (for Allocate and GetPreferredAllocation).
    var resource: ServedResource { state.withLock { $0.resource } }
    /// The devices as last published.
    var devices: [AdvertisedDevice] { state.withLock { $0.devices } }

    /// Replaces the resource and its devices; streams hear of a changed device list.
    func publish(resource: ServedResource, devices: [AdvertisedDevice]) {
        let targets = state.withLock { s -> [AsyncStream<[AdvertisedDevice]>.Continuation] in
            s.resource = resource
            guard s.devices != devices else { return [] }
            s.devices = devices
            return Array(s.subscribers.values)
        }
        for c in targets { c.yield(devices) }
    }

    /// A stream that starts with the current list, then each change, until ``close()``.
    func subscribe() -> AsyncStream<[AdvertisedDevice]> {
        let (stream, continuation) = AsyncStream<[AdvertisedDevice]>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let registered = state.withLock { s -> Bool in
            guard !s.closed else { return false }
            let id = s.nextID
            s.nextID += 1
            s.subscribers[id] = continuation
            continuation.yield(s.devices)
            continuation.onTermination = { [weak self] _ in
                _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
            }
            return true
        }
        if !registered { continuation.finish() }
        return stream
    }

    /// How many ListAndWatch streams are open.
    var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// Ends every stream; later subscriptions end at once.
    func close() {
        let targets = state.withLock { s -> [AsyncStream<[AdvertisedDevice]>.Continuation] in
            s.closed = true
            defer { s.subscribers.removeAll() }
            return Array(s.subscribers.values)
        }
        for c in targets { c.finish() }
    }
}
