import Foundation
import Logging
import PostgresNIO

/// The consent grants of one tenant at a time; every query filters by tenant and runs under
/// the tenant's row-level security.
public protocol ConsentGrantRepository: Sendable {
    func find(userID: UUID, clientID: String, tenantID: UUID) async throws -> ConsentGrant?
    /// Adds `scopes` to the user's grant for the client (creating it), in one statement, so two
    /// consents at once both land in the union.
    func grant(userID: UUID, clientID: String, scopes: [String], tenantID: UUID, at now: Date) async throws -> ConsentGrant
    /// The user's grants, newest change first.
    func list(userID: UUID, tenantID: UUID) async throws -> [ConsentGrant]
    /// Deletes the grant if it is the user's and revokes its token families, in one transaction;
    /// false when there was none.
    func delete(grantID: UUID, userID: UUID, tenantID: UUID, at now: Date) async throws -> Bool
}

public struct PostgresConsentGrantRepository: ConsentGrantRepository {
    let database: Database
    var logger: Logger { database.logger }

    public init(database: Database) {
        self.database = database
    }

    public func find(userID: UUID, clientID: String, tenantID: UUID) async throws -> ConsentGrant? {
        try await database.withTenant(tenantID) { connection in
            try await connection.run("""
                SELECT grant_id, user_id, client_id, scopes, created_at, updated_at FROM consent_grants
                WHERE tenant_id = \(tenantID) AND user_id = \(userID) AND client_id = \(clientID)
                """, logger: logger).first.map { try Self.decode($0, tenantID: tenantID) }
        }
    }

    public func grant(userID: UUID, clientID: String, scopes: [String], tenantID: UUID, at now: Date) async throws -> ConsentGrant {
        try await database.withTenant(tenantID) { connection in
            // The union keeps the stored order and appends what is new, each scope once.
            let rows = try await connection.run("""
                INSERT INTO consent_grants (tenant_id, user_id, client_id, scopes, created_at, updated_at)
                VALUES (\(tenantID), \(userID), \(clientID), \(scopes), \(now), \(now))
                ON CONFLICT (tenant_id, user_id, client_id) DO UPDATE SET
                    scopes = consent_grants.scopes || ARRAY(SELECT s FROM unnest(EXCLUDED.scopes) WITH ORDINALITY AS n(s, i)
                                                            WHERE NOT s = ANY (consent_grants.scopes) ORDER BY i),
                    updated_at = EXCLUDED.updated_at
                RETURNING grant_id, user_id, client_id, scopes, created_at, updated_at
                """, logger: logger)
            guard let row = rows.first else { throw DatabaseError(MissingRow()) }
            return try Self.decode(row, tenantID: tenantID)
        }
    }

    public func list(userID: UUID, tenantID: UUID) async throws -> [ConsentGrant] {
        try await database.withTenant(tenantID) { connection in
            try await connection.run("""
                SELECT grant_id, user_id, client_id, scopes, created_at, updated_at FROM consent_grants
                WHERE tenant_id = \(tenantID) AND user_id = \(userID) ORDER BY updated_at DESC, grant_id
                """, logger: logger).map { try Self.decode($0, tenantID: tenantID) }
        }
    }

    /// The grant goes first: deleting it deletes its unredeemed codes (their foreign key
    /// cascades) and waits for a code being redeemed at this moment (locked by the token
    /// endpoint), so the revocation that follows, a statement later in the same transaction,
    /// also sees the family that redemption created. No code of a revoked grant outlives it.
    public func delete(grantID: UUID, userID: UUID, tenantID: UUID, at now: Date) async throws -> Bool {
        try await database.withTenant(tenantID) { [logger] connection in
            let deleted = try await connection.run("""
                DELETE FROM consent_grants WHERE tenant_id = \(tenantID) AND grant_id = \(grantID) AND user_id = \(userID)
                RETURNING grant_id
                """, logger: logger)
            guard !deleted.isEmpty else { return false }
            // A revoked grant also ends what the vault holds for the user: a resource server
            // must not go on reaching the upstream provider on a consent that was withdrawn.
            try await PostgresIdentityProviderRepository.dropVault(of: userID, tenant: tenantID, on: connection, logger: logger)
            _ = try await PostgresTokenFamilyRepository.revoke(.grant(grantID), reason: .grantRevoked, tenantID: tenantID, at: now,
                                                               on: connection, logger: logger)
            return true
        }
    }

    struct MissingRow: Error, CustomStringConvertible {
        var description: String { "the consent grant upsert returned no row" }
    }

    static func decode(_ row: PostgresRow, tenantID: UUID) throws -> ConsentGrant {
        let (grantID, userID, clientID, scopes, createdAt, updatedAt) = try row.decode((UUID, UUID, String, [String], Date, Date).self)
        return ConsentGrant(tenantID: tenantID, grantID: grantID, userID: userID, clientID: clientID, scopes: scopes,
                            createdAt: createdAt, updatedAt: updatedAt)
    }
}
