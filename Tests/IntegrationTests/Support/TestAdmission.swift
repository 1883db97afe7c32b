/// Bounds how many test servers and direct database pools are open at once.
///
/// Swift Testing starts every test of the run together, and each server and each direct pool
/// opens its own PostgreSQL connections: unbounded, the suite outgrows the throwaway cluster's
/// `max_connections` and requests wait for a connection past their deadline. A test that already
/// holds a permit (a nested server, a database pool inside a server's body) runs without a second
/// one, so nesting never waits on itself.
struct TestAdmission: Sendable {
    /// Four connections per test server: 32 of them stay well under the cluster's limit.
    static let servers = TestAdmission(permits: 32)
    /// Two connections per direct pool.
    static let databases = TestAdmission(permits: 48)

    private let semaphore: Semaphore
    @TaskLocal private static var held: Set<ObjectIdentifier> = []

    private init(permits: Int) { semaphore = Semaphore(permits: permits) }

    func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        let key = ObjectIdentifier(semaphore)
        if Self.held.contains(key) { return try await body() }
        await semaphore.acquire()
        defer { Task { await semaphore.release() } }
        return try await Self.$held.withValue(Self.held.union([key])) { try await body() }
    }

    private actor Semaphore {
        private var available: Int
        private var waiters: [CheckedContinuation<Void, Never>] = []

        init(permits: Int) { available = permits }

        func acquire() async {
            if available > 0 {
                available -= 1
                return
            }
            await withCheckedContinuation { waiters.append($0) }
        }

        /// Hands the permit straight to the longest waiter, if any.
        func release() {
            if waiters.isEmpty { available += 1 } else { waiters.removeFirst().resume() }
        }
    }
}
