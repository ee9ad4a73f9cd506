// Optimistic-concurrency helpers: re-read, mutate, write; retry when the write conflicts.

import KubeClient
import KubeCore

/// How often and how fast `retryOnConflict` retries (client-go's `DefaultRetry`: 5 attempts,
/// 10 ms apart with ±10 % jitter).
public struct ConflictRetry: Sendable, Hashable {
    /// The total number of attempts (at least 1).
    public var attempts: Int
    /// The delay before the second attempt.
    public var delay: Duration
    /// Growth of the delay between attempts.
    public var multiplier: Double
    /// Relative jitter, 0 ... 1.
    public var jitter: Double

    /// client-go's default: 5 attempts, 10 ms, ×1, 10 % jitter.
    public static let `default` = ConflictRetry(attempts: 5, delay: .milliseconds(10), multiplier: 1, jitter: 0.1)

    /// Creates a policy.
    public init(attempts: Int, delay: Duration, multiplier: Double = 1, jitter: Double = 0.1) {
        self.attempts = max(1, attempts)
        self.delay = delay
        self.multiplier = max(1, multiplier)
        self.jitter = min(max(jitter, 0), 1)
    }
}

/// Runs `body` until it succeeds, retrying (with `policy`'s backoff) while it fails with an error for which
/// `isConflict` is true. Other errors are rethrown at once; after the last conflicting attempt it throws
/// `KubeRuntimeError.conflictRetriesExhausted` carrying the last conflict. `body` must re-read the object
/// each time: retrying a write of a stale copy only conflicts again.
///
/// ```swift
/// try await retryOnConflict(what: "node 'worker-1'") {
///     var node = try await nodes.get("worker-1")
///     node.metadata.labels?["networks.automagic.dev/storage"] = "true"
///     return try await nodes.update(node)
/// }
/// ```
public func retryOnConflict<R: Sendable>(
    what: String,
    policy: ConflictRetry = .default,
    clock: any RuntimeClock = SystemRuntimeClock(),
    isConflict: @Sendable (any Error) -> Bool = isConflictError,
    _ body: () async throws -> R
) async throws -> R {
    var delay = policy.delay
    var attempt = 0
    while true {
        attempt += 1
        do {
            return try await body()
        } catch {
            guard isConflict(error) else { throw error }
            guard attempt < policy.attempts else {
                throw KubeRuntimeError.conflictRetriesExhausted(what: what, attempts: attempt, lastError: error)
            }
            let factor = 1 - policy.jitter + 2 * policy.jitter * Double.random(in: 0..<1)
            try await clock.sleep(for: Duration.fromSeconds(delay.seconds * factor))
            delay = Duration.fromSeconds(delay.seconds * policy.multiplier)
        }
    }
}

/// True for a 409 Conflict from the API server (`KubeClientError.isConflict`), or a `Status` with code 409
/// that is not AlreadyExists.
@Sendable public func isConflictError(_ error: any Error) -> Bool {
    switch error {
    case let error as KubeClientError: return error.isConflict
    case let status as Status: return status.code == 409 && status.reason != "AlreadyExists"
    default: return false
    }
}

extension ResourceClient {
    /// Gets the object `name`, applies `mutate` and updates it, retrying from a fresh read on 409 Conflict.
    /// Returns the stored object. `mutate` may throw to abort.
    ///
    /// ```swift
    /// let updated = try await nodeDevices.modify("worker-1") { $0.metadata.labels = ["a": "b"] }
    /// ```
    public func modify(
        _ name: String,
        policy: ConflictRetry = .default,
        _ mutate: (inout T) throws -> Void
    ) async throws -> T {
        try await retryOnConflict(what: "\(T.resourceType.description) '\(name)'", policy: policy) {
            var object = try await get(name)
            try mutate(&object)
            return try await update(object)
        }
    }

    /// Like `modify`, but writes the `/status` subresource.
    public func modifyStatus(
        _ name: String,
        policy: ConflictRetry = .default,
        _ mutate: (inout T) throws -> Void
    ) async throws -> T {
        try await retryOnConflict(what: "\(T.resourceType.description) '\(name)' status", policy: policy) {
            var object = try await get(name)
            try mutate(&object)
            return try await updateStatus(object)
        }
    }
}
