import Testing
@testable import KubeRuntime

@Suite struct BackoffTests {
    @Test func watchBackoffDoublesToThirtySecondsAndResetsAfterTwoHealthyMinutes() {
        var backoff = Backoff(initial: .milliseconds(800), maximum: .seconds(30), multiplier: 2, jitter: 0, resetAfter: .seconds(120))
        var now = ContinuousClock.now
        var delays: [Duration] = []
        for _ in 0..<8 {
            delays.append(backoff.next(now: now, random: 0.5))
            now = now.advanced(by: .seconds(1))
        }
        #expect(delays == [.milliseconds(800), .milliseconds(1600), .milliseconds(3200), .milliseconds(6400),
                           .milliseconds(12800), .milliseconds(25600), .seconds(30), .seconds(30)])
        now = now.advanced(by: .seconds(121))
        #expect(backoff.next(now: now, random: 0.5) == .milliseconds(800))
    }

    @Test func jitterStaysWithinBoundsAndUnderTheMaximum() {
        var backoff = Backoff.watchDefault
        let now = ContinuousClock.now
        let low = backoff.next(now: now, random: 0)
        var high = Backoff.watchDefault
        let top = high.next(now: now, random: 0.999_999)
        #expect(low == .milliseconds(640))
        #expect(top > .milliseconds(959) && top <= .milliseconds(960))
        var capped = Backoff.watchDefault
        var last = Duration.zero
        for _ in 0..<20 { last = capped.next(now: now, random: 0.999) }
        #expect(last == .seconds(30))
    }

    @Test func keyedBackoffIsPerKeyAndForgettable() {
        var backoff = KeyedBackoff<String>(base: .milliseconds(5), maximum: .seconds(300), jitter: 0)
        #expect(backoff.failure("a", random: 0.5) == .milliseconds(5))
        #expect(backoff.failure("a", random: 0.5) == .milliseconds(10))
        #expect(backoff.failure("a", random: 0.5) == .milliseconds(20))
        #expect(backoff.failure("b", random: 0.5) == .milliseconds(5))
        for _ in 0..<40 { _ = backoff.failure("a", random: 0.5) }
        #expect(backoff.failure("a", random: 0.5) == .seconds(300))
        backoff.forget("a")
        #expect(backoff.failureCount("a") == 0)
        #expect(backoff.failure("a", random: 0.5) == .milliseconds(5))
    }
}

@Suite struct WorkQueueStateTests {
    @Test func deduplicatesQueuedKeys() {
        var q = WorkQueueState<String>()
        let r1 = q.add("a")
        #expect(r1)
        let r2 = q.add("a")
        #expect(!r2)
        let r3 = q.add("b")
        #expect(r3)
        let r4 = q.pop()
        #expect(r4 == "a")
        let r5 = q.pop()
        #expect(r5 == "b")
        let r6 = q.pop()
        #expect(r6 == nil)
    }

    @Test func keyReaddedWhileInFlightIsProcessedOnceMoreAfterDone() {
        var q = WorkQueueState<String>()
        q.add("a")
        let r7 = q.pop()
        #expect(r7 == "a")
        let inFlightAdd = q.add("a")     // in flight: not handed out again
        let duplicateAdd = q.add("a")    // and deduplicated
        #expect(!inFlightAdd && !duplicateAdd)
        let r8 = q.pop()
        #expect(r8 == nil)
        let readyAgain = q.done("a")      // ready again, once
        #expect(readyAgain)
        let r9 = q.pop()
        #expect(r9 == "a")
        let r10 = q.pop()
        #expect(r10 == nil)
        let r11 = q.done("a")
        #expect(!r11)
        #expect(q.isIdle)
    }

    @Test func delayedKeysKeepTheEarliestDeadline() {
        var q = WorkQueueState<String>()
        let t0 = ContinuousClock.now
        q.add("a", readyAt: t0.advanced(by: .seconds(10)), now: t0)
        q.add("a", readyAt: t0.advanced(by: .seconds(5)), now: t0)
        q.add("a", readyAt: t0.advanced(by: .seconds(20)), now: t0)
        #expect(q.nextDeadline == t0.advanced(by: .seconds(5)))
        let r12 = q.fire(now: t0.advanced(by: .seconds(4)))
        #expect(r12 == 0)
        let r13 = q.fire(now: t0.advanced(by: .seconds(5)))
        #expect(r13 == 1)
        let r14 = q.pop()
        #expect(r14 == "a")
        #expect(q.waitingCount == 0)
    }

