import Foundation
import Logging
import PostgresNIO

/// Which clients the reaper acts on at one instant, from a tenant's policy.
public struct ReapingRule: Sendable, Equatable {
    /// Active dynamically registered clients never used and created before this are disabled.
    public var neverUsedCreatedBefore: Date?
    /// Active dynamically registered clients whose last use (or creation) is before this are disabled.
    public var unusedSince: Date?
    /// Clients the reaper disabled before this are deleted.
    public var deleteReapedBefore: Date
    /// The instant a token family must outlive to keep its client (see `disableCondition`).
    public var now: Date

    public init(policy: RegistrationPolicy, now: Date) {
        self.now = now
        neverUsedCreatedBefore = policy.reapNeverUsedAfterHours > 0 ? now.addingTimeInterval(-Double(policy.reapNeverUsedAfterHours) * 3600) : nil
        unusedSince = policy.reapUnusedAfterDays > 0 ? now.addingTimeInterval(-Double(policy.reapUnusedAfterDays) * 86400) : nil
        deleteReapedBefore = now.addingTimeInterval(-Double(policy.reapDeleteAfterDays) * 86400)
    }

    public var isActive: Bool { neverUsedCreatedBefore != nil || unusedSince != nil }
}

public struct ReapingResult: Sendable, Equatable {
    public var disabled: [String] = []
    public var deleted: [String] = []
}

/// The reaper's queries. Rows are claimed with `FOR UPDATE SKIP LOCKED`, so reapers on several
/// instances share the work and never act on one client twice; each client gets its own audit event.
public protocol ClientReaperRepository: Sendable {
    /// Tenants whose policy turns reaping on, with that policy.
    func tenantsWithReaping() async throws -> [(UUID, RegistrationPolicy)]
    /// Disables and deletes at most `limit` clients each, in one transaction.
    func reap(tenantID: UUID, rule: ReapingRule, now: Date, limit: Int) async throws -> ReapingResult
    /// What `reap` would do now, changing nothing.
    func candidates(tenantID: UUID, rule: ReapingRule, limit: Int) async throws -> ReapingResult
}

public struct PostgresClientReaperRepository: ClientReaperRepository {
    let database: Database
    var logger: Logger { database.logger }

    public init(database: Database) {
        self.database = database
    }

    public func tenantsWithReaping() async throws -> [(UUID, RegistrationPolicy)] {
        let rows = try await database.withPlatformScope { connection in
            try await connection.run("""
                SELECT tenant_id, document::text FROM tenant_policies
                WHERE COALESCE((document->>'reap_never_used_after_hours')::integer, 0) > 0
                   OR COALESCE((document->>'reap_unused_after_days')::integer, 0) > 0
                """, logger: logger)
        }
        return try rows.compactMap { row in
            let (id, text) = try row.decode((UUID, String).self)
            guard let object = try? JSONValue.parseObject(Array(text.utf8)), let policy = try? RegistrationPolicy(json: .object(object)) else { return nil }
            return (id, policy)
        }
    }

    /// `WHERE` of the clients to disable, with its binds appended to `builder`.
    ///
    /// A client that holds a live token family (not revoked, inside its absolute lifetime) is
    /// never disabled, however long ago it was last seen: a connector that refreshes silently
    /// for months must keep working (issue 11 item 3), and disabling it would end tokens its
    /// user consented to.
    static func disableCondition(_ builder: inout QueryBuilder, tenantID: UUID, rule: ReapingRule) throws {
        try builder.append("tenant_id = ? AND status = 'active' AND registered_via IN ('dcr', 'cimd') AND (false", tenantID)
        if let before = rule.neverUsedCreatedBefore { try builder.append(" OR (last_used_at IS NULL AND created_at < ?)", before) }
        if let since = rule.unusedSince { try builder.append(" OR COALESCE(last_used_at, created_at) < ?", since) }
        try builder.append(") AND NOT EXISTS (SELECT 1 FROM token_families f WHERE f.tenant_id = clients.tenant_id"
            + " AND f.client_id = clients.client_id AND f.revoked_at IS NULL AND f.absolute_expires_at > ?)", rule.now)
    }

    public func reap(tenantID: UUID, rule: ReapingRule, now: Date, limit: Int) async throws -> ReapingResult {
        var disable = QueryBuilder("WITH claimed AS (SELECT client_id FROM clients WHERE ")
        try Self.disableCondition(&disable, tenantID: tenantID, rule: rule)
        try disable.append("""
             ORDER BY created_at LIMIT ? FOR UPDATE SKIP LOCKED),
            changed AS (UPDATE clients c SET status = 'disabled', reaped_at = ?, updated_at = ?
                FROM claimed WHERE c.tenant_id = ? AND c.client_id = claimed.client_id RETURNING c.client_id),
            audited AS (INSERT INTO audit_events (tenant_id, action, actor_type, actor_id, client_id, details)
                SELECT ?, 'client.reaped', 'system', 'reaper', client_id, '{"step":"disabled"}'::jsonb FROM changed)
            SELECT client_id FROM changed
            """, limit, now, now, tenantID, tenantID)
        var delete = QueryBuilder("WITH claimed AS (SELECT client_id FROM clients WHERE ")
        try delete.append("""
            tenant_id = ? AND status = 'disabled' AND reaped_at IS NOT NULL AND reaped_at < ?
                ORDER BY reaped_at LIMIT ? FOR UPDATE SKIP LOCKED),
            removed AS (DELETE FROM clients c USING claimed WHERE c.tenant_id = ? AND c.client_id = claimed.client_id RETURNING c.client_id),
            audited AS (INSERT INTO audit_events (tenant_id, action, actor_type, actor_id, client_id, details)
                SELECT ?, 'client.reaped', 'system', 'reaper', client_id, '{"step":"deleted"}'::jsonb FROM removed)
            SELECT client_id FROM removed
            """, tenantID, rule.deleteReapedBefore, limit, tenantID, tenantID)
        let (disableQuery, deleteQuery) = (disable.query, delete.query)
        return try await database.withTenant(tenantID) { connection in
            var result = ReapingResult()
            if rule.isActive {
                result.disabled = try await connection.run(disableQuery, logger: logger).map { try $0.decode(String.self) }
            }
            result.deleted = try await connection.run(deleteQuery, logger: logger).map { try $0.decode(String.self) }
            return result
        }
    }

    public func candidates(tenantID: UUID, rule: ReapingRule, limit: Int) async throws -> ReapingResult {
        var disable = QueryBuilder("SELECT client_id FROM clients WHERE ")
        try Self.disableCondition(&disable, tenantID: tenantID, rule: rule)
        try disable.append(" ORDER BY created_at LIMIT ?", limit)
        var delete = QueryBuilder("SELECT client_id FROM clients WHERE ")
        try delete.append("tenant_id = ? AND status = 'disabled' AND reaped_at IS NOT NULL AND reaped_at < ? ORDER BY reaped_at LIMIT ?",
                          tenantID, rule.deleteReapedBefore, limit)
        let (disableQuery, deleteQuery) = (disable.query, delete.query)
        return try await database.withTenant(tenantID) { connection in
            ReapingResult(
                disabled: rule.isActive ? try await connection.run(disableQuery, logger: logger).map { try $0.decode(String.self) } : [],
                deleted: try await connection.run(deleteQuery, logger: logger).map { try $0.decode(String.self) })
        }
    }
}
