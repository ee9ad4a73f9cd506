import Foundation
import KubeCore
import Testing
@testable import KubeRuntime

@Suite struct WatcherStateTests {
    @Test func watchResumesFromTheListResourceVersionNotAnItems() throws {
        var machine = WatcherState<Widget>()
        guard case .list(let first) = machine.nextAction() else { Issue.record("expected a list"); return }
        #expect(first.continueToken == nil)
        #expect(first.limit == 500)
        let events = machine.listed(page([Widget("a", rv: "5"), Widget("b", rv: "7")], rv: "42"))
        guard case .replaced(let all)? = events.first else { Issue.record("expected replaced, got \(events)"); return }
        #expect(all.map(\.metadata.name) == ["a", "b"])
        guard case .watch(let watch) = machine.nextAction() else { Issue.record("expected a watch"); return }
        #expect(watch.resourceVersion == "42")
        #expect(watch.allowWatchBookmarks)
    }

    @Test func pagesMakeOneReplaceEvent() throws {
        var machine = WatcherState<Widget>(configuration: WatcherConfiguration(labelSelector: "a=b", pageSize: 1))
        _ = machine.nextAction()
        #expect(machine.listed(page([Widget("a", rv: "5")], rv: "9", continueToken: "tok")).isEmpty)
        guard case .list(let second) = machine.nextAction() else { Issue.record("expected a second page"); return }
        #expect(second.continueToken == "tok")
        #expect(second.labelSelector == "a=b")
        #expect(second.resourceVersion == nil)
        let events = machine.listed(page([Widget("b", rv: "6")], rv: "9", continueToken: ""))
        guard case .replaced(let all)? = events.first else { Issue.record("expected replaced"); return }
        #expect(all.map(\.metadata.name) == ["a", "b"])
        #expect(machine.resourceVersion == "9")
    }

    @Test func bookmarksAdvanceTheResourceVersionWithoutEvents() {
        var machine = WatcherState<Widget>()
        _ = machine.nextAction()
        _ = machine.listed(page([], rv: "10"))
        _ = machine.nextAction()
        let (events, recovery) = machine.received(.bookmark(resourceVersion: "99"))
        #expect(events.isEmpty)
        #expect(recovery == nil)
        machine.watchEnded()
        guard case .watch(let watch) = machine.nextAction() else { Issue.record("expected a watch"); return }
        #expect(watch.resourceVersion == "99")
    }

    @Test func goneInStreamRelists() {
        var machine = WatcherState<Widget>()
        _ = machine.nextAction()
        _ = machine.listed(page([], rv: "10"))
        _ = machine.nextAction()
        let (_, recovery) = machine.received(.error(Status(message: "too old resource version: 1 (204)", reason: "Expired", code: 410)))
        #expect(recovery == .relist)
        #expect(machine.phase == .empty)
        guard case .list(let request) = machine.nextAction() else { Issue.record("expected a relist"); return }
        #expect(request.continueToken == nil)
    }

    @Test func otherFailuresKeepTheResourceVersion() {
        var machine = WatcherState<Widget>()
        _ = machine.nextAction()
        _ = machine.listed(page([], rv: "10"))
        _ = machine.nextAction()
        _ = machine.received(.modified(Widget("a", rv: "12")))
        #expect(machine.failed(Status(message: "boom", code: 500)) == .retryAfterBackoff)
        #expect(machine.phase == .readyToWatch(resourceVersion: "12"))
        #expect(machine.failed(ListWatchError.gone(message: "x")) == .relist)
    }

    @Test func failedPageRestartsTheList() {
        var machine = WatcherState<Widget>()
        _ = machine.nextAction()
        _ = machine.listed(page([Widget("a", rv: "1")], rv: "9", continueToken: "tok"))
        #expect(machine.failed(Status(message: "boom", code: 500)) == .retryAfterBackoff)
        guard case .list(let request) = machine.nextAction() else { Issue.record("expected a list"); return }
        #expect(request.continueToken == nil)
        guard case .replaced(let all)? = machine.listed(page([Widget("b", rv: "2")], rv: "11")).first else {
            Issue.record("expected replaced"); return
        }
        #expect(all.map(\.metadata.name) == ["b"])
    }
}

