// libFuzzer target for the watch-event decoder the agent and the controller run on every line
// an API server streams: `JSONReader` decoding `WatchEvent<NodeDevice>` and
// `WatchEvent<NetworkDeviceMap>` (the path `KubeClient` takes for `JSONReadable` types). Built
// by hack/fuzz-watch.sh with the sources of JSON, KubeCore and AutomagicAPI in one module (their
// `import` lines are stripped), so no module qualifiers here.
//
// Besides "no crash, no hang", for any input:
// - a failure is a `JSONError` with an offset inside the input (what the client names in its
//   error), never another error;
// - an accepted object event re-encodes (JSONEncoder) and reads back to an equal value;
// - a bookmark carries no object, an ERROR event a Status.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func automagicWatchFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    check(WatchEvent<NodeDevice>.self, bytes)
    check(WatchEvent<NetworkDeviceMap>.self, bytes)
    return 0
}

func check<T: KubernetesObject & JSONReadable & Equatable>(_ type: WatchEvent<T>.Type, _ bytes: UnsafeRawBufferPointer) {
    let event: WatchEvent<T>
    do {
        event = try JSONReader.decode(WatchEvent<T>.self, from: bytes)
    } catch {
        precondition(error.offset >= 0 && error.offset <= bytes.count, "error offset \(error.offset) outside \(bytes.count) bytes")
        return
    }
    switch event {
    case .added(let object), .modified(let object), .deleted(let object):
        let encoded: Data
        do { encoded = try JSONEncoder().encode(object) } catch { fatalError("accepted \(T.self) does not encode: \(error)") }
        let again: T
        do { again = try JSONReader.decode(T.self, from: encoded) } catch {
            fatalError("re-encoded \(T.self) does not read back: \(error): \(String(decoding: encoded, as: UTF8.self))")
        }
        precondition(again == object, "\(T.self) changes through encode and read: \(String(decoding: encoded, as: UTF8.self))")
    case .bookmark:
        precondition(event.object == nil)
    case .error(let status):
        precondition(event.object == nil && event.resourceVersion == nil)
        _ = status.code
    }
}
