import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// RFC 7592 §2.1 reads are audited without a write per request (issue: reads must scale far past
/// the argon2 bound while every write keeps its own audited transaction). Each read is counted
/// in memory per (tenant, client); a flush turns the counts into one `client.read` event per
/// client per window, with `details.count`, and runs at least once a minute and on graceful
/// shutdown. A flush that fails puts its counts back, so the next one carries them: nothing is
/// lost while the process lives.
public final class ReadAuditCoalescer: Sendable {
    struct Key: Hashable {
        let tenantID: UUID
        let clientID: String
    }

    struct Tally {
        var count: Int
        var firstReadAt: Date
        var lastReadAt: Date
        /// The distinct source addresses of the window, the first few of them.
        var sources: [String]
        var lastRequestID: String?

        mutating func merge(_ other: Tally) {
            count += other.count
            firstReadAt = min(firstReadAt, other.firstReadAt)
            lastReadAt = max(lastReadAt, other.lastReadAt)
            for source in other.sources where !sources.contains(source) && sources.count < ReadAuditCoalescer.maximumSources {
                sources.append(source)
            }
            lastRequestID = other.lastRequestID ?? lastRequestID
        }
    }

    static let maximumSources = 8

    let audit: any AuditRepository
    let now: @Sendable () -> Date
    private let pending = Mutex<[Key: Tally]>([:])

    public init(audit: any AuditRepository, now: @escaping @Sendable () -> Date) {
        self.audit = audit
        self.now = now
    }

    /// Counts one successful read; never touches the database.
    public func noteRead(tenantID: UUID, clientID: String, sourceAddress: String?, requestID: String?) {
        let now = now()
        let read = Tally(count: 1, firstReadAt: now, lastReadAt: now, sources: sourceAddress.map { [$0] } ?? [], lastRequestID: requestID)
        pending.withLock { pending in
            pending[Key(tenantID: tenantID, clientID: clientID), default: Tally(count: 0, firstReadAt: now, lastReadAt: now, sources: [])]
                .merge(read)
        }
    }

    /// Reads counted and not yet written.
    public var pendingReads: Int {
        pending.withLock { $0.values.reduce(0) { $0 + $1.count } }
    }

    /// Writes every pending count, one statement per tenant. Returns the events written; the
    /// counts of a tenant whose write failed are merged back and the first error is rethrown.
    @discardableResult
    public func flush() async throws -> Int {
        let taken = pending.withLock { pending in
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        guard !taken.isEmpty else { return 0 }
        var written = 0
        var firstError: (any Error)?
        for (tenantID, entries) in Dictionary(grouping: taken, by: \.key.tenantID) {
            let events = entries.map { Self.event(clientID: $0.key.clientID, $0.value) }
            do {
                try await audit.append(events, tenantID: tenantID)
                written += events.count
            } catch {
                firstError = firstError ?? error
                pending.withLock { pending in
                    for (key, tally) in entries { pending[key, default: Tally(count: 0, firstReadAt: tally.firstReadAt, lastReadAt: tally.lastReadAt, sources: [])].merge(tally) }
                }
            }
        }
        if let firstError { throw firstError }
        return written
    }

    static func event(clientID: String, _ tally: Tally) -> AuditEvent {
        var details: [String: JSONValue] = [
            "count": .number(Double(tally.count)),
            "first_read_at": .string(tally.firstReadAt.formatted(.iso8601)),
            "last_read_at": .string(tally.lastReadAt.formatted(.iso8601)),
        ]
        if !tally.sources.isEmpty { details["source_addresses"] = .array(tally.sources.map(JSONValue.string)) }
        return AuditEvent(action: "client.read", actorType: .client, actorID: clientID, clientID: clientID,
                          sourceAddress: tally.sources.first, requestID: tally.lastRequestID, details: details)
    }
}

/// Flushes the coalescer every `interval` and once more when the server shuts down gracefully.
/// Listed after the database pool, so the pool is still open for the last flush (a service group
/// stops its services in reverse order, the HTTP server first).
struct ReadAuditFlushService: Service {
    let coalescer: ReadAuditCoalescer
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled {
            let interval = interval
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            await flush()
            if Task.isShuttingDownGracefully { break }
        }
    }

    func flush() async {
        do {
            try await coalescer.flush()
        } catch {
            logger.error("read audit flush failed; counts kept for the next one", metadata: [
                "error": .string(String(describing: error)), "pending_reads": "\(coalescer.pendingReads)",
            ])
        }
    }
}