@Suite struct InformerTests {
    @Test func goneRelistReplacesTheCache() async throws {
        let source = FakeSource(
            lists: [
                .success(page([Widget("a", rv: "5"), Widget("b", rv: "6")], rv: "10")),
                .success(page([Widget("c", rv: "18"), Widget("a", rv: "19", spec: "new")], rv: "20")),
            ],
            watches: [
                .events([.added(Widget("d", rv: "11")), .bookmark(resourceVersion: "15")]),   // ends cleanly
                .eventsThenError([.deleted(Widget("b", rv: "16"))], .gone),
                .eventsThenHang([]),
            ])
        let informer = Informer(source: source, backoff: Backoff(initial: .milliseconds(1), maximum: .milliseconds(2)))
        let changes = informer.changes(replay: false)
        let task = Task { await informer.run() }
        defer { task.cancel() }
        #expect(try await eventually { source.watchRequests.count == 3 })
        #expect(source.watchRequests.map(\.resourceVersion) == ["10", "15", "20"])
        #expect(source.listRequests.count == 2)
        #expect(informer.store.keys().map(\.name) == ["a", "c"])
        #expect(informer.store.get(name: "a")?.spec == "new")
        #expect(informer.hasSynced)

        var seen: [String] = []
        for await change in changes {
            switch change {
            case .added(let o): seen.append("+\(o.metadata.name ?? "")")
            case .updated(_, let o): seen.append("~\(o.metadata.name ?? "")")
            case .deleted(let o): seen.append("-\(o.metadata.name ?? "")")
            }
            if seen.count == 7 { break }
        }
        // first list, d added, b deleted, relist: d gone, a updated, c added
        #expect(seen == ["+a", "+b", "+d", "-b", "-d", "~a", "+c"])
    }

    @Test func watchErrorsReconnectFromTheLastResourceVersionAfterBackoff() async throws {
        let clock = ManualClock()
        let source = FakeSource(
            lists: [.success(page([], rv: "10"))],
            watches: [.eventsThenError([.added(Widget("a", rv: "11"))], .boom), .eventsThenHang([])])
        let informer = Informer(source: source, backoff: Backoff(initial: .seconds(1), maximum: .seconds(30), jitter: 0), clock: clock)
        let task = Task { await informer.run() }
        defer { task.cancel() }
        await clock.waitForSleepers(1)
        #expect(source.watchRequests.count == 1)
        #expect(informer.lastFailure?.contains("connection reset") == true)
        clock.advance(by: .milliseconds(999))
        try await Task.sleep(for: .milliseconds(20))
        #expect(source.watchRequests.count == 1)
        clock.advance(by: .milliseconds(1))
        #expect(try await eventually { source.watchRequests.count == 2 })
        #expect(source.watchRequests.map(\.resourceVersion) == ["10", "11"])
        #expect(source.listRequests.count == 1)
        #expect(informer.store.count == 1)
    }

    @Test func stalledWatchIsReconnectedFromTheLastBookmark() async throws {
        let source = FakeSource(
            lists: [.success(page([Widget("a", rv: "3")], rv: "10"))],
            watches: [.eventsThenError([.bookmark(resourceVersion: "25")], .stalled), .eventsThenHang([.modified(Widget("a", rv: "26"))])])
        let informer = Informer(source: source, backoff: Backoff(initial: .milliseconds(1), maximum: .milliseconds(2)))
        let task = Task { await informer.run() }
        defer { task.cancel() }
        #expect(try await eventually { informer.store.get(name: "a")?.metadata.resourceVersion == "26" })
        #expect(source.watchRequests.map(\.resourceVersion) == ["10", "25"])
        #expect(source.listRequests.count == 1, "a stalled connection does not need a relist")
    }

