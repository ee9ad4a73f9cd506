import Synchronization

/// A reference to a mutex-protected value, so closures can share it.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R where R: Sendable {
        try mutex.withLock { try body(&$0) }
    }
    var value: Value { mutex.withLock { $0 } }
}
