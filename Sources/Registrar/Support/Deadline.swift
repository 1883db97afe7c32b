import Foundation
import Synchronization

/// The operation did not finish in time; it was cancelled.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    public let what: String
    public let limit: Duration
    public var description: String { "\(what): no answer within \(limit)" }
}

/// Runs `body`, cancelling it and throwing `DeadlineExceeded` if it has not finished within
/// `limit`, so that an unreachable database or an exhausted pool becomes an error, not a hang.
/// Like a task group, it returns only once `body` has ended (a cancelled query stops quickly).
public func withDeadline<T: Sendable>(_ limit: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let watch = DeadlineWatch.shared.watch(until: .now + limit)
    defer { DeadlineWatch.shared.release(watch) }
    // The body marks its own end, so that an error of its own at the deadline stays its own.
    let work = Task {
        defer { watch.finish() }
        return try await body()
    }
    watch.onExpiry { work.cancel() }
    do {
        return try await withTaskCancellationHandler {
            try await work.value
        } onCancel: {
            work.cancel()
        }
    } catch {
        if watch.hasExpired { throw DeadlineExceeded(what: what, limit: limit) }
        throw error
    }
}

/// One thread watches every deadline of the process: it looks every 10 ms while any deadline is
/// watched and waits otherwise. Watching costs a
/// lock and a dictionary entry, where a timer per operation (a sleeping child task) cost a
/// dispatch timer and wakeups of dispatch's manager thread, several times per token request.
final class DeadlineWatch: @unchecked Sendable {
    static let shared = DeadlineWatch(tick: 0.01)

    /// One watched deadline: pending until the work finishes or the deadline passes, whichever
    /// comes first; only an expiry while pending cancels the work.
    final class Watch: Sendable {
        enum State { case pending, finished, expired }
        let deadline: ContinuousClock.Instant
        private let state = Mutex<(state: State, cancel: (@Sendable () -> Void)?)>((.pending, nil))

        init(deadline: ContinuousClock.Instant) {
            self.deadline = deadline
        }

        var hasExpired: Bool { state.withLock { $0.state == .expired } }

        /// What cancels the work; run at once if the deadline has already passed.
        func onExpiry(_ cancel: @escaping @Sendable () -> Void) {
            let expired = state.withLock { current -> Bool in
                current.cancel = cancel
                return current.state == .expired
            }
            if expired { cancel() }
        }

        func finish() {
            state.withLock { if $0.state == .pending { $0.state = .finished } }
        }

        func expire() {
            let cancel = state.withLock { current -> (@Sendable () -> Void)? in
                guard current.state == .pending else { return nil }
                current.state = .expired
                return current.cancel
            }
            cancel?()
        }
    }

    private let tick: TimeInterval
    // Everything below `condition` is guarded by it.
    private let condition = NSCondition()
    private var watches: [ObjectIdentifier: Watch] = [:]
    private var running = false

    init(tick: TimeInterval) {
        self.tick = tick
    }

    func watch(until deadline: ContinuousClock.Instant) -> Watch {
        let watch = Watch(deadline: deadline)
        if deadline <= .now {
            watch.expire()
            return watch
        }
        condition.withLock {
            watches[ObjectIdentifier(watch)] = watch
            if !running {
                running = true
                let thread = Thread { [self] in run() }
                thread.name = "deadlines"
                thread.start()
            }
            condition.signal()
        }
        return watch
    }

    func release(_ watch: Watch) {
        condition.withLock { watches[ObjectIdentifier(watch)] = nil }
    }

    /// Deadlines being watched.
    var count: Int { condition.withLock { watches.count } }

    private func run() {
        while true {
            let due = condition.withLock { () -> [Watch] in
                while watches.isEmpty { condition.wait() }
                let now = ContinuousClock.now
                let due = watches.values.filter { $0.deadline <= now }
                for watch in due { watches[ObjectIdentifier(watch)] = nil }
                return due
            }
            for watch in due { watch.expire() }
            Thread.sleep(forTimeInterval: tick)
        }
    }
}

/// The current request's deadline, as a task-local: bound once per request by
/// `DeadlineMiddleware`, read by whatever may wait on the outside world (each database operation
/// bounds its own timeout by it), so that no request outlives its deadline by waiting, without a
/// task, a task group or a timer per request. The request's task itself is never cancelled: a
/// cancelled task could not write its own 503.
public enum RequestExpiry {
    @TaskLocal public static var deadline: ContinuousClock.Instant?

    /// `limit`, shortened to what is left of the current request's time (zero once it is past).
    public static func bounded(_ limit: Duration, now: ContinuousClock.Instant = .now) -> Duration {
        guard let deadline else { return limit }
        return min(limit, max(.zero, deadline - now))
    }

    /// Whether the current request's deadline has passed.
    public static func hasPassed(now: ContinuousClock.Instant = .now) -> Bool {
        deadline.map { now >= $0 } ?? false
    }
}