    /// A CI run deadlocked here: `apply` fed subscribers under the store's lock (a yield takes the
    /// consuming task's status lock) while a cancelled consumer's termination handler, run under its
    /// task's status lock, waited for the store's lock to unsubscribe. Many consumers are cancelled
    /// while changes stream to them; the whole run must finish (a deadlock would never return, so a
    /// watchdog fails the test instead of hanging the suite).
    @Test func cancellingSubscribersWhileChangesAreDeliveredDoesNotDeadlock() async throws {
        let done = Locked(false)
        Thread {
            let rounds = DispatchGroup()
            for round in 0..<300 {
                let store = Store<Widget>()
                let streams = (0..<3).map { _ in store.changes(replay: false) }
                let consumers = streams.map { stream in Task.detached { for await _ in stream {} } }
                rounds.enter()
                Thread {
                    for i in 0..<50 { store.apply(.applied(Widget("w\(i)", rv: "\(round).\(i)"))) }
                    rounds.leave()
                }.start()
                for consumer in consumers { consumer.cancel() }
                rounds.wait()
            }
            done.withLock { $0 = true }
        }.start()
        let deadline = ContinuousClock.now + .seconds(60)
        while !done.value, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(done.value, "store deliveries and subscriber cancellation deadlocked")
    }

    @Test func cancellingOneSyncWaiterLeavesTheOthersWaiting() async throws {
        let store = Store<Widget>()
        let woke = Locked(false)
        let patient = Task { await store.waitUntilSynced(); woke.withLock { $0 = true } }
        let impatient = Task { await store.waitUntilSynced() }
        try await Task.sleep(for: .milliseconds(20))
        impatient.cancel()
        await impatient.value
        try await Task.sleep(for: .milliseconds(20))
        #expect(!woke.value)
        let changes = store.apply(.replaced([Widget("a", rv: "1")]))
        #expect(changes.count == 1)
        await patient.value
        #expect(woke.value)
        #expect(store.hasSynced)
    }

    @Test func watcherEventsStreamAndCacheSyncHelper() async throws {
        let source = FakeSource(
            lists: [.success(page([Widget("a", rv: "1")], rv: "5"))],
            watches: [.eventsThenHang([.added(Widget("b", rv: "6")), .deleted(Widget("a", rv: "7"))])])
        let watcher = Watcher(source: source)
        var seen: [String] = []
        for await event in watcher.events() {
            switch event {
            case .replaced(let all): seen.append("replaced \(all.count)")
            case .applied(let o): seen.append("applied \(o.metadata.name ?? "")")
            case .deleted(let o): seen.append("deleted \(o.metadata.name ?? "")")
            }
            if seen.count == 3 { break }
        }
        #expect(seen == ["replaced 1", "applied b", "deleted a"])

        let store = Store<Widget>()
        let informer = Informer(source: FakeSource(lists: [.success(page([], rv: "1"))], watches: []))
        let runner = Task { await informer.run() }
        defer { runner.cancel() }
        store.apply(.replaced([]))
        #expect(await waitForCacheSync(store, informer))
    }

    @Test func hasSyncedWaitsForTheFirstCompleteList() async throws {
        let source = FakeSource(
            lists: [.failure(.gone), .success(page([Widget("a", rv: "1")], rv: "3"))],
            watches: [])
        let informer = Informer(source: source, backoff: Backoff(initial: .milliseconds(1), maximum: .milliseconds(2)))
        #expect(!informer.hasSynced)
        let task = Task { await informer.run() }
        defer { task.cancel() }
        await informer.waitUntilSynced()
        #expect(informer.hasSynced)
        #expect(informer.store.list().map(\.metadata.name) == ["a"])
    }
}
