import Foundation
import JSON
import KubeCore
import Testing
@testable import LabAPIServer

/// The pure part of a watch: which event a watcher with a selector sees for one committed change,
/// and when it sends bookmarks (the delivery loop itself: WatchTests).
@Suite struct WatchSelectionTests {
    func pod(_ name: String, app: String) -> JSONValue {
        ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name), "labels": ["app": .string(app)], "resourceVersion": "5"]]
    }

    func selection(_ labels: String) throws -> Selection {
        Selection(labels: try LabelSelectorString.parse(labels), fields: nil)
    }

    @Test func anObjectThatStartsMatchingArrivesAsAdded() throws {
        let event = try selection("app=web").watchEvent(.modified, object: pod("p", app: "web"), previous: pod("p", app: "db"), rv: 9)
        #expect(event == WatchEvent(type: "ADDED", replacement: nil))
    }

    @Test func anObjectThatStopsMatchingLeavesAsDeletedWithItsLastMatchingState() throws {
        let event = try #require(try selection("app=web").watchEvent(.modified, object: pod("p", app: "db"), previous: pod("p", app: "web"), rv: 9))
        #expect(event.type == "DELETED")
        let last = try #require(event.replacement)
        #expect(last[path: ["metadata", "labels", "app"]]?.stringValue == "web")
        // At the change's resourceVersion, so a client resuming from it does not see the change again.
        #expect(last[path: ["metadata", "resourceVersion"]]?.stringValue == "9")
    }

    @Test func changesOutsideTheSelectionAreNotSeen() throws {
        let s = try selection("app=web")
        #expect(s.watchEvent(.modified, object: pod("p", app: "db"), previous: pod("p", app: "cache"), rv: 9) == nil)
        #expect(s.watchEvent(.added, object: pod("p", app: "db"), previous: nil, rv: 9) == nil)
        #expect(s.watchEvent(.modified, object: pod("p", app: "db"), previous: nil, rv: 9) == nil)
    }

    @Test func aChangeWithinTheSelectionKeepsItsType() throws {
        let s = try selection("app=web")
        #expect(s.watchEvent(.modified, object: pod("p", app: "web"), previous: pod("p", app: "web"), rv: 9) == WatchEvent(type: "MODIFIED", replacement: nil))
        #expect(s.watchEvent(.added, object: pod("p", app: "web"), previous: nil, rv: 9) == WatchEvent(type: "ADDED", replacement: nil))
    }

    @Test func aDeletionIsSeenWhenTheObjectMatchedBeforeIt() throws {
        let s = try selection("app=web")
        #expect(s.watchEvent(.deleted, object: pod("p", app: "web"), previous: pod("p", app: "web"), rv: 9) == WatchEvent(type: "DELETED", replacement: nil))
        #expect(s.watchEvent(.deleted, object: pod("p", app: "db"), previous: pod("p", app: "db"), rv: 9) == nil)
        // Without the previous state the deleted object itself decides.
        #expect(s.watchEvent(.deleted, object: pod("p", app: "web"), previous: nil, rv: 9) == WatchEvent(type: "DELETED", replacement: nil))
    }

    @Test func withoutASelectorEveryChangeIsSeenAsItIs() {
        let all = Selection()
        for type in [ChangeType.added, .modified, .deleted] {
            #expect(all.watchEvent(type, object: pod("p", app: "db"), previous: pod("p", app: "web"), rv: 9) == WatchEvent(type: type.rawValue, replacement: nil))
        }
    }

    @Test func bookmarksComeEveryMinuteAndOnceJustBeforeTheTimeout() throws {
        let start = Date(timeIntervalSince1970: 1_000_000)
        let unbounded = BookmarkSchedule(deadline: start.addingTimeInterval(3600), timeout: nil)
        #expect(unbounded.next(after: start) == start.addingTimeInterval(60))
        // A 150 s watch: bookmarks at 60 s, 120 s and 148 s (2 s before its end), then none.
        let bounded = BookmarkSchedule(deadline: start.addingTimeInterval(150), timeout: 150)
        let first = try #require(bounded.next(after: start))
        let second = try #require(bounded.next(after: first))
        let final = try #require(bounded.next(after: second))
        #expect([first, second, final].map { $0.timeIntervalSince(start) } == [60, 120, 148])
        #expect(bounded.next(after: final) == nil)
        // A short watch: the final bookmark at half its length.
        let short = BookmarkSchedule(deadline: start.addingTimeInterval(3), timeout: 3)
        #expect(short.next(after: start) == start.addingTimeInterval(1.5))
    }
}
