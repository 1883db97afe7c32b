import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Why a resource server could not be stored.
public enum ResourceServerRepositoryError: Error, Equatable {
    /// Another resource server of the tenant has the same canonical URL.
    case uriTaken
    /// Another resource server became the default at the same moment.
    case defaultTaken
}

/// The resource servers of one tenant at a time; every change is written with its audit event,
/// in one transaction.
public protocol ResourceServerRepository: Sendable {
    /// The resource server a `resource` parameter names (compared in canonical form, RFC 8707 §2).
    func find(uri: ResourceIndicator, tenant: UUID) async throws -> ResourceServer?
    func find(id: String, tenant: UUID) async throws -> ResourceServer?
    /// The resource server with this id and, read by the same statement, whether `jti` is on the
    /// tenant's access-token revocation list, after the address checks of `checks` (which throw
    /// `RateLimitExceeded` as the limiter's `check` does): introspection's lookups in one round trip.
    func find(id: String, tenant: UUID, checkingRevocationOf jti: String?,
              afterChecking checks: [RateLimitCheck]) async throws -> (server: ResourceServer, jtiRevoked: Bool)?
    /// Oldest first, keyset-paginated.
    func list(tenant: UUID, after cursor: Cursor?, limit: Int) async throws -> Page<ResourceServer>
    /// The audience of a request without `resource`: the tenant's default resource server, else
    /// its only one, else nil (and the caller names the issuer itself).
    func defaultAudience(tenant: UUID) async throws -> ResourceServer?
    /// Stores a new resource server; if it is the default, the previous default stops being one.
    func create(_ server: ResourceServer, audit: AuditEvent) async throws
    /// Read, change and write with the row locked; `change` throws to leave it untouched.
    /// Returns the stored result; nil if there is no such resource server.
    func modify(id: String, tenant: UUID, audit: @escaping @Sendable (ResourceServer) -> AuditEvent,
                _ change: @escaping @Sendable (ResourceServer) throws -> ResourceServer) async throws -> ResourceServer?
    /// Deletes it; false when it did not exist.
    func delete(id: String, tenant: UUID, audit: AuditEvent) async throws -> Bool
    /// Replaces the credential hash with a fresh one (newer argon2 parameters, or a first tag),
    /// if it is still `old`.
    func replaceCredentialHash(id: String, tenant: UUID, from old: String, to new: ProtectedToken) async throws
    /// Writes the pre-check tag of a row stored without one, if its hash is still `hash`.
    func storeTag(id: String, tenant: UUID, hash: String, tag: String) async throws
    /// Records use, at most one write a minute per resource server.
    func markUsed(_ server: ResourceServer, at now: Date) async throws
}

extension ResourceServerRepository {
    /// The resource server named by a raw `resource` value; nil when it is malformed or unknown
    /// (both are `invalid_target` to the caller, RFC 8707 §2).
    public func find(uri raw: String, tenant: UUID) async throws -> ResourceServer? {
        guard let indicator = try? ResourceIndicator(parsing: raw) else { return nil }
        return try await find(uri: indicator, tenant: tenant)
    }

    public func find(uri raw: String, tenant: ResolvedTenant) async throws -> ResourceServer? {
        try await find(uri: raw, tenant: tenant.tenant.id)
    }

    public func find(uri: ResourceIndicator, tenant: ResolvedTenant) async throws -> ResourceServer? {
        try await find(uri: uri, tenant: tenant.tenant.id)
    }

    public func find(id: String, tenant: ResolvedTenant) async throws -> ResourceServer? {
        try await find(id: id, tenant: tenant.tenant.id)
    }

    public func defaultAudience(tenant: ResolvedTenant) async throws -> ResourceServer? {
        try await defaultAudience(tenant: tenant.tenant.id)
    }

