import Foundation
import Synchronization

/// Keeps `last_used_at` current without a write per request: each instance writes a client's use
/// at most once a minute, and the statement itself skips rows written within the minute by others.
public final class UsageRecorder: Sendable {
    let clients: any ClientRepository
    let now: @Sendable () -> Date
    let resolution: TimeInterval
    private let lastWritten = Mutex<[String: Date]>([:])

    public init(clients: any ClientRepository, now: @escaping @Sendable () -> Date, resolution: TimeInterval = 60) {
        self.clients = clients
        self.now = now
        self.resolution = resolution
    }

    public func recordUse(tenantID: UUID, clientID: String) async throws {
        let key = "\(tenantID.uuidString)/\(clientID)"
        let now = now()
        let due = lastWritten.withLock { written -> Bool in
            if let last = written[key], now.timeIntervalSince(last) < resolution { return false }
            if written.count >= 100_000 { written.removeAll(keepingCapacity: true) }
            written[key] = now
            return true
        }
        if due { try await clients.markUsed(tenantID: tenantID, clientID: clientID, at: now) }
    }
}
