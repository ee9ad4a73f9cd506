import Foundation
import JSON
import KubeCore
import Synchronization

/// One write the server answered: who asked (authenticated user and User-Agent), what, when, and the status.
public struct AuditRecord: Sendable, Equatable {
    /// When the request arrived and when its answer was complete (the change, if any, was committed by then).
    public var received: Date
    public var completed: Date
    /// The authenticated user (`system:anonymous` when authentication failed).
    public var user: String
    public var userAgent: String
    public var method: String
    public var path: String
    public var status: Int

    /// One JSON line (`received`/`completed` in RFC 3339 with microseconds).
    public var jsonLine: String {
        let value: JSONValue = [
            "received": .string(KubeTime.formatMicro(received)), "completed": .string(KubeTime.formatMicro(completed)),
            "user": .string(user), "userAgent": .string(userAgent), "method": .string(method), "path": .string(path),
            "status": .int(Int64(status)),
        ]
        return String(decoding: value.serialized(), as: UTF8.self)
    }
}

/// The audit trail of writes (POST, PUT, PATCH, DELETE): kept in memory (the newest `capacity`) and, with
/// a path, appended to a file as JSON lines, one `write` per record, so a reader never sees half a line.
public final class AuditLog: Sendable {
    private struct State {
        var records: [AuditRecord] = []
        var fd: Int32 = -1
    }
    private let state = Mutex(State())
    private let capacity: Int

    init(capacity: Int = 100_000) { self.capacity = capacity }

    deinit { state.withLock { if $0.fd >= 0 { close($0.fd) } } }

    /// Also appends every record to `path` (created if missing, appended to if present).
    func attachFile(_ path: String) throws(LabServerError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LabServerError.auditLog(path: path, cause: String(cString: strerror(errno))) }
        state.withLock { s in
            if s.fd >= 0 { close(s.fd) }
            s.fd = fd
        }
    }

    static func isWrite(_ method: String) -> Bool { ["POST", "PUT", "PATCH", "DELETE"].contains(method) }

    func append(_ record: AuditRecord) {
        state.withLock { s in
            s.records.append(record)
            if s.records.count > capacity { s.records.removeFirst(s.records.count - capacity) }
            if s.fd >= 0 {
                let line = Array((record.jsonLine + "\n").utf8)
                _ = line.withUnsafeBytes { Foundation.write(s.fd, $0.baseAddress, $0.count) }
            }
        }
    }

    /// The records kept in memory, oldest first.
    public var records: [AuditRecord] { state.withLock { $0.records } }
}

/// Passes everything on and remembers the status, for the audit record.
final class StatusRecordingSink: LabResponseSink {
    let inner: any LabResponseSink
    private(set) var status = 0
    init(_ inner: any LabResponseSink) { self.inner = inner }
    func writeHead(status: Int, headers: [(name: String, value: String)]) {
        self.status = status
        inner.writeHead(status: status, headers: headers)
    }
    func writeBody(_ bytes: [UInt8]) -> Bool { inner.writeBody(bytes) }
    func finish() { inner.finish() }
    var isClientGone: Bool { inner.isClientGone }
    func onClientGone(_ action: @escaping @Sendable () -> Void) { inner.onClientGone(action) }
}