    /// Every resource server of the tenant, oldest first.
    public func list(tenant: UUID) async throws -> [ResourceServer] {
        var all: [ResourceServer] = []
        var cursor: Cursor?
        repeat {
            let page = try await list(tenant: tenant, after: cursor, limit: 200)
            all += page.items
            cursor = page.nextCursor.flatMap(Cursor.init(encoded:))
        } while cursor != nil
        return all
    }
}

public struct PostgresResourceServerRepository: ResourceServerRepository {
    let database: Database
    var logger: Logger { database.logger }

    public init(database: Database) {
        self.database = database
    }

    static let selection = """
        SELECT resource_id, registered_uri, display_name, scopes, is_default, credential_hash, credential_tag,
               created_at, updated_at, last_used_at, \(microsSQL)
        """
    static let columns = selection + " FROM resource_servers"
    /// How many columns `selection` names (a plain list: every comma separates two).
    static let selectionCount = selection.split(separator: ",").count

    public func find(uri: ResourceIndicator, tenant: UUID) async throws -> ResourceServer? {
        try await database.withTenant(tenant) { connection in
            try await connection.run(PostgresQuery(unsafeSQL: Self.columns + " WHERE tenant_id = $1 AND resource_uri = $2",
                                                   binds: try Self.binds(tenant, uri.canonical)), logger: logger)
                .first.flatMap { try Self.decode($0, tenant: tenant)?.server }
        }
    }

    public func find(id: String, tenant: UUID) async throws -> ResourceServer? {
        try await find(id: id, tenant: tenant, checkingRevocationOf: nil, afterChecking: [])?.server
    }

    /// Introspection's one statement: the limiter's checks, the resource server if none refused,
    /// and whether the token's jti is revoked. Prepared once per connection.
    enum FindForIntrospection: PreparedSQL {
        static let runsOnTheCallersLoop = true
        static let name = "registrar_find_resource_server_for_introspection"
        static let sql = """
            \(selection), registrar_access_token_revoked($6, $8), l.refused, l.wait_milliseconds
            FROM \(PostgresRateLimiter.inOrder) l LEFT JOIN LATERAL registrar_find_resource_server($6, $7) ON l.refused = 0
            """
    }

    /// One statement (sql/0006, sql/0014, sql/0017), not a transaction.
    public func find(id: String, tenant: UUID, checkingRevocationOf jti: String?,
                     afterChecking checks: [RateLimitCheck]) async throws -> (server: ResourceServer, jtiRevoked: Bool)? {
        // An id this server never issues is found nowhere; callers run their checks before asking.
        guard ResourceServer.isIssuedID(id) else { return nil }
        var binds = try PostgresRateLimiter.bindings(checks)
        try binds.append(tenant)
        try binds.append(id)
        try binds.append(jti)
        // The limiter's columns come last; the resource server's are NULL when a check refused
        // or there is no such resource server. Without checks, $1 to $5 are empty arrays.
        guard let row = try await database.execute(FindForIntrospection.self, binds).first else { return nil }
        let cells = row.makeRandomAccess()
        let (refused, wait) = (try cells[Self.selectionCount + 1].decode(Int32.self), try cells[Self.selectionCount + 2].decode(Int64.self))
        if let exceeded = PostgresRateLimiter.exceeded(checks, refused: refused, waitMilliseconds: wait) { throw exceeded }
        guard try cells[0].decode(String?.self) != nil, let server = try Self.decode(row, tenant: tenant)?.server else { return nil }
        return (server, try cells[Self.selectionCount].decode(Bool.self))
    }

    public func list(tenant: UUID, after cursor: Cursor?, limit: Int) async throws -> Page<ResourceServer> {
        var builder = QueryBuilder(Self.columns)
        try builder.append(" WHERE tenant_id = ?", tenant)
        if let cursor {
            try builder.append(" AND (\(microsSQL), resource_id) > (?, ?)", cursor.micros, cursor.id)
        }
        try builder.append(" ORDER BY created_at, resource_id LIMIT ?", limit + 1)
        let query = builder.query
        let rows = try await database.withTenant(tenant) { connection in
            try await connection.run(query, logger: logger)
        }
        let decoded = try rows.compactMap { try Self.decode($0, tenant: tenant) }
        let items = Array(decoded.prefix(limit))
        let next = rows.count > limit ? items.last.map { Cursor(micros: $0.micros, id: $0.server.id).encoded } : nil
        return Page(items: items.map(\.server), nextCursor: next)
    }

