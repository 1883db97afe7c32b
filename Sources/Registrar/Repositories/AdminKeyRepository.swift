import Foundation
import Logging
import PostgresNIO

/// Management API keys. Lookup by id needs no tenant (the key says which tenant it belongs to);
/// every write runs in the scope the key belongs to.
public protocol AdminKeyRepository: Sendable {
    func insert(_ key: AdminKey, audit: AuditEvent?) async throws
    func find(id: String) async throws -> AdminKey?
    /// Platform keys when `tenantID` is nil, else that tenant's keys; oldest first.
    func list(tenantID: UUID?) async throws -> [AdminKey]
    func revoke(_ key: AdminKey, at now: Date, audit: AuditEvent?) async throws -> Bool
    /// Records use, at most once a minute per key, so a busy key does not write on every request.
    func markUsed(_ key: AdminKey, at now: Date) async throws
    /// Writes the pre-check tag of a key stored before tags, if its hash is still the same.
    func storeTag(_ key: AdminKey, tag: String) async throws
}

public struct PostgresAdminKeyRepository: AdminKeyRepository {
    let database: Database
    var logger: Logger { database.logger }

    public init(database: Database) {
        self.database = database
    }

    func inScope<T: Sendable>(of key: AdminKey, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        if let tenantID = key.tenantID {
            return try await database.withTenant(tenantID, body)
        }
        return try await database.withPlatformScope(body)
    }

    public func insert(_ key: AdminKey, audit: AuditEvent?) async throws {
        try await inScope(of: key) { connection in
            try await connection.run("""
                INSERT INTO admin_keys (key_id, tenant_id, role, label, secret_hash, secret_tag, created_at)
                VALUES (\(key.id), \(key.tenantID), \(key.role.rawValue), \(key.label), \(key.secretHash), \(key.secretTag), \(key.createdAt))
                """, logger: logger)
            if let audit, let tenantID = key.tenantID {
                try await AuditLog.record(audit, tenantID: tenantID, on: connection, logger: logger)
            }
        }
    }

    public func find(id: String) async throws -> AdminKey? {
        try await database.query("""
            SELECT key_id, tenant_id, role, label, secret_hash, created_at, last_used_at, revoked_at, secret_tag FROM admin_keys WHERE key_id = \(id)
            """).first.flatMap(Self.decode)
    }

    public func list(tenantID: UUID?) async throws -> [AdminKey] {
        let rows: [PostgresRow]
        if let tenantID {
            rows = try await database.query("""
                SELECT key_id, tenant_id, role, label, secret_hash, created_at, last_used_at, revoked_at, secret_tag FROM admin_keys
                WHERE tenant_id = \(tenantID) ORDER BY created_at, key_id
                """)
        } else {
            rows = try await database.query("""
                SELECT key_id, tenant_id, role, label, secret_hash, created_at, last_used_at, revoked_at, secret_tag FROM admin_keys
                WHERE tenant_id IS NULL ORDER BY created_at, key_id
                """)
        }
        return try rows.compactMap(Self.decode)
    }

    public func revoke(_ key: AdminKey, at now: Date, audit: AuditEvent?) async throws -> Bool {
        try await inScope(of: key) { connection in
            let rows = try await connection.run(
                "UPDATE admin_keys SET revoked_at = \(now) WHERE key_id = \(key.id) AND revoked_at IS NULL RETURNING key_id", logger: logger)
            if !rows.isEmpty, let audit, let tenantID = key.tenantID {
                try await AuditLog.record(audit, tenantID: tenantID, on: connection, logger: logger)
            }
            return !rows.isEmpty
        }
    }

    public func markUsed(_ key: AdminKey, at now: Date) async throws {
        if let last = key.lastUsedAt, now.timeIntervalSince(last) < 60 { return }
        let threshold = now.addingTimeInterval(-60)
        try await inScope(of: key) { connection in
            try await connection.run("""
                UPDATE admin_keys SET last_used_at = \(now)
                WHERE key_id = \(key.id) AND (last_used_at IS NULL OR last_used_at < \(threshold))
                """, logger: logger)
        }
    }

    public func storeTag(_ key: AdminKey, tag: String) async throws {
        try await inScope(of: key) { connection in
            try await connection.run("""
                UPDATE admin_keys SET secret_tag = \(tag)
                WHERE key_id = \(key.id) AND secret_hash = \(key.secretHash) AND secret_tag IS NULL
                """, logger: logger)
        }
    }

    static func decode(_ row: PostgresRow) throws -> AdminKey? {
        let (id, tenantID, role, label, hash, createdAt, lastUsedAt, revokedAt, tag) =
            try row.decode((String, UUID?, String, String, String, Date, Date?, Date?, String?).self)
        guard let role = AdminKey.Role(rawValue: role) else { return nil }
        return AdminKey(id: id, tenantID: tenantID, role: role, label: label, secretHash: hash, createdAt: createdAt,
                        lastUsedAt: lastUsedAt, revokedAt: revokedAt, secretTag: tag)
    }
}
