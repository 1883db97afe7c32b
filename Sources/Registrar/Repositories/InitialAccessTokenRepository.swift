import Foundation
import Logging
import PostgresNIO

/// Initial access tokens of one tenant at a time.
public protocol InitialAccessTokenRepository: Sendable {
    func insert(_ token: InitialAccessToken, audit: AuditEvent) async throws
    func find(tenantID: UUID, id: String) async throws -> InitialAccessToken?
    /// Newest first.
    func list(tenantID: UUID) async throws -> [InitialAccessToken]
    /// Marks the token revoked; false when it does not exist or was revoked already.
    func revoke(tenantID: UUID, id: String, at now: Date, audit: AuditEvent) async throws -> Bool
    /// Writes the pre-check tag of a row stored before tags, if its hash is still `hash`.
    func storeTag(tenantID: UUID, id: String, hash: String, tag: String) async throws
}

public struct PostgresInitialAccessTokenRepository: InitialAccessTokenRepository {
    let database: Database
    var logger: Logger { database.logger }

    public init(database: Database) {
        self.database = database
    }

    public func insert(_ token: InitialAccessToken, audit: AuditEvent) async throws {
        let constraints = token.constraints.json.encodedString()
        try await database.withTenant(token.tenantID) { connection in
            try await connection.run("""
                INSERT INTO initial_access_tokens (tenant_id, token_id, label, secret_hash, secret_tag, created_at, expires_at, max_uses, constraints)
                VALUES (\(token.tenantID), \(token.id), \(token.label), \(token.secretHash), \(token.secretTag), \(token.createdAt),
                    \(token.expiresAt), \(token.maxUses), \(constraints)::jsonb)
                """, logger: logger)
            try await AuditLog.record(audit, tenantID: token.tenantID, on: connection, logger: logger)
        }
    }


    public func find(tenantID: UUID, id: String) async throws -> InitialAccessToken? {
        try await database.withTenant(tenantID) { connection in
            try await connection.run("""
                SELECT token_id, label, secret_hash, created_at, expires_at, max_uses, uses, revoked_at, constraints::text, secret_tag
                FROM initial_access_tokens WHERE tenant_id = \(tenantID) AND token_id = \(id)
                """, logger: logger).first.flatMap { try Self.decode($0, tenantID: tenantID) }
        }
    }

    public func list(tenantID: UUID) async throws -> [InitialAccessToken] {
        try await database.withTenant(tenantID) { connection in
            try await connection.run("""
                SELECT token_id, label, secret_hash, created_at, expires_at, max_uses, uses, revoked_at, constraints::text, secret_tag
                FROM initial_access_tokens WHERE tenant_id = \(tenantID) ORDER BY created_at DESC, token_id
                """, logger: logger).compactMap { try Self.decode($0, tenantID: tenantID) }
        }
    }

    public func revoke(tenantID: UUID, id: String, at now: Date, audit: AuditEvent) async throws -> Bool {
        try await database.withTenant(tenantID) { connection in
            let revoked = try await connection.run("""
                UPDATE initial_access_tokens SET revoked_at = \(now)
                WHERE tenant_id = \(tenantID) AND token_id = \(id) AND revoked_at IS NULL RETURNING token_id
                """, logger: logger)
            guard !revoked.isEmpty else { return false }
            try await AuditLog.record(audit, tenantID: tenantID, on: connection, logger: logger)
            return true
        }
    }

    public func storeTag(tenantID: UUID, id: String, hash: String, tag: String) async throws {
        try await database.withTenant(tenantID) { connection in
            try await connection.run("""
                UPDATE initial_access_tokens SET secret_tag = \(tag)
                WHERE tenant_id = \(tenantID) AND token_id = \(id) AND secret_hash = \(hash) AND secret_tag IS NULL
                """, logger: logger)
        }
    }

    static func decode(_ row: PostgresRow, tenantID: UUID) throws -> InitialAccessToken? {
        let (id, label, hash, createdAt, expiresAt, maxUses, uses, revokedAt, constraintsText, tag) =
            try row.decode((String, String, String, Date, Date?, Int?, Int, Date?, String, String?).self)
        guard let object = try? JSONValue.parseObject(Array(constraintsText.utf8)),
              let constraints = try? InitialAccessToken.Constraints(json: .object(object)) else { return nil }
        return InitialAccessToken(tenantID: tenantID, id: id, label: label, secretHash: hash, createdAt: createdAt, expiresAt: expiresAt,
                                  maxUses: maxUses, uses: uses, revokedAt: revokedAt, constraints: constraints, secretTag: tag)
    }
}