    public func defaultAudience(tenant: UUID) async throws -> ResourceServer? {
        let candidates = try await database.withTenant(tenant) { connection in
            try await connection.run(PostgresQuery(unsafeSQL: Self.columns + " WHERE tenant_id = $1 ORDER BY is_default DESC, created_at LIMIT 2",
                                                   binds: try Self.binds(tenant)), logger: logger)
                .compactMap { try Self.decode($0, tenant: tenant)?.server }
        }
        guard let first = candidates.first else { return nil }
        return first.isDefault || candidates.count == 1 ? first : nil
    }

    public func create(_ server: ResourceServer, audit: AuditEvent) async throws {
        try await writing {
            try await database.withTenant(server.tenantID) { connection in
                if server.isDefault {
                    try await Self.clearDefault(except: server.id, tenant: server.tenantID, on: connection, logger: logger)
                }
                try await connection.run("""
                    INSERT INTO resource_servers (tenant_id, resource_id, resource_uri, registered_uri, display_name, scopes, is_default,
                        credential_hash, credential_tag, created_at, updated_at)
                    VALUES (\(server.tenantID), \(server.id), \(server.uri.canonical), \(server.uri.normalized), \(server.displayName),
                        \(server.scopes), \(server.isDefault), \(server.credentialHash), \(server.credentialTag), \(server.createdAt), \(server.updatedAt))
                    """, logger: logger)
                try await AuditLog.record(audit, tenantID: server.tenantID, on: connection, logger: logger)
            }
        }
    }

    public func modify(id: String, tenant: UUID, audit: @escaping @Sendable (ResourceServer) -> AuditEvent,
                       _ change: @escaping @Sendable (ResourceServer) throws -> ResourceServer) async throws -> ResourceServer? {
        guard ResourceServer.isIssuedID(id) else { return nil }
        return try await writing {
            try await database.withTenant(tenant) { connection in
                guard let current = try await Self.locked(id: id, tenant: tenant, forUpdate: true, on: connection, logger: logger) else { return nil }
                let updated = try change(current)
                if updated.isDefault && !current.isDefault {
                    try await Self.clearDefault(except: id, tenant: tenant, on: connection, logger: logger)
                }
                try await connection.run("""
                    UPDATE resource_servers SET resource_uri = \(updated.uri.canonical), registered_uri = \(updated.uri.normalized),
                        display_name = \(updated.displayName), scopes = \(updated.scopes), is_default = \(updated.isDefault),
                        credential_hash = \(updated.credentialHash), credential_tag = \(updated.credentialTag), updated_at = \(updated.updatedAt)
                    WHERE tenant_id = \(tenant) AND resource_id = \(id)
                    """, logger: logger)
                try await AuditLog.record(audit(updated), tenantID: tenant, on: connection, logger: logger)
                return updated
            }
        }
    }

    public func delete(id: String, tenant: UUID, audit: AuditEvent) async throws -> Bool {
        guard ResourceServer.isIssuedID(id) else { return false }
        return try await database.withTenant(tenant) { connection in
            let rows = try await connection.run("""
                DELETE FROM resource_servers WHERE tenant_id = \(tenant) AND resource_id = \(id) RETURNING resource_id
                """, logger: logger)
            guard !rows.isEmpty else { return false }
            try await AuditLog.record(audit, tenantID: tenant, on: connection, logger: logger)
            return true
        }
    }

