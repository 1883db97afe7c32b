import Foundation
import Logging
import ServiceLifecycle

/// Disables clients nobody uses and later deletes them (design §7), on any number of instances
/// at once: the repository claims rows with SKIP LOCKED, so the work is shared, never repeated.
public struct ClientReaper: Sendable {
    let repository: any ClientReaperRepository
    let now: @Sendable () -> Date
    let logger: Logger
    public var batchSize = 500

    public init(repository: any ClientReaperRepository, now: @escaping @Sendable () -> Date, logger: Logger) {
        self.repository = repository
        self.now = now
        self.logger = logger
    }

    /// One tenant, in batches until nothing is left to do.
    public func run(tenantID: UUID, policy: RegistrationPolicy) async throws -> ReapingResult {
        var total = ReapingResult()
        let rule = ReapingRule(policy: policy, now: now())
        while true {
            let batch = try await repository.reap(tenantID: tenantID, rule: rule, now: now(), limit: batchSize)
            total.disabled += batch.disabled
            total.deleted += batch.deleted
            if batch.disabled.count < batchSize && batch.deleted.count < batchSize { return total }
        }
    }

    /// One pass over every tenant with reaping on; each tenant is worked in bounded batches.
    @discardableResult
    public func runOnce() async throws -> ReapingResult {
        var total = ReapingResult()
        for (tenantID, policy) in try await repository.tenantsWithReaping() {
            let result = try await run(tenantID: tenantID, policy: policy)
            total.disabled += result.disabled
            total.deleted += result.deleted
        }
        if !total.disabled.isEmpty || !total.deleted.isEmpty {
            logger.info("reaped clients", metadata: ["disabled": "\(total.disabled.count)", "deleted": "\(total.deleted.count)"])
        }
        return total
    }
}

/// Runs the reaper every `interval` until shutdown, and with it the rate-limit sweeper and the
/// sweeper of expired codes and tokens (which every instance runs: they are cheap, and the work
/// is shared through SKIP LOCKED).
struct ClientReaperService: Service {
    let reaper: ClientReaper
    let interval: Duration
    var sweeper: RateLimitSweeper?
    var tokenSweeper: TokenSweeper?

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await reaper.runOnce()
                RegistrarMetrics.reaperRan(succeeded: true)
            } catch {
                RegistrarMetrics.reaperRan(succeeded: false)
                reaper.logger.warning("reaper pass failed", metadata: ["error": .string(String(describing: error))])
            }
            do {
                try await sweeper?.runOnce()
            } catch {
                reaper.logger.warning("rate limit sweep failed", metadata: ["error": .string(String(describing: error))])
            }
            do {
                try await tokenSweeper?.runOnce()
            } catch {
                reaper.logger.warning("token sweep failed", metadata: ["error": .string(String(describing: error))])
            }
            let interval = interval
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
