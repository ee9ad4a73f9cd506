import KubeClient
import KubeCore
import Testing
@testable import KubeRuntime
#if canImport(Glibc)
import Glibc
#endif

@Suite struct RetryOnConflictTests {
    static let conflict = KubeClientError.api(
        Status(message: "Operation cannot be fulfilled on widgets.example.com \"w1\": the object has been modified", reason: "Conflict", code: 409),
        httpCode: 409, url: "https://127.0.0.1/apis/example.com/v1/widgets/w1")

    @Test func retriesConflictsWithAFreshReadUntilItSucceeds() async throws {
        let attempts = Locked(0)
        let result = try await retryOnConflict(what: "widget 'w1'", policy: ConflictRetry(attempts: 5, delay: .milliseconds(1))) {
            let n = attempts.withLock { $0 += 1; return $0 }
            if n < 3 { throw Self.conflict }
            return "stored on attempt \(n)"
        }
        #expect(result == "stored on attempt 3")
        #expect(attempts.value == 3)
    }

    @Test func givesUpAfterTheLastAttemptNamingTheObject() async throws {
        let attempts = Locked(0)
        do {
            _ = try await retryOnConflict(what: "widget 'w1'", policy: ConflictRetry(attempts: 3, delay: .milliseconds(1))) { () async throws -> Int in
                attempts.withLock { $0 += 1 }
                throw Self.conflict
            }
            Issue.record("expected an error")
        } catch let error as KubeRuntimeError {
            #expect("\(error)".hasPrefix("failed to update widget 'w1': still conflicting after 3 attempts"))
        }
        #expect(attempts.value == 3)
    }

    @Test func otherErrorsAreNotRetried() async throws {
        let attempts = Locked(0)
        let notFound = KubeClientError.api(Status(message: "not found", reason: "NotFound", code: 404), httpCode: 404, url: "u")
        await #expect(throws: KubeClientError.self) {
            try await retryOnConflict(what: "widget 'w1'") { () async throws -> Int in
                attempts.withLock { $0 += 1 }
                throw notFound
            }
        }
        #expect(attempts.value == 1)
        #expect(!isConflictError(KubeClientError.api(Status(reason: "AlreadyExists", code: 409), httpCode: 409, url: "u")))
    }
}

@Suite(.serialized) struct ShutdownTests {
    @Test func aSignalCancelsTheWorkAndIsReported() async throws {
        let cancelled = Locked(false)
        let started = Locked(false)
        let runner = Task {
            try await ShutdownSignals.runUntilSignalled([SIGUSR2]) {
                started.withLock { $0 = true }
                do { try await Task.sleep(for: .seconds(60)) } catch { cancelled.withLock { $0 = true } }
            }
        }
        #expect(try await eventually { started.value })
        try await Task.sleep(for: .milliseconds(50))
        kill(getpid(), SIGUSR2)
        let signal = try await runner.value
        #expect(signal == SIGUSR2)
        #expect(cancelled.value)
    }

    @Test func workThatFinishesFirstReturnsNil() async throws {
        let signal = try await ShutdownSignals.runUntilSignalled([SIGUSR2]) {}
        #expect(signal == nil)
    }
}

@Suite struct ObjectKeyTests {
    @Test func keysPrintAndParseLikeClientGo() {
        #expect(ObjectKey(namespace: "ns", name: "a").description == "ns/a")
        #expect(ObjectKey(namespace: "", name: "a").description == "a")
        #expect(ObjectKey(parsing: "ns/a") == ObjectKey(namespace: "ns", name: "a"))
        #expect(ObjectKey(parsing: "node-1") == ObjectKey(name: "node-1"))
        #expect(ObjectKey(Widget("w", rv: "1")) == ObjectKey(name: "w"))
    }

    @Test func ownerKeysMapSecondaryChangesToOwners() {
        var owned = Widget("child", rv: "1")
        owned.metadata.namespace = "ns"
        owned.metadata.ownerReferences = [
            OwnerReference(apiVersion: "v1", kind: "Node", name: "worker-1", uid: "u1"),
            OwnerReference(apiVersion: "example.com/v1", kind: "Widget", name: "parent", uid: "u2"),
        ]
        let change = StoreChange.added(owned)
        #expect(change.ownerKeys(kind: "Node") == [ObjectKey(name: "worker-1")])
        #expect(change.ownerKeys(kind: "Widget", ownerNamespaced: true) == [ObjectKey(namespace: "ns", name: "parent")])
        #expect(change.ownerKeys(kind: "Pod").isEmpty)
    }
}

@Suite struct ResourceDescriptionTests {
    /// Watcher logs and errors name the resource a source serves; for dynamic clients that is the
    /// client's resource, not `DynamicObject`'s placeholder type.
    @Test func dynamicClientsNameTheirOwnResource() throws {
        let configuration = ClientConfiguration(server: "https://127.0.0.1:1")
        let client = try KubernetesClient(configuration: configuration)
        #expect(client.dynamic(.networkAttachmentDefinitions).resourceDescription == "network-attachment-definitions.k8s.cni.cncf.io")
        #expect(client.resource(Namespace.self).resourceDescription == "namespaces")
        #expect(FakeSource(lists: [], watches: []).resourceDescription == Widget.resourceType.description)
    }
}
