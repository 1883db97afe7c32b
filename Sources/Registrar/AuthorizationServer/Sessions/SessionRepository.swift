import Crypto
import Foundation
import Logging
import PostgresNIO

/// A signed-in browser at one tenant: the session it presented and who signed in when.
public struct SignedInSession: Sendable, Equatable {
    /// base64url(SHA-256(cookie value)): the row's key; the value itself is never stored.
    public let sessionHash: String
    public let user: User
    /// When the user last entered their password (OIDC `auth_time`, `max_age`).
    public let authTime: Date
}

/// Sessions rows of one tenant at a time, under its row-level security.
public protocol SessionRepository: Sendable {
    /// The live session with this hash whose user is active, and notes its use: when
    /// `last_seen_at` is older than `touchInterval`, it and the idle expiry move forward (so an
    /// active browser writes at most once per interval). Sessions past their idle or absolute
    /// expiry, as stored or as the current lifetimes (`idle`, `absolute`) put it, are not found.
    func live(hash: String, tenant: UUID, at now: Date, idle: Int, absolute: Int, touchInterval: Int) async throws -> SignedInSession?
    /// Stores a new session, deleting the one with `replacing` (the browser's previous session)
    /// in the same transaction.
    func create(hash: String, user: User, tenant: UUID, authTime: Date, at now: Date, idle: Int, absolute: Int,
                replacing: String?) async throws
    func delete(hash: String, tenant: UUID) async throws
    /// Ends every session of the user; returns how many there were.
    func deleteAll(userID: UUID, tenant: UUID) async throws -> Int
}

public struct PostgresSessionRepository: SessionRepository {
    let database: Database
    var logger: Logger { database.logger }

    public init(database: Database) {
        self.database = database
    }

    public func live(hash: String, tenant: UUID, at now: Date, idle: Int, absolute: Int, touchInterval: Int) async throws -> SignedInSession? {
        try await database.withTenant(tenant) { connection in
            guard let row = try await connection.run("""
                WITH found AS (
                    SELECT s.session_hash, s.auth_time, s.last_seen_at, \(unescaped: Self.userColumns)
                    FROM sessions s JOIN users u ON u.tenant_id = s.tenant_id AND u.user_id = s.user_id
                    WHERE s.tenant_id = \(tenant) AND s.session_hash = \(hash) AND u.status = 'active'
                      AND s.idle_expires_at > \(now) AND s.absolute_expires_at > \(now)
                      AND s.last_seen_at > \(now) - \(idle) * interval '1 second'
                      AND s.created_at > \(now) - \(absolute) * interval '1 second'
                ), touched AS (
                    UPDATE sessions SET last_seen_at = \(now),
                        idle_expires_at = LEAST(\(now) + \(idle) * interval '1 second', absolute_expires_at)
                    WHERE tenant_id = \(tenant)
                      AND session_hash = (SELECT session_hash FROM found WHERE last_seen_at < \(now) - \(touchInterval) * interval '1 second')
                )
                SELECT session_hash, auth_time, \(unescaped: Self.userOutput) FROM found
                """, logger: logger).first else { return nil }
            let (sessionHash, authTime, id, email, displayName, verified, status, created, updated, lastSignIn) =
                try row.decode((String, Date, UUID, String, String, Bool, String, Date, Date, Date?).self)
            let user = User(id: id, tenantID: tenant, email: email, displayName: displayName, emailVerified: verified,
                            status: User.Status(rawValue: status) ?? .disabled, createdAt: created, updatedAt: updated, lastSignInAt: lastSignIn)
            return SignedInSession(sessionHash: sessionHash, user: user, authTime: authTime)
        }
    }

    static let userColumns = """
        u.user_id, u.email, u.display_name, u.email_verified, u.status, u.created_at AS user_created_at,
        u.updated_at AS user_updated_at, u.last_sign_in_at
        """
    static let userOutput = "user_id, email, display_name, email_verified, status, user_created_at, user_updated_at, last_sign_in_at"

    public func create(hash: String, user: User, tenant: UUID, authTime: Date, at now: Date, idle: Int, absolute: Int,
                       replacing: String?) async throws {
        try await database.withTenant(tenant) { connection in
            if let replacing {
                try await connection.run("DELETE FROM sessions WHERE tenant_id = \(tenant) AND session_hash = \(replacing)", logger: logger)
            }
            try await connection.run("""
                INSERT INTO sessions (tenant_id, session_hash, user_id, created_at, last_seen_at, idle_expires_at, absolute_expires_at, auth_time)
                VALUES (\(tenant), \(hash), \(user.id), \(now), \(now), \(now) + \(min(idle, absolute)) * interval '1 second',
                    \(now) + \(absolute) * interval '1 second', \(authTime))
                """, logger: logger)
        }
    }

    public func delete(hash: String, tenant: UUID) async throws {
        try await database.withTenant(tenant) { connection in
            try await connection.run("DELETE FROM sessions WHERE tenant_id = \(tenant) AND session_hash = \(hash)", logger: logger)
        }
    }

    public func deleteAll(userID: UUID, tenant: UUID) async throws -> Int {
        try await database.withTenant(tenant) { connection in
            try await connection.run(
                "DELETE FROM sessions WHERE tenant_id = \(tenant) AND user_id = \(userID) RETURNING session_hash", logger: logger
            ).count
        }
    }
}
