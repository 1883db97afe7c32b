import Foundation
import Logging
import PostgresNIO

/// A stored audit event with its position and time.
public struct AuditRecord: Sendable, Equatable {
    public let id: Int64
    public let occurredAt: Date
    public let event: AuditEvent

    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(String(id)),
            "occurred_at": .string(occurredAt.formatted(.iso8601)),
            "action": .string(event.action),
            "actor_type": .string(event.actorType.rawValue),
        ]
        if let actor = event.actorID { object["actor_id"] = .string(actor) }
        if let client = event.clientID { object["client_id"] = .string(client) }
        if let source = event.sourceAddress { object["source_address"] = .string(source) }
        if let request = event.requestID { object["request_id"] = .string(request) }
        if !event.details.isEmpty { object["details"] = .object(event.details) }
        return .object(object)
    }
}

public struct AuditFilter: Sendable, Equatable {
    public var action: String?
    public var clientID: String?
    public var actorID: String?
    public var since: Date?
    public var until: Date?
    public init() {}
}

/// Reading the append-only audit log (writing happens inside each change's own transaction),
/// and appending the coalesced read events that no change carries.
public protocol AuditRepository: Sendable {
    /// Appends one event per entry, all of one tenant, in one statement.
    func append(_ events: [AuditEvent], tenantID: UUID) async throws
    /// Newest first; `before` is the id the previous page ended at.
    func list(tenantID: UUID, filter: AuditFilter, before: Int64?, limit: Int) async throws -> Page<AuditRecord>
    /// Oldest first, after `after`, for streaming exports.
    func export(tenantID: UUID, since: Date?, until: Date?, after: Int64, limit: Int) async throws -> [AuditRecord]
}

public struct PostgresAuditRepository: AuditRepository {
    let database: Database
    var logger: Logger { database.logger }

    public init(database: Database) {
        self.database = database
    }

    public func append(_ events: [AuditEvent], tenantID: UUID) async throws {
        guard !events.isEmpty else { return }
        let (actions, actorTypes) = (events.map(\.action), events.map(\.actorType.rawValue))
        // Arrays carry no NULLs here: an absent value travels as '' and becomes NULL again below.
        let (actors, clients) = (events.map { $0.actorID ?? "" }, events.map { $0.clientID ?? "" })
        let (sources, requests) = (events.map { $0.sourceAddress ?? "" }, events.map { $0.requestID ?? "" })
        let details = events.map { JSONValue.object($0.details).encodedString() }
        try await database.withTenant(tenantID) { connection in
            try await connection.run("""
                INSERT INTO audit_events (tenant_id, action, actor_type, actor_id, client_id, source_address, request_id, details)
                SELECT \(tenantID), e.action, e.actor_type, NULLIF(e.actor_id, ''), NULLIF(e.client_id, ''),
                       NULLIF(e.source_address, ''), NULLIF(e.request_id, ''), e.details::jsonb
                FROM unnest(\(actions)::text[], \(actorTypes)::text[], \(actors)::text[], \(clients)::text[],
                            \(sources)::text[], \(requests)::text[], \(details)::text[])
                    AS e(action, actor_type, actor_id, client_id, source_address, request_id, details)
                """, logger: logger)
        }
    }

    static let columns = "SELECT event_id, occurred_at, action, actor_type, actor_id, client_id, source_address, request_id, details::text FROM audit_events WHERE "

    public func list(tenantID: UUID, filter: AuditFilter, before: Int64?, limit: Int) async throws -> Page<AuditRecord> {
        var builder = QueryBuilder(Self.columns)
        try builder.append("tenant_id = ?", tenantID)
        if let action = filter.action { try builder.append(" AND action = ?", action) }
        if let client = filter.clientID { try builder.append(" AND client_id = ?", client) }
        if let actor = filter.actorID { try builder.append(" AND actor_id = ?", actor) }
        if let since = filter.since { try builder.append(" AND occurred_at >= ?", since) }
        if let until = filter.until { try builder.append(" AND occurred_at < ?", until) }
        if let before { try builder.append(" AND event_id < ?", before) }
        try builder.append(" ORDER BY event_id DESC LIMIT ?", limit + 1)
        let records = try await fetch(builder.query, tenantID: tenantID)
        let items = Array(records.prefix(limit))
        let next = records.count > limit ? items.last.map { SecretGenerator.base64URL(Array(String($0.id).utf8)) } : nil
        return Page(items: items, nextCursor: next)
    }

    public func export(tenantID: UUID, since: Date?, until: Date?, after: Int64, limit: Int) async throws -> [AuditRecord] {
        var builder = QueryBuilder(Self.columns)
        try builder.append("tenant_id = ? AND event_id > ?", tenantID, after)
        if let since { try builder.append(" AND occurred_at >= ?", since) }
        if let until { try builder.append(" AND occurred_at < ?", until) }
        try builder.append(" ORDER BY event_id LIMIT ?", limit)
        return try await fetch(builder.query, tenantID: tenantID)
    }

    /// The id inside an audit page cursor.
    public static func decodeCursor(_ cursor: String) -> Int64? {
        guard cursor.count <= 40, let bytes = Base64URL.decode(cursor), let text = String(validating: bytes, as: UTF8.self) else { return nil }
        return Int64(text)
    }

    func fetch(_ query: PostgresQuery, tenantID: UUID) async throws -> [AuditRecord] {
        let rows = try await database.withTenant(tenantID) { connection in
            try await connection.run(query, logger: logger)
        }
        return try rows.map { row in
            let (id, at, action, actorType, actorID, clientID, source, requestID, details) =
                try row.decode((Int64, Date, String, String, String?, String?, String?, String?, String).self)
            let object = (try? JSONValue.parseObject(Array(details.utf8))) ?? [:]
            return AuditRecord(id: id, occurredAt: at, event: AuditEvent(
                action: action, actorType: AuditEvent.ActorType(rawValue: actorType) ?? .system, actorID: actorID,
                clientID: clientID, sourceAddress: source, requestID: requestID, details: object))
        }
    }
}
