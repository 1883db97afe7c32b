/// The operation did not finish in time; it was cancelled.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    public let what: String
    public let limit: Duration
    public var description: String { "\(what): no answer within \(limit)" }
}

/// Runs `body`, cancelling it and throwing `DeadlineExceeded` if it has not finished within
/// `limit`, so that an unreachable database or an exhausted pool becomes an error, not a hang.
public func withDeadline<T: Sendable>(_ limit: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw DeadlineExceeded(what: what, limit: limit)
        }
        return value
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
