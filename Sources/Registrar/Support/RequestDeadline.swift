/// The instant by which the current request must be answered, when a middleware has set one.
/// Database work reads it to bound its statements (`statement_timeout`) by the time left.
public enum RequestDeadline {
    @TaskLocal public static var current: ContinuousClock.Instant?

    /// Time left before `current`, capped by `limit`; `limit` when no deadline is set.
    static func remaining(capped limit: Duration) -> Duration {
        guard let current else { return limit }
        return min(limit, max(.zero, current - .now))
    }
}
