import Foundation
import Logging
import PostgresNIO

/// Authorization codes of one tenant at a time, by the hash of the code.
public protocol AuthorizationCodeRepository: Sendable {
    func insert(_ code: NewAuthorizationCode, hash: String, tenantID: UUID, createdAt: Date, expiresAt: Date) async throws
}

public struct PostgresAuthorizationCodeRepository: AuthorizationCodeRepository {
    let database: Database
    var logger: Logger { database.logger }

    public init(database: Database) {
        self.database = database
    }

    public func insert(_ code: NewAuthorizationCode, hash: String, tenantID: UUID, createdAt: Date, expiresAt: Date) async throws {
        _ = try await database.withTenant(tenantID) { connection in
            try await connection.run("""
                INSERT INTO authorization_codes (tenant_id, code_hash, client_id, user_id, grant_id, redirect_uri, redirect_uri_sent,
                    code_challenge, scopes, resources, nonce, auth_time, created_at, expires_at)
                VALUES (\(tenantID), \(hash), \(code.clientID), \(code.userID), \(code.grantID), \(code.redirectURI), \(code.redirectURISent),
                    \(code.codeChallenge), \(code.scopes), \(code.resources), \(code.nonce), \(code.authTime), \(createdAt), \(expiresAt))
                """, logger: logger)
        }
    }
}