    @Test func shutdownRefusesNewKeysAndDropsDelayedOnes() {
        var q = WorkQueueState<String>()
        let t0 = ContinuousClock.now
        q.add("a")
        q.add("b", readyAt: t0.advanced(by: .seconds(1)), now: t0)
        q.shutDown()
        let r15 = q.add("c")
        #expect(!r15)
        #expect(q.waitingCount == 0)
        let r16 = q.pop()
        #expect(r16 == "a")
        let r17 = q.pop()
        #expect(r17 == nil)
    }
}

@Suite struct WorkQueueTests {
    @Test func oneReconcileInFlightPerKey() async throws {
        let queue = WorkQueue<String>()
        queue.add("a")
        let first = await queue.next()
        #expect(first == "a")
        queue.add("a")
        // A second consumer must not get "a" while it is in flight.
        let second = Task { await queue.next() }
        try await Task.sleep(for: .milliseconds(30))
        #expect(queue.readyCount == 0)
        queue.done("a")
        #expect(await second.value == "a")
        queue.done("a")
        #expect(queue.processingCount == 0)
    }

    @Test func delayedAndRateLimitedRequeuesFollowTheClock() async throws {
        let clock = ManualClock()
        let queue = WorkQueue<String>(backoff: KeyedBackoff(base: .seconds(1), maximum: .seconds(60), jitter: 0), clock: clock)
        queue.add("later", after: .seconds(10))
        #expect(queue.addRateLimited("failing") == .seconds(1))
        await clock.waitForSleepers(1)
        clock.advance(by: .seconds(1))
        #expect(await queue.next() == "failing")
        queue.done("failing")
        #expect(queue.addRateLimited("failing") == .seconds(2))
        #expect(queue.failureCount("failing") == 2)
        await clock.waitForSleepers(1)
        clock.advance(by: .seconds(2))
        #expect(await queue.next() == "failing")
        queue.done("failing")
        queue.forget("failing")
        #expect(queue.failureCount("failing") == 0)
        #expect(queue.readyCount == 0)
        await clock.waitForSleepers(1)
        clock.advance(by: .seconds(7))
        #expect(await queue.next() == "later")
        queue.done("later")
    }

    @Test func shutdownDrainsQueuedAndInFlightKeys() async throws {
        let queue = WorkQueue<Int>()
        for i in 0..<5 { queue.add(i) }
        let inFlight = await queue.next()
        #expect(inFlight == 0)
        let drained = Task { await queue.shutDownAndDrain() }
        var processed: [Int] = []
        while let key = await queue.next() {
            processed.append(key)
            queue.done(key)
        }
        #expect(processed == [1, 2, 3, 4])
        queue.add(99)  // refused after shutdown
        #expect(queue.readyCount == 0)
        queue.done(0)
        await drained.value
        #expect(queue.processingCount == 0)
    }

    @Test func cancellingAWaitingConsumerReturnsNil() async {
        let queue = WorkQueue<Int>()
        let waiter = Task { await queue.next() }
        waiter.cancel()
        #expect(await waiter.value == nil)
        queue.add(1)
        #expect(await queue.next() == 1)
    }
}

@Suite struct ReconcileRunnerTests {
    @Test func failuresBackOffPerKeyAndSuccessForgets() async throws {
        let clock = ManualClock()
        let attempts = Locked<[String: Int]>([:])
        let queue = WorkQueue<String>(backoff: KeyedBackoff(base: .seconds(1), maximum: .seconds(60), jitter: 0), clock: clock)
        struct Flaky: Error {}
        let controller = ReconcileRunner(name: "test", queue: queue, concurrency: 2) { key in
            let n = attempts.withLock { a -> Int in a[key, default: 0] += 1; return a[key]! }
            if key == "flaky" && n < 3 { throw Flaky() }
            return .done
        }
        controller.enqueue("flaky")
        controller.enqueue("ok")
        let run = Task { await controller.run() }
        #expect(try await eventually { attempts.value["flaky"] == 1 && attempts.value["ok"] == 1 })
        await clock.waitForSleepers(1)
        clock.advance(by: .seconds(1))
        #expect(try await eventually { attempts.value["flaky"] == 2 })
        await clock.waitForSleepers(1)
        clock.advance(by: .milliseconds(1999))
        try await Task.sleep(for: .milliseconds(20))
        #expect(attempts.value["flaky"] == 2)
        clock.advance(by: .milliseconds(1))
        #expect(try await eventually { attempts.value["flaky"] == 3 })
        #expect(try await eventually { queue.failureCount("flaky") == 0 })
        run.cancel()
        await run.value
        #expect(controller.statistics == ReconcileCounters(succeeded: 2, failed: 2))
    }

