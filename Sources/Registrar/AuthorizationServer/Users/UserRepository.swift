import Foundation
import Logging
import PostgresNIO

/// Why a user could not be stored.
public enum UserRepositoryError: Error, Equatable {
    /// Another user of the tenant has this email, in any letter case.
    case emailTaken
}

/// What sign-in needs and nothing else reads: the user with its stored password hash.
public struct UserCredentials: Sendable {
    public let user: User
    /// argon2id PHC string; nil for a user without a local password.
    public let passwordHash: String?
}

/// Filters of the admin user list; every one optional.
public struct UserFilter: Sendable, Equatable {
    public var emailContains: String?
    public var status: User.Status?
    public init() {}
}

/// The local users of one tenant at a time. Every change is written with its audit event in one
/// transaction; every statement runs under the tenant's row-level security.
public protocol UserRepository: Sendable {
    /// Stores a new user; throws `UserRepositoryError.emailTaken` if the email is in use.
    func insert(_ user: User, passwordHash: String?, audit: AuditEvent) async throws
    func find(id: UUID, tenant: UUID) async throws -> User?
    /// The user with this email, compared without regard to case.
    func find(email: String, tenant: UUID) async throws -> User?
    /// The user and password hash, for verifying a sign-in.
    func credentials(email: String, tenant: UUID) async throws -> UserCredentials?
    /// Oldest first, keyset-paginated.
    func list(tenant: UUID, filter: UserFilter, after cursor: Cursor?, limit: Int) async throws -> Page<User>
    /// Enables or disables the user; disabling ends every session of the user and revokes the
    /// tokens issued to it in the same transaction. Returns the stored user, nil if there is none.
    func setStatus(id: UUID, tenant: UUID, status: User.Status, at now: Date, audit: AuditEvent) async throws -> User?
    /// Replaces the password hash, ends every session of the user and revokes the tokens issued
    /// to it (a reset signs out everywhere). Returns the stored user, nil if there is none.
    func setPassword(id: UUID, tenant: UUID, passwordHash: String, at now: Date, audit: AuditEvent) async throws -> User?
    /// Replaces a stored hash with a fresh one of the current parameters, if it is still the same.
    func rehashPassword(id: UUID, tenant: UUID, from old: String, to new: String) async throws
    /// Deletes the user and, through the foreign keys, its sessions, grants, codes and tokens;
    /// the access tokens issued to it are put on the revocation list first.
    func delete(id: UUID, tenant: UUID, audit: AuditEvent) async throws -> Bool
    /// Ends every session of the user and revokes its token families, in one transaction with
    /// the audit event; nil if there is no such user, else how many sessions ended.
    func revokeSessions(id: UUID, tenant: UUID, at now: Date, audit: @escaping @Sendable (Int) -> AuditEvent) async throws -> Int?
    /// Notes a successful sign-in, with its audit event.
    func recordSignIn(id: UUID, tenant: UUID, at now: Date, audit: AuditEvent) async throws
    /// Appends an audit event about this tenant outside any other change (failed sign-ins).
    func record(_ audit: AuditEvent, tenant: UUID) async throws
}

extension UserRepository {
    public func find(id: UUID, tenant: ResolvedTenant) async throws -> User? {
        try await find(id: id, tenant: tenant.tenant.id)
    }

    public func find(email: String, tenant: ResolvedTenant) async throws -> User? {
        try await find(email: email, tenant: tenant.tenant.id)
    }
}

public struct PostgresUserRepository: UserRepository {
    let database: Database
    var logger: Logger { database.logger }

    public init(database: Database) {
        self.database = database
    }

    static let columns = "user_id, email, display_name, email_verified, status, created_at, updated_at, last_sign_in_at"

    static func decode(_ row: PostgresRow, tenantID: UUID) throws -> User {
        let (id, email, displayName, verified, status, created, updated, lastSignIn) =
            try row.decode((UUID, String, String, Bool, String, Date, Date, Date?).self)
        return User(id: id, tenantID: tenantID, email: email, displayName: displayName, emailVerified: verified,
                    status: User.Status(rawValue: status) ?? .disabled, createdAt: created, updatedAt: updated, lastSignInAt: lastSignIn)
    }

