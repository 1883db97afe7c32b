import Foundation
import Synchronization
import Testing
@testable import Registrar

/// The coalescing rule on its own: counts per (tenant, client), one event per client per flush,
/// and nothing lost when a write fails.
@Suite("Read audit coalescer")
struct ReadAuditCoalescerTests {
    /// An audit log in memory that can be told to refuse writes, as an unreachable database would.
    final class MemoryAudit: AuditRepository, Sendable {
        struct Unavailable: Error {}
        let failing = Mutex(false)
        let appended = Mutex<[(UUID, AuditEvent)]>([])

        func append(_ events: [AuditEvent], tenantID: UUID) async throws {
            if failing.withLock({ $0 }) { throw Unavailable() }
            appended.withLock { $0 += events.map { (tenantID, $0) } }
        }

        func list(tenantID: UUID, filter: AuditFilter, before: Int64?, limit: Int) async throws -> Page<AuditRecord> {
            Page(items: [], nextCursor: nil)
        }

        func export(tenantID: UUID, since: Date?, until: Date?, after: Int64, limit: Int) async throws -> [AuditRecord] { [] }
    }

    static func counts(_ audit: MemoryAudit) -> [String: Int] {
        audit.appended.withLock { events in
            Dictionary(events.map { ("\($0.0)/\($0.1.clientID ?? "")", $0.1.details["count"]?.intValue ?? 0) }, uniquingKeysWith: +)
        }
    }

    @Test("Reads are counted per tenant and client and written as one client.read event each, with the count",
          arguments: [[("a", 1)], [("a", 3), ("b", 2)], [("a", 5), ("b", 1), ("c", 9)]])
    func oneEventPerClient(_ reads: [(String, Int)]) async throws {
        let audit = MemoryAudit()
        let coalescer = ReadAuditCoalescer(audit: audit, now: { Date(timeIntervalSince1970: 1_800_000_000) })
        let (tenantA, tenantB) = (UUID(), UUID())
        for (client, count) in reads {
            for index in 0..<count {
                coalescer.noteRead(tenantID: tenantA, clientID: client, sourceAddress: "10.0.0.\(index % 3)", requestID: "r\(index)")
            }
        }
        // The same client id in another tenant is another client.
        coalescer.noteRead(tenantID: tenantB, clientID: "a", sourceAddress: nil, requestID: nil)
        #expect(try await coalescer.flush() == reads.count + 1)
        #expect(coalescer.pendingReads == 0)
        var expected = Dictionary(uniqueKeysWithValues: reads.map { ("\(tenantA)/\($0.0)", $0.1) })
        expected["\(tenantB)/a"] = 1
        #expect(Self.counts(audit) == expected)
        let events = audit.appended.withLock { $0.map(\.1) }
        #expect(events.allSatisfy { $0.action == "client.read" && $0.actorType == .client && $0.actorID == $0.clientID })
        let busiest = try #require(events.first { $0.clientID == reads.max { $0.1 < $1.1 }!.0 && $0.sourceAddress != nil })
        let sources = busiest.details["source_addresses"]?.arrayValue ?? []
        #expect(sources.count == min(3, reads.max { $0.1 < $1.1 }!.1))
        // A second flush with nothing new writes nothing.
        #expect(try await coalescer.flush() == 0)
    }

    @Test("A failed flush keeps its counts, and the next flush writes them together with newer reads")
    func failedFlushLosesNothing() async throws {
        let audit = MemoryAudit()
        let coalescer = ReadAuditCoalescer(audit: audit, now: { Date() })
        let tenant = UUID()
        for _ in 0..<4 { coalescer.noteRead(tenantID: tenant, clientID: "c", sourceAddress: "10.0.0.1", requestID: nil) }
        audit.failing.withLock { $0 = true }
        await #expect(throws: MemoryAudit.Unavailable.self) { try await coalescer.flush() }
        #expect(coalescer.pendingReads == 4)
        coalescer.noteRead(tenantID: tenant, clientID: "c", sourceAddress: "10.0.0.2", requestID: nil)
        audit.failing.withLock { $0 = false }
        #expect(try await coalescer.flush() == 1)
        #expect(Self.counts(audit) == ["\(tenant)/c": 5])
        #expect(coalescer.pendingReads == 0)
    }
}
