import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Who is changing the platform in this request: the admin request binds one (id and source
/// known at once, the key once authenticated), and `Database.withPlatformScope` hands it to the
/// transaction, whose triggers write it into the platform audit log with the change itself.
public final class PlatformActor: Sendable {
    public struct Settings: Sendable, Equatable {
        public var actorType: String
        public var actorID: String?
        public var requestID: String?
        public var sourceAddress: String?
    }

    @TaskLocal public static var current: PlatformActor?

    private let settings: Mutex<Settings>

    public init(requestID: String?, sourceAddress: String?) {
        settings = Mutex(Settings(actorType: "anonymous", actorID: nil, requestID: requestID, sourceAddress: sourceAddress))
    }

    /// The request authenticated with this admin key.
    public func authenticated(keyID: String) {
        settings.withLock {
            $0.actorType = AuditEvent.ActorType.adminKey.rawValue
            $0.actorID = keyID
        }
    }

    public var snapshot: Settings { settings.withLock { $0 } }
}

/// A platform audit event: a change to the tenant registry or to platform keys.
public struct PlatformAuditRecord: Sendable, Equatable {
    public let id: Int64
    public let occurredAt: Date
    public let action: String
    public let actorType: String
    public let actorID: String?
    public let tenantID: UUID?
    public let tenantSlug: String?
    public let sourceAddress: String?
    public let requestID: String?
    public let details: [String: JSONValue]

    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(String(id)),
            "occurred_at": .string(occurredAt.formatted(.iso8601)),
            "action": .string(action),
            "actor_type": .string(actorType),
        ]
        if let actorID { object["actor_id"] = .string(actorID) }
        if let tenantID { object["tenant_id"] = .string(tenantID.uuidString.lowercased()) }
        if let tenantSlug { object["tenant"] = .string(tenantSlug) }
        if let sourceAddress { object["source_address"] = .string(sourceAddress) }
        if let requestID { object["request_id"] = .string(requestID) }
        if !details.isEmpty { object["details"] = .object(details) }
        return .object(object)
    }
}

public struct PlatformAuditFilter: Sendable, Equatable {
    public var action: String?
    public var tenantSlug: String?
    public var actorID: String?
    public var since: Date?
    public var until: Date?
    public init() {}
}

/// Reading the platform audit log; it is written by the database itself (sql/0009), in the
/// transaction of each change, so there is nothing to append from here.
public protocol PlatformAuditRepository: Sendable {
    /// Newest first; `before` is the id the previous page ended at.
    func list(filter: PlatformAuditFilter, before: Int64?, limit: Int) async throws -> Page<PlatformAuditRecord>
}

public struct PostgresPlatformAuditRepository: PlatformAuditRepository {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func list(filter: PlatformAuditFilter, before: Int64?, limit: Int) async throws -> Page<PlatformAuditRecord> {
        var builder = QueryBuilder("""
            SELECT event_id, occurred_at, action, actor_type, actor_id, tenant_id, tenant_slug, source_address, request_id, details::text
            FROM platform_audit_events WHERE true
            """)
        if let action = filter.action { try builder.append(" AND action = ?", action) }
        if let slug = filter.tenantSlug { try builder.append(" AND tenant_slug = ?", slug) }
        if let actor = filter.actorID { try builder.append(" AND actor_id = ?", actor) }
        if let since = filter.since { try builder.append(" AND occurred_at >= ?", since) }
        if let until = filter.until { try builder.append(" AND occurred_at < ?", until) }
        if let before { try builder.append(" AND event_id < ?", before) }
        try builder.append(" ORDER BY event_id DESC LIMIT ?", limit + 1)
        let rows = try await database.query(builder.query)
        let records = try rows.map { row in
            let (id, at, action, actorType, actorID, tenantID, slug, source, requestID, details) =
                try row.decode((Int64, Date, String, String, String?, UUID?, String?, String?, String?, String).self)
            return PlatformAuditRecord(id: id, occurredAt: at, action: action, actorType: actorType, actorID: actorID,
                                       tenantID: tenantID, tenantSlug: slug, sourceAddress: source, requestID: requestID,
                                       details: (try? JSONValue.parseObject(Array(details.utf8))) ?? [:])
        }
        let items = Array(records.prefix(limit))
        let next = records.count > limit ? items.last.map { SecretGenerator.base64URL(Array(String($0.id).utf8)) } : nil
        return Page(items: items, nextCursor: next)
    }
}
