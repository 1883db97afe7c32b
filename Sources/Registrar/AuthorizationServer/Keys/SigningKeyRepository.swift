import Foundation
import Logging
import PostgresNIO

/// The tenant's signing keys (`signing_keys`, sql/0010). Every query runs in the tenant's
/// transaction, so row-level security keeps one tenant's keys from another's.
public protocol SigningKeyRepository: Sendable {
    /// The active key and the retired keys still published at `now`, newest first.
    func published(tenantID: UUID, now: Date) async throws -> [StoredSigningKey]
    /// Every key of the tenant, newest first (admin listing).
    func all(tenantID: UUID) async throws -> [StoredSigningKey]
    /// Stores `key` as the active key unless the tenant already has one. Two instances racing
    /// on a tenant's first token both call this; the partial unique index lets one win and the
    /// other's insert do nothing, and both then read the winner.
    func insertIfNoneActive(_ key: StoredSigningKey) async throws
    /// Retires the active key (published until `publishUntil`) and stores `key` as the new
    /// active key, in one transaction. Returns the retired kid, nil when there was none.
    func rotate(to key: StoredSigningKey, publishUntil: Date, audit: AuditEvent?) async throws -> String?
}

public struct PostgresSigningKeyRepository: SigningKeyRepository {
    let database: Database
    var logger: Logger { database.logger }

    public init(database: Database) {
        self.database = database
    }

    static let columns = "tenant_id, kid, algorithm, sealed_private_key, public_jwk::text, created_at, retired_at, publish_until"

    public func published(tenantID: UUID, now: Date) async throws -> [StoredSigningKey] {
        try await database.withTenant(tenantID) { connection in
            try await connection.run("""
                SELECT \(unescaped: Self.columns) FROM signing_keys
                WHERE tenant_id = \(tenantID) AND (retired_at IS NULL OR publish_until > \(now))
                ORDER BY created_at DESC, kid
                """, logger: logger).map(Self.decode)
        }
    }

    public func all(tenantID: UUID) async throws -> [StoredSigningKey] {
        try await database.withTenant(tenantID) { connection in
            try await connection.run("""
                SELECT \(unescaped: Self.columns) FROM signing_keys WHERE tenant_id = \(tenantID) ORDER BY created_at DESC, kid
                """, logger: logger).map(Self.decode)
        }
    }

    public func insertIfNoneActive(_ key: StoredSigningKey) async throws {
        try await database.withTenant(key.tenantID) { connection in
            try await connection.run("""
                INSERT INTO signing_keys (tenant_id, kid, algorithm, sealed_private_key, public_jwk, created_at)
                VALUES (\(key.tenantID), \(key.kid), \(key.algorithm), \(key.sealedPrivateKey), \(key.publicJWK.encodedString())::jsonb, \(key.createdAt))
                ON CONFLICT (tenant_id) WHERE retired_at IS NULL DO NOTHING
                """, logger: logger)
        }
    }

    public func rotate(to key: StoredSigningKey, publishUntil: Date, audit: AuditEvent?) async throws -> String? {
        try await database.withTenant(key.tenantID) { connection in
            let retired = try await connection.run("""
                UPDATE signing_keys SET retired_at = \(key.createdAt), publish_until = \(publishUntil)
                WHERE tenant_id = \(key.tenantID) AND retired_at IS NULL RETURNING kid
                """, logger: logger).first.map { try $0.decode(String.self) }
            try await connection.run("""
                INSERT INTO signing_keys (tenant_id, kid, algorithm, sealed_private_key, public_jwk, created_at)
                VALUES (\(key.tenantID), \(key.kid), \(key.algorithm), \(key.sealedPrivateKey), \(key.publicJWK.encodedString())::jsonb, \(key.createdAt))
                """, logger: logger)
            if let audit {
                var event = audit
                event.details["kid"] = .string(key.kid)
                if let retired { event.details["retired_kid"] = .string(retired) }
                try await AuditLog.record(event, tenantID: key.tenantID, on: connection, logger: logger)
            }
            return retired
        }
    }

    static func decode(_ row: PostgresRow) throws -> StoredSigningKey {
        let (tenantID, kid, algorithm, sealed, jwk, createdAt, retiredAt, publishUntil) =
            try row.decode((UUID, String, String, Data, String, Date, Date?, Date?).self)
        let publicJWK = (try? JSONValue.parseObject(Array(jwk.utf8))).map(JSONValue.object) ?? .object([:])
        return StoredSigningKey(tenantID: tenantID, kid: kid, algorithm: algorithm, sealedPrivateKey: sealed, publicJWK: publicJWK,
                                createdAt: createdAt, retiredAt: retiredAt, publishUntil: publishUntil)
    }
}
