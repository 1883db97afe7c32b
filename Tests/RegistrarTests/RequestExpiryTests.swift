import Foundation
import Synchronization
import Testing
@testable import Registrar

/// The request deadline reaches every wait as a task-local: database timeouts are shortened to
/// what is left of the request, so no request outlives its deadline by waiting.
@Suite("Request deadline")
struct RequestExpiryTests {
    @Test("Deadline: a wait's limit is shortened to what is left of the request, zero once it is past", arguments: [
        // (seconds left of the request or nil for none, the wait's own limit, the expected limit)
        (nil as Int?, 10, 10),
        (30, 10, 10),
        (3, 10, 3),
        (0, 10, 0),
        (-5, 10, 0),
    ])
    func waitsAreBoundedByTheRequest(left: Int?, limit: Int, expected: Int) {
        let now = ContinuousClock.now
        let bounded = RequestExpiry.$deadline.withValue(left.map { now + .seconds($0) }) {
            RequestExpiry.bounded(.seconds(limit), now: now)
        }
        #expect(bounded == .seconds(expected))
    }

    @Test("Deadline: a hung wait inside a request ends at the request's deadline, not at its own longer limit")
    func hungWaitEndsAtTheRequestDeadline() async throws {
        let start = ContinuousClock.now
        await #expect(throws: DeadlineExceeded.self) {
            try await RequestExpiry.$deadline.withValue(start + .milliseconds(300)) {
                try await withDeadline(RequestExpiry.bounded(.seconds(60)), "database") {
                    try await Task.sleep(for: .seconds(60))
                }
            }
        }
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test("Deadline: work that finishes in time returns its value, work that fails keeps its own error, and neither leaves a deadline watched")
    func finishedWorkLeavesNothingWatched() async throws {
        struct Own: Error {}
        let watch = DeadlineWatch(tick: 0.01)
        let cancelled = Mutex(0)
        let early = watch.watch(until: .now + .seconds(60))
        early.onExpiry { cancelled.withLock { $0 += 1 } }
        #expect(watch.count == 1)
        early.finish()
        early.expire()
        watch.release(early)
        #expect(watch.count == 0 && !early.hasExpired && cancelled.withLock { $0 } == 0, "finished work is never cancelled")
        let late = watch.watch(until: .now + .milliseconds(30))
        late.onExpiry { cancelled.withLock { $0 += 1 } }
        try await Task.sleep(for: .milliseconds(300))
        late.finish()
        #expect(late.hasExpired && cancelled.withLock { $0 } == 1 && watch.count == 0, "a passed deadline cancels once and is forgotten")
        #expect(try await withDeadline(.seconds(5), "work") { 42 } == 42)
        await #expect(throws: Own.self) { try await withDeadline(.seconds(5), "work") { throw Own() } }
    }
}
