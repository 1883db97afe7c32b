import Foundation
import Logging
import PostgresNIO

/// Deletes what the authorization server no longer needs: expired authorization codes, refresh
/// tokens, remembered access-token jtis, revocation-list entries and client-assertion jtis, and
/// empty families past their absolute lifetime (sql/0014). Runs on the reaper's schedule, on
/// every instance, in bounded batches until one comes back short.
public struct TokenSweeper: Sendable {
    let repository: any TokenSweepRepository
    let now: @Sendable () -> Date
    public var batchSize = 1000

    public init(repository: any TokenSweepRepository, now: @escaping @Sendable () -> Date) {
        self.repository = repository
        self.now = now
    }

    /// Sweeps until nothing expired is left; returns how many batches ran.
    @discardableResult
    public func runOnce() async throws -> Int {
        var batches = 0
        while true {
            let largest = try await repository.sweepExpired(before: now(), batchSize: batchSize)
            batches += 1
            if largest < batchSize { return batches }
        }
    }
}

public protocol TokenSweepRepository: Sendable {
    /// Deletes at most `batchSize` expired rows of each kind in each tenant; returns the largest
    /// number deleted of any one kind in any one tenant.
    func sweepExpired(before now: Date, batchSize: Int) async throws -> Int
}

public struct PostgresTokenSweepRepository: TokenSweepRepository {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func sweepExpired(before now: Date, batchSize: Int) async throws -> Int {
        guard let row = try await database.query(
            "SELECT registrar_sweep_authorization_server(\(now), \(Int32(clamping: batchSize)))").first else { return 0 }
        return Int(try row.decode(Int32.self))
    }
}
