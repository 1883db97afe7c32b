import Foundation
import Logging
import Synchronization
import Testing
@testable import Registrar

/// The sweeper's loop: bounded batches until one comes back short, run by the reaper's service.
@Suite("Rate limit sweeper")
struct RateLimitSweeperTests {
    /// A limiter whose store holds `expired` stale states and records each batch asked for.
    final class StaleStates: RateLimiter {
        let state: Mutex<(expired: Int, batches: [Int])>

        init(expired: Int) { state = Mutex((expired, [])) }

        var batches: [Int] { state.withLock { $0.batches } }
        var expired: Int { state.withLock { $0.expired } }

        func check(_ name: String, key: String, tenantID: UUID?, limit: RateLimit, consume: Bool) async throws {}
        func check(_ checks: [RateLimitCheck]) async throws {}
        var checksShareLookups: Bool { false }
        func sweepExpired(batchSize: Int) async throws -> Int {
            state.withLock { state in
                let swept = min(batchSize, state.expired)
                state.expired -= swept
                state.batches.append(batchSize)
                return swept
            }
        }
    }

    struct NothingToReap: ClientReaperRepository {
        func tenantsWithReaping() async throws -> [(UUID, RegistrationPolicy)] { [] }
        func reap(tenantID: UUID, rule: ReapingRule, now: Date, limit: Int) async throws -> ReapingResult { ReapingResult() }
        func candidates(tenantID: UUID, rule: ReapingRule, limit: Int) async throws -> ReapingResult { ReapingResult() }
    }

    @Test("Issue 9: the sweeper deletes in batches of its size until a batch comes back short")
    func sweepsInBoundedBatches() async throws {
        let limiter = StaleStates(expired: 2_500)
        var sweeper = RateLimitSweeper(limiter: limiter)
        sweeper.batchSize = 1000
        #expect(try await sweeper.runOnce() == 2_500)
        #expect(limiter.batches == [1000, 1000, 1000])
        #expect(limiter.expired == 0)
    }

    @Test("Issue 9: the reaper's service loop runs the sweeper on its schedule")
    func reaperServiceRunsTheSweeper() async throws {
        let limiter = StaleStates(expired: 10)
        let reaper = ClientReaper(repository: NothingToReap(), now: { Date() }, logger: Logger(label: "test"))
        let service = ClientReaperService(reaper: reaper, interval: .seconds(3600), sweeper: RateLimitSweeper(limiter: limiter))
        let task = Task { try await service.run() }
        for _ in 0..<200 where limiter.expired > 0 { try await Task.sleep(for: .milliseconds(10)) }
        task.cancel()
        _ = try? await task.value
        #expect(limiter.expired == 0)
        #expect(!limiter.batches.isEmpty)
    }
}