    public func replaceCredentialHash(id: String, tenant: UUID, from old: String, to new: ProtectedToken) async throws {
        _ = try await database.withTenant(tenant) { connection in
            try await connection.run("""
                UPDATE resource_servers SET credential_hash = \(new.hash), credential_tag = \(new.tag)
                WHERE tenant_id = \(tenant) AND resource_id = \(id) AND credential_hash = \(old)
                """, logger: logger)
        }
    }

    public func storeTag(id: String, tenant: UUID, hash: String, tag: String) async throws {
        _ = try await database.withTenant(tenant) { connection in
            try await connection.run("""
                UPDATE resource_servers SET credential_tag = \(tag)
                WHERE tenant_id = \(tenant) AND resource_id = \(id) AND credential_hash = \(hash) AND credential_tag IS NULL
                """, logger: logger)
        }
    }

    public func markUsed(_ server: ResourceServer, at now: Date) async throws {
        if let last = server.lastUsedAt, now.timeIntervalSince(last) < 60 { return }
        let threshold = now.addingTimeInterval(-60)
        _ = try await database.withTenant(server.tenantID) { connection in
            try await connection.run("""
                UPDATE resource_servers SET last_used_at = \(now)
                WHERE tenant_id = \(server.tenantID) AND resource_id = \(server.id) AND (last_used_at IS NULL OR last_used_at < \(threshold))
                """, logger: logger)
        }
    }

    // MARK: - Helpers

    /// A conflict on the tenant's unique URL or its single default becomes a domain error.
    func writing<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as DatabaseError where error.kind == .uniqueViolation {
            if error.constraint == "resource_servers_one_default" { throw ResourceServerRepositoryError.defaultTaken }
            throw ResourceServerRepositoryError.uriTaken
        }
    }

    static func clearDefault(except id: String, tenant: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.run("""
            UPDATE resource_servers SET is_default = false WHERE tenant_id = \(tenant) AND is_default AND resource_id <> \(id)
            """, logger: logger)
    }

    static func locked(id: String, tenant: UUID, forUpdate: Bool, on connection: PostgresConnection, logger: Logger) async throws -> ResourceServer? {
        let sql = columns + " WHERE tenant_id = $1 AND resource_id = $2" + (forUpdate ? " FOR UPDATE" : "")
        return try await connection.run(PostgresQuery(unsafeSQL: sql, binds: try binds(tenant, id)), logger: logger)
            .first.flatMap { try decode($0, tenant: tenant)?.server }
    }

    static func binds(_ values: any PostgresThrowingDynamicTypeEncodable...) throws -> PostgresBindings {
        var bindings = PostgresBindings()
        for value in values { try bindings.append(value) }
        return bindings
    }

    /// Registered URLs, parsed: every introspection reads its caller's, and they are few and
    /// change only by an admin's hand. A URL that no longer parses (a rule tightened after it
    /// was stored) is not kept, so it is refused the same way each time.
    private static let registeredURIs = Mutex(LRUCache<String, ResourceIndicator>(capacity: 1024))

    static func parsedRegisteredURI(_ registered: String) -> ResourceIndicator? {
        if let known = registeredURIs.withLock({ $0.value(for: registered) }) { return known }
        guard let parsed = try? ResourceIndicator(parsing: registered) else { return nil }
        registeredURIs.withLock { $0.set(parsed, for: registered) }
        return parsed
    }

    static func decode(_ row: PostgresRow, tenant: UUID) throws -> (server: ResourceServer, micros: Int64)? {
        let (id, registered, name, scopes, isDefault, hash, tag, createdAt, updatedAt, lastUsedAt, micros) =
            try row.decode((String, String, String, [String], Bool, String, String?, Date, Date, Date?, Int64).self)
        guard let uri = parsedRegisteredURI(registered) else { return nil }
        return (ResourceServer(tenantID: tenant, id: id, uri: uri, displayName: name, scopes: scopes, isDefault: isDefault,
                               credentialHash: hash, credentialTag: tag, createdAt: createdAt, updatedAt: updatedAt, lastUsedAt: lastUsedAt), micros)
    }
}