    public func insert(_ user: User, passwordHash: String?, audit: AuditEvent) async throws {
        do {
            try await database.withTenant(user.tenantID) { connection in
                try await connection.run("""
                    INSERT INTO users (tenant_id, user_id, email, password_hash, display_name, email_verified, status, created_at, updated_at)
                    VALUES (\(user.tenantID), \(user.id), \(user.email), \(passwordHash), \(user.displayName), \(user.emailVerified),
                        \(user.status.rawValue), \(user.createdAt), \(user.updatedAt))
                    """, logger: logger)
                try await AuditLog.record(audit, tenantID: user.tenantID, on: connection, logger: logger)
            }
        } catch let error as DatabaseError where error.kind == .uniqueViolation {
            throw UserRepositoryError.emailTaken
        }
    }

    public func find(id: UUID, tenant: UUID) async throws -> User? {
        try await database.withTenant(tenant) { connection in
            try await connection.run(
                "SELECT \(unescaped: Self.columns) FROM users WHERE tenant_id = \(tenant) AND user_id = \(id)", logger: logger
            ).first.map { try Self.decode($0, tenantID: tenant) }
        }
    }

    public func find(email: String, tenant: UUID) async throws -> User? {
        try await credentials(email: email, tenant: tenant)?.user
    }

    public func credentials(email: String, tenant: UUID) async throws -> UserCredentials? {
        try await database.withTenant(tenant) { connection in
            guard let row = try await connection.run("""
                SELECT \(unescaped: Self.columns), password_hash FROM users WHERE tenant_id = \(tenant) AND lower(email) = lower(\(email))
                """, logger: logger).first else { return nil }
            let hash = try row.decode((UUID, String, String, Bool, String, Date, Date, Date?, String?).self).8
            return UserCredentials(user: try Self.decode(row, tenantID: tenant), passwordHash: hash)
        }
    }

    public func list(tenant: UUID, filter: UserFilter, after cursor: Cursor?, limit: Int) async throws -> Page<User> {
        var builder = QueryBuilder("SELECT \(Self.columns), \(microsSQL) FROM users WHERE ")
        try builder.append("tenant_id = ?", tenant)
        if let text = filter.emailContains {
            let pattern = "%" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                .replacingOccurrences(of: "_", with: "\\_") + "%"
            try builder.append(" AND email ILIKE ?", pattern)
        }
        if let status = filter.status { try builder.append(" AND status = ?", status.rawValue) }
        if let cursor, let id = UUID(uuidString: cursor.id) {
            try builder.append(" AND (created_at, user_id) > (timestamptz 'epoch' + ? * interval '1 microsecond', ?)", cursor.micros, id)
        }
        try builder.append(" ORDER BY created_at, user_id LIMIT ?", limit + 1)
        let query = builder.query
        let rows = try await database.withTenant(tenant) { connection in
            try await connection.run(query, logger: logger)
        }
        var items: [User] = []
        var last: Cursor?
        for row in rows.prefix(limit) {
            let user = try Self.decode(row, tenantID: tenant)
            items.append(user)
            let micros = try row.decode((UUID, String, String, Bool, String, Date, Date, Date?, Int64).self).8
            last = Cursor(micros: micros, id: user.id.uuidString)
        }
        return Page(items: items, nextCursor: rows.count > limit ? last?.encoded : nil)
    }

    public func setStatus(id: UUID, tenant: UUID, status: User.Status, at now: Date, audit: AuditEvent) async throws -> User? {
        try await database.withTenant(tenant) { connection in
            guard let row = try await connection.run("""
                UPDATE users SET status = \(status.rawValue), updated_at = \(now)
                WHERE tenant_id = \(tenant) AND user_id = \(id) RETURNING \(unescaped: Self.columns)
                """, logger: logger).first else { return nil }
            if status == .disabled { try await Self.endSignIns(of: id, tenant: tenant, at: now, on: connection, logger: logger) }
            try await AuditLog.record(audit, tenantID: tenant, on: connection, logger: logger)
            return try Self.decode(row, tenantID: tenant)
        }
    }