    @Test func requeueAfterReconcilesAgainLater() async throws {
        let clock = ManualClock()
        let count = Locked(0)
        let controller = ReconcileRunner<String>(name: "periodic", queue: WorkQueue(clock: clock)) { _ in
            count.withLock { $0 += 1 }
            return .requeueAfter(.seconds(30))
        }
        controller.enqueue("k")
        let run = Task { await controller.run() }
        #expect(try await eventually { count.value == 1 })
        await clock.waitForSleepers(1)
        clock.advance(by: .seconds(30))
        #expect(try await eventually { count.value == 2 })
        run.cancel()
        await run.value
    }

    @Test func neverRunsTheSameKeyConcurrently() async throws {
        let active = Locked<Set<Int>>([])
        let overlap = Locked(false)
        let done = Locked(0)
        let controller = ReconcileRunner<Int>(name: "parallel", concurrency: 4) { key in
            let clash = active.withLock { !$0.insert(key).inserted }
            if clash { overlap.withLock { $0 = true } }
            try await Task.sleep(for: .milliseconds(2))
            active.withLock { _ = $0.remove(key) }
            done.withLock { $0 += 1 }
            return .done
        }
        let run = Task { await controller.run() }
        for round in 0..<20 {
            for key in 0..<3 { controller.enqueue(key) }
            if round % 5 == 0 { try await Task.sleep(for: .milliseconds(3)) }
        }
        #expect(try await eventually { controller.queue.readyCount == 0 && controller.queue.processingCount == 0 })
        run.cancel()
        await run.value
        #expect(!overlap.value)
        #expect(done.value >= 3)
    }

    @Test func secondaryChangesMapToPrimaryKeys() async throws {
        let seen = Locked<[String]>([])
        let controller = ReconcileRunner<String>(name: "mapped") { key in
            seen.withLock { $0.append(key) }
            return .done
        }
        let (events, input) = AsyncStream.makeStream(of: Int.self)
        controller.watch(events) { n in ["primary-\(n % 2)"] }
        let run = Task { await controller.run() }
        input.yield(1)
        #expect(try await eventually { seen.value == ["primary-1"] })
        input.yield(4)
        #expect(try await eventually { seen.value == ["primary-1", "primary-0"] })
        run.cancel()
        await run.value
    }

    @Test func cancellationLetsInFlightWorkFinishWithinTheGracePeriod() async throws {
        let finished = Locked(false)
        let interrupted = Locked(false)
        let controller = ReconcileRunner<String>(name: "slow", concurrency: 2, shutdownGracePeriod: .milliseconds(100)) { key in
            if key == "quick" {
                try await Task.sleep(for: .milliseconds(20))
                finished.withLock { $0 = true }
            } else {
                do { try await Task.sleep(for: .seconds(3600)) } catch { interrupted.withLock { $0 = true }; throw error }
            }
            return .done
        }
        controller.enqueue("quick")
        controller.enqueue("stuck")
        let run = Task { await controller.run() }
        #expect(try await eventually { controller.queue.processingCount == 2 })
        let started = ContinuousClock.now
        run.cancel()
        await run.value
        #expect(finished.value, "in-flight work finishes after cancellation")
        #expect(interrupted.value, "work still running after the grace period is cancelled")
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func noChangeIsLostUnderConcurrentAdds() async throws {
        // Level-based guarantee: after the queue goes idle, every key was reconciled after its last change.
        let versions = Locked<[Int: Int]>([:])
        let seen = Locked<[Int: Int]>([:])
        let controller = ReconcileRunner<Int>(name: "levels", concurrency: 4) { key in
            let version = versions.withLock { $0[key, default: 0] }
            try await Task.sleep(for: .microseconds(200))
            seen.withLock { $0[key] = version }
            return .done
        }
        let run = Task { await controller.run() }
        try await withThrowingDiscardingTaskGroup { group in
            for producer in 0..<4 {
                group.addTask {
                    var rng = SystemRandomNumberGenerator()
                    for step in 0..<250 {
                        let key = Int(rng.next() % 10)
                        versions.withLock { $0[key, default: 0] += 1 }
                        controller.enqueue(key)
                        if step % 50 == producer { try await Task.sleep(for: .microseconds(100)) }
                    }
                }
            }
        }
        #expect(try await eventually { controller.queue.readyCount == 0 && controller.queue.processingCount == 0 && seen.value == versions.value })
        #expect(seen.value == versions.value)
        run.cancel()
        await run.value
    }
}
