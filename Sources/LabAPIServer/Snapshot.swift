import Foundation
import JSON
import Logging
import Synchronization

/// The `--data` snapshot: every stored object and the resourceVersion counter, as one JSON file.
enum Snapshot {
    /// Serializes the store.
    static func encode(_ api: LabAPI) -> (bytes: [UInt8], rv: Int64) {
        let (objects, rv): ([(String, Bool, JSONValue)], Int64) = api.store.locked { s in
            let defs = GarbageCollector.resourceDefs(s)
            var out: [(String, Bool, JSONValue)] = []
            for (key, objs) in s.objects {
                let custom = defs[key]?.isCustom ?? !BuiltinResources.all.contains { $0.storageKey == key }
                for o in objs.values { out.append((key, custom, o.value)) }
            }
            return (out, s.rv)
        }
        let doc: JSONValue = [
            "kind": "LabSnapshot", "apiVersion": "automagic.dev/v1alpha1", "resourceVersion": .int(rv),
            "objects": .array(objects.map { ["storageKey": .string($0.0), "custom": .bool($0.1), "object": $0.2] }),
        ]
        return (Wire.encode(doc, order: .sorted, newline: true), rv)
    }

    /// Loads a snapshot into a fresh API (before serving). A missing file is not an error.
    static func load(path: String, into api: LabAPI) throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        let doc: JSONValue
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            doc = try JSONValue.parse(Array(data))
        } catch {
            throw LabServerError.snapshot(path: path, cause: "\(error)")
        }
        guard doc["kind"]?.stringValue == "LabSnapshot", let objects = doc["objects"]?.arrayValue, let rv = doc["resourceVersion"]?.intValue else {
            throw LabServerError.snapshot(path: path, cause: "not a lab snapshot (kind LabSnapshot with objects and resourceVersion expected)")
        }
        // Counters the server increments must leave room to count: an edited or damaged file must not make
        // the next write overflow (a trap) long after start.
        let ceiling: Int64 = 1 << 62
        guard (0...ceiling).contains(rv) else {
            throw LabServerError.snapshot(path: path, cause: "resourceVersion \(rv) is outside 0...\(ceiling)")
        }
        for entry in objects {
            let meta = entry["object"]?["metadata"]
            let name = meta?["name"]?.stringValue ?? "?"
            if let text = meta?["resourceVersion"]?.stringValue, let objRV = Int64(text), !(0...rv).contains(objRV) {
                throw LabServerError.snapshot(path: path, cause: "object \(name): resourceVersion \(objRV) is outside 0...\(rv) (the snapshot's)")
            }
            if let generation = meta?["generation"]?.intValue, !(0...ceiling).contains(generation) {
                throw LabServerError.snapshot(path: path, cause: "object \(name): generation \(generation) is outside 0...\(ceiling)")
            }
        }
        api.store.locked { s in
            s.objects = [:]
            for entry in objects {
                guard let key = entry["storageKey"]?.stringValue, let obj = entry["object"] else { continue }
                let custom = entry["custom"]?.boolValue ?? true
                let objRV = Int64(obj[path: ["metadata", "resourceVersion"]]?.stringValue ?? "") ?? rv
                let stored = StoredObject(value: obj, rv: objRV, order: custom ? .sorted : .goStruct)
                s.objects[key, default: [:]][StoreState.key(namespace: stored.namespace, name: stored.name)] = stored
                s.lastRV[key] = max(s.lastRV[key] ?? 0, objRV)
            }
            s.rv = max(s.rv, rv)
            s.history = []
            CRDLifecycle.refresh(&s)
        }
    }

    /// Writes atomically: a temporary file in the same directory, fsync, rename.
    static func write(path: String, bytes: [UInt8]) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let tmp = (dir.isEmpty ? "." : dir) + "/.\((path as NSString).lastPathComponent).tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw LabServerError.snapshot(path: path, cause: "cannot create \(tmp): \(String(cString: strerror(errno)))") }
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { close(fd); unlink(tmp); throw LabServerError.snapshot(path: path, cause: "write failed: \(String(cString: strerror(errno)))") }
            offset += n
        }
        fsync(fd)
        close(fd)
        guard rename(tmp, path) == 0 else {
            unlink(tmp)
            throw LabServerError.snapshot(path: path, cause: "rename failed: \(String(cString: strerror(errno)))")
        }
    }
}

/// Writes the snapshot periodically (when the resourceVersion moved) on its own thread, and once at stop.
final class SnapshotWriter: Sendable {
    let path: String
    let api: LabAPI
    let interval: Double
    let logger: Logger
    private let condition = NSCondition()
    private let stopping = Atomic<Bool>(false)
    private let lastWritten = Atomic<Int64>(-1)
    private let done = DispatchSemaphore(value: 0)

    init(path: String, api: LabAPI, interval: Double, logger: Logger) {
        self.path = path; self.api = api; self.interval = max(0.2, interval); self.logger = logger
    }

    func start() {
        let t = Thread { [self] in
            while !stopping.load(ordering: .relaxed) {
                condition.lock()
                _ = condition.wait(until: Date().addingTimeInterval(interval))
                condition.unlock()
                flush()
            }
            done.signal()
        }
        t.name = "lab-snapshot"
        t.start()
    }

    func flush() {
        let (bytes, rv) = Snapshot.encode(api)
        if rv == lastWritten.load(ordering: .relaxed) { return }
        do {
            try Snapshot.write(path: path, bytes: bytes)
            lastWritten.store(rv, ordering: .relaxed)
        } catch {
            logger.error("failed to write snapshot", metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }

    func stop() {
        if stopping.exchange(true, ordering: .acquiringAndReleasing) { return }
        condition.lock(); condition.broadcast(); condition.unlock()
        _ = done.wait(timeout: .now() + 5)
        flush()
    }
}