    public func setPassword(id: UUID, tenant: UUID, passwordHash: String, at now: Date, audit: AuditEvent) async throws -> User? {
        try await database.withTenant(tenant) { connection in
            guard let row = try await connection.run("""
                UPDATE users SET password_hash = \(passwordHash), updated_at = \(now)
                WHERE tenant_id = \(tenant) AND user_id = \(id) RETURNING \(unescaped: Self.columns)
                """, logger: logger).first else { return nil }
            try await Self.endSignIns(of: id, tenant: tenant, at: now, on: connection, logger: logger)
            try await AuditLog.record(audit, tenantID: tenant, on: connection, logger: logger)
            return try Self.decode(row, tenantID: tenant)
        }
    }

    public func rehashPassword(id: UUID, tenant: UUID, from old: String, to new: String) async throws {
        try await database.withTenant(tenant) { connection in
            try await connection.run("""
                UPDATE users SET password_hash = \(new) WHERE tenant_id = \(tenant) AND user_id = \(id) AND password_hash = \(old)
                """, logger: logger)
        }
    }

    /// Everything a user's sign-ins gave out ends: the sessions, and the token families with
    /// their access tokens listed as revoked until they expire (so introspection says inactive at
    /// once). Returns how many sessions ended. Runs inside the caller's transaction.
    static func endSignIns(of id: UUID, tenant: UUID, at now: Date, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let sessions = try await connection.run(
            "DELETE FROM sessions WHERE tenant_id = \(tenant) AND user_id = \(id) RETURNING session_hash", logger: logger).count
        try await PostgresTokenFamilyRepository.revoke(.user(id), reason: .userRevoked, tenantID: tenant, at: now, on: connection, logger: logger)
        // What upstream providers issued for the user goes with the sessions it came from.
        try await PostgresIdentityProviderRepository.dropVault(of: id, tenant: tenant, on: connection, logger: logger)
        return sessions
    }

    public func revokeSessions(id: UUID, tenant: UUID, at now: Date, audit: @escaping @Sendable (Int) -> AuditEvent) async throws -> Int? {
        try await database.withTenant(tenant) { connection in
            // The row lock orders this after a concurrent sign-in's session insert.
            guard try await !connection.run(
                "SELECT 1 FROM users WHERE tenant_id = \(tenant) AND user_id = \(id) FOR UPDATE", logger: logger).isEmpty else { return nil }
            let count = try await Self.endSignIns(of: id, tenant: tenant, at: now, on: connection, logger: logger)
            try await AuditLog.record(audit(count), tenantID: tenant, on: connection, logger: logger)
            return count
        }
    }

    public func delete(id: UUID, tenant: UUID, audit: AuditEvent) async throws -> Bool {
        try await database.withTenant(tenant) { connection in
            _ = try await Self.endSignIns(of: id, tenant: tenant, at: Date(), on: connection, logger: logger)
            let deleted = try await connection.run(
                "DELETE FROM users WHERE tenant_id = \(tenant) AND user_id = \(id) RETURNING user_id", logger: logger)
            guard !deleted.isEmpty else { return false }
            try await AuditLog.record(audit, tenantID: tenant, on: connection, logger: logger)
            return true
        }
    }

    public func recordSignIn(id: UUID, tenant: UUID, at now: Date, audit: AuditEvent) async throws {
        try await database.withTenant(tenant) { connection in
            try await connection.run(
                "UPDATE users SET last_sign_in_at = \(now) WHERE tenant_id = \(tenant) AND user_id = \(id)", logger: logger)
            try await AuditLog.record(audit, tenantID: tenant, on: connection, logger: logger)
        }
    }

    public func record(_ audit: AuditEvent, tenant: UUID) async throws {
        try await database.withTenant(tenant) { connection in
            try await AuditLog.record(audit, tenantID: tenant, on: connection, logger: logger)
        }
    }
}
