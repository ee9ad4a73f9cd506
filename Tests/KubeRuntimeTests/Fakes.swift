import KubeClient
import KubeCore
import Synchronization
@testable import KubeRuntime

/// A tiny object type for tests.
struct Widget: KubernetesObject, Hashable {
    static var resourceType: ResourceType {
        ResourceType(group: "example.com", version: "v1", resource: "widgets", kind: "Widget", namespaced: false)
    }
    var apiVersion: String? = "example.com/v1"
    var kind: String? = "Widget"
    var metadata: ObjectMeta
    var spec: String?

    init(_ name: String, rv: String, spec: String? = nil) {
        metadata = ObjectMeta(name: name)
        metadata.resourceVersion = rv
        self.spec = spec
    }
}

/// What a scripted watch does.
enum ScriptedWatch: Sendable {
    /// Yields the events, then ends cleanly.
    case events([WatchEvent<Widget>])
    /// Yields the events, then throws.
    case eventsThenError([WatchEvent<Widget>], FakeError)
    /// Yields the events, then stays open until cancelled.
    case eventsThenHang([WatchEvent<Widget>])
}

/// A scripted `ListWatchSource`: answers lists and watches in order and records every request.
final class FakeSource: ListWatchSource, Sendable {
    typealias Object = Widget
    struct State {
        var lists: [Result<ObjectList<Widget>, FakeError>] = []
        var watches: [ScriptedWatch] = []
        var listRequests: [ListPageRequest] = []
        var watchRequests: [WatchStreamRequest] = []
    }
    let state = Mutex(State())

    init(lists: [Result<ObjectList<Widget>, FakeError>], watches: [ScriptedWatch]) {
        state.withLock { $0.lists = lists; $0.watches = watches }
    }

    var listRequests: [ListPageRequest] { state.withLock { $0.listRequests } }
    var watchRequests: [WatchStreamRequest] { state.withLock { $0.watchRequests } }

    func listPage(_ request: ListPageRequest) async throws -> ObjectList<Widget> {
        let next = state.withLock { s -> Result<ObjectList<Widget>, FakeError>? in
            s.listRequests.append(request)
            return s.lists.isEmpty ? nil : s.lists.removeFirst()
        }
        guard let next else {
            // Out of script: behave like a server that never answers.
            try await Task.sleep(for: .seconds(3600))
            throw CancellationError()
        }
        return try next.mapError { $0.asSourceError }.get()
    }

    func watchStream(_ request: WatchStreamRequest) -> AsyncThrowingStream<WatchEvent<Widget>, any Error> {
        let script = state.withLock { s -> ScriptedWatch in
            s.watchRequests.append(request)
            return s.watches.isEmpty ? .eventsThenHang([]) : s.watches.removeFirst()
        }
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: WatchEvent<Widget>.self)
        switch script {
        case .events(let events):
            for event in events { continuation.yield(event) }
            continuation.finish()
        case .eventsThenError(let events, let error):
            for event in events { continuation.yield(event) }
            continuation.finish(throwing: error.asSourceError)
        case .eventsThenHang(let events):
            for event in events { continuation.yield(event) }
        }
        return stream
    }
}

func page(_ items: [Widget], rv: String, continueToken: String? = nil) -> ObjectList<Widget> {
    ObjectList(metadata: ListMeta(resourceVersion: rv, continueToken: continueToken), items: items)
}

/// Polls (real time, at most ~5 s) until `condition` holds.
func eventually(_ condition: () -> Bool) async throws -> Bool {
    for _ in 0..<5000 {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(1))
    }
    return condition()
}

/// Failures a fake source can script.
enum FakeError: Error, Sendable {
    case gone
    case boom
    case stalled

    var asSourceError: any Error {
        switch self {
        case .gone: ListWatchError.gone(message: "too old resource version")
        case .boom: Status(message: "connection reset", code: 500)
        case .stalled: KubeClientError.timedOut(url: "https://127.0.0.1/apis/example.com/v1/widgets?watch=1", seconds: 90)
        }
    }
}

extension Result where Failure == FakeError {
    func mapError(_ transform: (FakeError) -> any Error) -> Result<Success, any Error> {
        switch self {
        case .success(let v): .success(v)
        case .failure(let e): .failure(transform(e))
        }
    }
}
