import Foundation
import Logging
import PostgresNIO

/// Why a client could not be stored.
public enum ClientRepositoryError: Error, Equatable {
    /// The initial access token was revoked, expired or used up between its check and its use.
    case initialAccessTokenUnusable
    /// The tenant holds its maximum number of dynamically registered clients.
    case quotaReached
    /// A client of another kind holds the metadata document's URL as its id.
    case notADocumentClient
}

/// Registered clients of one tenant at a time. Every change is written together with its
/// audit event, in one transaction.
public protocol ClientRepository: Sendable {
    /// Stores a new client. With an initial access token, one use of it is counted in the same
    /// transaction, and the insert fails if the token can no longer be used.
    func insert(_ client: RegisteredClient, audit: AuditEvent, consumingInitialAccessToken tokenID: String?, at now: Date, maxClients: Int) async throws
    /// The newest active client registered with this fingerprint at or after `since`.
    func findDuplicate(tenantID: UUID, dedupKey: String, since: Date) async throws -> RegisteredClient?
    func find(tenantID: UUID, clientID: String) async throws -> RegisteredClient?
    /// The same, after the address checks of `checks` in the same statement: throws
    /// `RateLimitExceeded` for the first one over its limit (the limiter's `check` semantics),
    /// so that client authentication costs one round trip where it cost two.
    func find(tenantID: UUID, clientID: String, afterChecking checks: [RateLimitCheck]) async throws -> RegisteredClient?
    /// Read, change and write in one transaction with the row locked, so concurrent changes to
    /// one client apply one after the other. `change` sees the locked row and returns the new
    /// state, or throws to leave it untouched. Returns the stored result; nil if there is no row.
    func modify(tenantID: UUID, clientID: String, audit: @escaping @Sendable (RegisteredClient) -> AuditEvent?,
                _ change: @escaping @Sendable (RegisteredClient) throws -> RegisteredClient) async throws -> RegisteredClient?
    /// Replaces a stored hash with a fresh one of the current parameters (and its tag), if it is still the same.
    func rehashRegistrationAccessToken(tenantID: UUID, clientID: String, from old: String, to new: ProtectedToken) async throws
    /// Writes the pre-check tag beside `hash` in a row stored before tags, if that hash is still there.
    func storeTag(tenantID: UUID, clientID: String, _ credential: ClientCredential, hash: String, tag: String) async throws
    /// Deletes the client; false when it did not exist.
    func delete(tenantID: UUID, clientID: String, audit: AuditEvent) async throws -> Bool
    /// Appends an audit event about this tenant outside any other change.
    func record(_ audit: AuditEvent, tenantID: UUID) async throws
    /// Newest first, keyset-paginated.
    func list(tenantID: UUID, filter: ClientFilter, after cursor: Cursor?, limit: Int) async throws -> Page<RegisteredClient>
    /// Enables or disables a client; false when it does not exist. Either way the reaper's mark
    /// is cleared: the reaper deletes only clients it disabled itself and that nobody touched
    /// since, so an admin's decision is never undone or escalated (design §7). Enabling also
    /// counts as a use, so that the client is not disabled again at the next pass.
    func setStatus(tenantID: UUID, clientID: String, status: RegisteredClient.Status, at now: Date, audit: AuditEvent) async throws -> Bool
    /// Records use, coalesced: at most one write a minute per client.
    func markUsed(tenantID: UUID, clientID: String, at now: Date) async throws
    /// Stores a metadata document's client as fetched now: a new row (counted against
    /// `maxClients`), or the new metadata and fetch of the existing one. An admin's disable
    /// stands; a row the reaper disabled comes back, since its document still vouches for it.
    /// A new row, changed metadata and a revival are audited with `audit`'s event for the change.
    /// Returns the stored row.
    func storeDocumentClient(_ client: RegisteredClient, maxClients: Int,
                             audit: @escaping @Sendable (DocumentClientChange) -> AuditEvent) async throws -> RegisteredClient
    /// Believes the stored document for longer after its host answered 304 Not Modified.
    func renewDocument(tenantID: UUID, clientID: String, _ fetch: MetadataDocumentFetch) async throws
}

/// What storing a metadata document's client changed, for its audit event.
public enum DocumentClientChange: String, Sendable {
    case created
    case metadataChanged = "metadata_changed"
    case revived
}

/// The argon2-hashed credentials of a client, each with its tag column.
public enum ClientCredential: Sendable {
    case clientSecret, registrationAccessToken, previousRegistrationAccessToken

    var columns: (hash: String, tag: String) {
        switch self {
        case .clientSecret: ("client_secret_hash", "client_secret_tag")
        case .registrationAccessToken: ("registration_access_token_hash", "registration_access_token_tag")
        case .previousRegistrationAccessToken: ("previous_rat_hash", "previous_rat_tag")
        }
    }
}

/// Filters of the admin client list; every one optional.
public struct ClientFilter: Sendable, Equatable {
    public var nameContains: String?
    public var registeredVia: RegisteredClient.Origin?
    public var createdBefore: Date?
    public var createdAfter: Date?
    /// Clients whose last use (their creation, if never used) is before this instant.
    public var lastUsedBefore: Date?
    public var status: RegisteredClient.Status?
    public init() {}
}

extension ClientRepository {
    public func setStatus(tenantID: UUID, clientID: String, status: RegisteredClient.Status, at now: Date, audit: AuditEvent) async throws -> Bool {
        try await setStatus(tenantID: tenantID, clientID: clientID, status: status, at: Date(), audit: audit)
    }

    public func insert(_ client: RegisteredClient, audit: AuditEvent) async throws {
        try await insert(client, audit: audit, consumingInitialAccessToken: nil, at: client.createdAt, maxClients: 0)
    }
}

public struct PostgresClientRepository: ClientRepository {
    let database: Database
    var logger: Logger { database.logger }

    public init(database: Database) {
        self.database = database
    }

    public func insert(_ client: RegisteredClient, audit: AuditEvent, consumingInitialAccessToken tokenID: String?, at now: Date, maxClients: Int) async throws {
        let metadata = JSONValue.object(client.metadata.json).encodedString()
        let statement = client.softwareStatement?.encodedString()
        try await database.withTenant(client.tenantID) { connection in
            if let tokenID {
                // The row lock serialises concurrent registrations with one token, so the use
                // count can never pass max_uses.
                let used = try await connection.run("""
                    UPDATE initial_access_tokens SET uses = uses + 1
                    WHERE tenant_id = \(client.tenantID) AND token_id = \(tokenID) AND revoked_at IS NULL
                      AND (expires_at IS NULL OR expires_at > \(now)) AND (max_uses IS NULL OR uses < max_uses)
                    RETURNING uses
                    """, logger: logger)
                guard !used.isEmpty else { throw ClientRepositoryError.initialAccessTokenUnusable }
            }
            try await connection.run("""
                INSERT INTO clients (tenant_id, client_id, metadata, token_endpoint_auth_method, client_secret_hash,
                    client_secret_expires_at, registration_access_token_hash, registered_via, initial_access_token_id,
                    source_address, status, created_at, updated_at, software_statement, dedup_key, client_secret_tag,
                    registration_access_token_tag, document_fetched_at, document_expires_at, document_etag, document_last_modified)
                VALUES (\(client.tenantID), \(client.clientID), \(metadata)::jsonb, \(client.metadata.tokenEndpointAuthMethod.rawValue),
                    \(client.clientSecretHash), \(client.clientSecretExpiresAt), \(client.registrationAccessTokenHash),
                    \(client.registeredVia.rawValue), \(client.initialAccessTokenID), \(client.sourceAddress),
                    \(client.status.rawValue), \(client.createdAt), \(client.updatedAt), \(statement)::jsonb, \(client.dedupKey),
                    \(client.clientSecretTag), \(client.registrationAccessTokenTag), \(client.document?.fetchedAt),
                    \(client.document?.expiresAt), \(client.document?.etag), \(client.document?.lastModified))
                """, logger: logger)
            if maxClients > 0 && client.registeredVia != .admin {
                // The insert's trigger counted the client on the tenant's counter row and holds
                // that row until commit, so concurrent registrations see each other's counts and
                // the limit holds exactly; over it, the transaction rolls back.
                let count = try await connection.run(
                    "SELECT dcr_clients FROM tenant_client_counts WHERE tenant_id = \(client.tenantID)", logger: logger)
                if try count.first?.decode(Int.self) ?? 0 > maxClients { throw ClientRepositoryError.quotaReached }
            }
            try await AuditLog.record(audit, tenantID: client.tenantID, on: connection, logger: logger)
        }
    }

    /// One round trip: the function sets the tenant for its statement, so RLS still applies.
    public func find(tenantID: UUID, clientID: String) async throws -> RegisteredClient? {
        var binds = PostgresBindings()
        binds.append(tenantID)
        binds.append(clientID)
        return try await database.execute(FindClient.self, binds).first.flatMap { try Self.decode($0, tenantID: tenantID) }
    }

    /// A client by id (the token endpoint, /authorize, RFC 7592): prepared once per connection.
    enum FindClient: PreparedSQL {
        static let name = "registrar_find_client"
        static let sql = "SELECT \(columns) FROM registrar_find_client($1, $2)"
    }
    /// The limiter's checks, then the client only if none refused: prepared once per connection.
    enum FindClientAfterChecking: PreparedSQL {
        static let name = "registrar_find_client_after_checking"
        static let sql = """
            SELECT \(columns), l.refused, l.wait_milliseconds
            FROM \(PostgresRateLimiter.inOrder) l LEFT JOIN LATERAL registrar_find_client($6, $7) ON l.refused = 0
            """
    }

    public func find(tenantID: UUID, clientID: String, afterChecking checks: [RateLimitCheck]) async throws -> RegisteredClient? {
        guard !checks.isEmpty else { return try await find(tenantID: tenantID, clientID: clientID) }
        var binds = try PostgresRateLimiter.bindings(checks)
        try binds.append(tenantID)
        try binds.append(clientID)
        // The limiter's columns come last, so that the client's decode as everywhere else; the
        // client's are NULL when a check refused or there is no such client.
        guard let row = try await database.execute(FindClientAfterChecking.self, binds).first else { return nil }
        let cells = row.makeRandomAccess()
        let (refused, wait) = (try cells[Self.columnCount].decode(Int32.self), try cells[Self.columnCount + 1].decode(Int64.self))
        if let exceeded = PostgresRateLimiter.exceeded(checks, refused: refused, waitMilliseconds: wait) { throw exceeded }
        guard try cells[0].decode(String?.self) != nil else { return nil }
        return try Self.decode(row, tenantID: tenantID)
    }

    public func findDuplicate(tenantID: UUID, dedupKey: String, since: Date) async throws -> RegisteredClient? {
        try await database.withTenant(tenantID) { connection in
            try await connection.run("""
                SELECT \(unescaped: Self.columns) FROM clients
                WHERE tenant_id = \(tenantID) AND dedup_key = \(dedupKey) AND status = 'active' AND created_at >= \(since)
                ORDER BY created_at DESC LIMIT 1
                """, logger: logger).first.flatMap { try Self.decode($0, tenantID: tenantID) }
        }
    }

    public func modify(tenantID: UUID, clientID: String, audit: @escaping @Sendable (RegisteredClient) -> AuditEvent?,
                       _ change: @escaping @Sendable (RegisteredClient) throws -> RegisteredClient) async throws -> RegisteredClient? {
        try await database.withTenant(tenantID) { connection in
            let rows = try await connection.run(
                "SELECT \(unescaped: Self.columns) FROM clients WHERE tenant_id = \(tenantID) AND client_id = \(clientID) FOR UPDATE",
                logger: logger)
            guard let current = try rows.first.flatMap({ try Self.decode($0, tenantID: tenantID) }) else { return nil }
            let changed = try change(current)
            try await Self.write(changed, audit: audit(changed), on: connection, logger: logger)
            return changed
        }
    }

    /// Writes every mutable column of `client` (RFC 7592 full replacement, rotations).
    static func write(_ client: RegisteredClient, audit: AuditEvent?, on connection: PostgresConnection, logger: Logger) async throws {
        let metadata = JSONValue.object(client.metadata.json).encodedString()
        let statement = client.softwareStatement?.encodedString()
        try await connection.run("""
                UPDATE clients SET metadata = \(metadata)::jsonb,
                    token_endpoint_auth_method = \(client.metadata.tokenEndpointAuthMethod.rawValue),
                    client_secret_hash = \(client.clientSecretHash), client_secret_expires_at = \(client.clientSecretExpiresAt),
                    registration_access_token_hash = \(client.registrationAccessTokenHash),
                    previous_rat_hash = \(client.previousRegistrationAccessTokenHash),
                    previous_rat_valid_until = \(client.previousRegistrationAccessTokenValidUntil),
                    client_secret_tag = \(client.clientSecretTag), registration_access_token_tag = \(client.registrationAccessTokenTag),
                    previous_rat_tag = \(client.previousRegistrationAccessTokenTag),
                    status = \(client.status.rawValue), updated_at = \(client.updatedAt), software_statement = \(statement)::jsonb
                WHERE tenant_id = \(client.tenantID) AND client_id = \(client.clientID)
                """, logger: logger)
        if let audit { try await AuditLog.record(audit, tenantID: client.tenantID, on: connection, logger: logger) }
    }

    public func rehashRegistrationAccessToken(tenantID: UUID, clientID: String, from old: String, to new: ProtectedToken) async throws {
        try await database.withTenant(tenantID) { connection in
            try await connection.run("""
                UPDATE clients SET registration_access_token_hash = \(new.hash), registration_access_token_tag = \(new.tag)
                WHERE tenant_id = \(tenantID) AND client_id = \(clientID) AND registration_access_token_hash = \(old)
                """, logger: logger)
        }
    }

    public func storeTag(tenantID: UUID, clientID: String, _ credential: ClientCredential, hash: String, tag: String) async throws {
        let (hashColumn, tagColumn) = credential.columns
        try await database.withTenant(tenantID) { connection in
            try await connection.run("""
                UPDATE clients SET \(unescaped: tagColumn) = \(tag)
                WHERE tenant_id = \(tenantID) AND client_id = \(clientID) AND \(unescaped: hashColumn) = \(hash)
                  AND \(unescaped: tagColumn) IS NULL
                """, logger: logger)
        }
    }

    public func delete(tenantID: UUID, clientID: String, audit: AuditEvent) async throws -> Bool {
        try await database.withTenant(tenantID) { connection in
            let deleted = try await connection.run(
                "DELETE FROM clients WHERE tenant_id = \(tenantID) AND client_id = \(clientID) RETURNING client_id", logger: logger)
            guard !deleted.isEmpty else { return false }
            try await AuditLog.record(audit, tenantID: tenantID, on: connection, logger: logger)
            return true
        }
    }

    public func record(_ audit: AuditEvent, tenantID: UUID) async throws {
        let details = JSONValue.object(audit.details).encodedString()
        try await database.query("""
            SELECT registrar_append_audit(\(tenantID), \(audit.action), \(audit.actorType.rawValue), \(audit.actorID), \(audit.clientID),
                \(audit.sourceAddress), \(audit.requestID), \(details)::jsonb)
            """)
    }

    static let columns = """
        client_id, metadata::text, client_secret_hash, client_secret_expires_at, registration_access_token_hash,
        registered_via, initial_access_token_id, source_address, status, created_at, updated_at,
        previous_rat_hash, previous_rat_valid_until, software_statement::text, last_used_at,
        client_secret_tag, registration_access_token_tag, previous_rat_tag,
        document_fetched_at, document_expires_at, document_etag, document_last_modified
        """
    /// How many `columns` there are (a plain list: every comma separates two).
    static let columnCount = columns.split(separator: ",").count

    public func list(tenantID: UUID, filter: ClientFilter, after cursor: Cursor?, limit: Int) async throws -> Page<RegisteredClient> {
        var builder = QueryBuilder("SELECT \(Self.columns), \(microsSQL) FROM clients WHERE ")
        try builder.append("tenant_id = ?", tenantID)
        if let name = filter.nameContains {
            let pattern = "%" + name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                .replacingOccurrences(of: "_", with: "\\_") + "%"
            try builder.append(" AND metadata->>'client_name' ILIKE ?", pattern)
        }
        if let via = filter.registeredVia { try builder.append(" AND registered_via = ?", via.rawValue) }
        if let before = filter.createdBefore { try builder.append(" AND created_at < ?", before) }
        if let after = filter.createdAfter { try builder.append(" AND created_at > ?", after) }
        if let before = filter.lastUsedBefore { try builder.append(" AND COALESCE(last_used_at, created_at) < ?", before) }
        if let status = filter.status { try builder.append(" AND status = ?", status.rawValue) }
        if let cursor {
            try builder.append(" AND (created_at, client_id) < (timestamptz 'epoch' + ? * interval '1 microsecond', ?)", cursor.micros, cursor.id)
        }
        try builder.append(" ORDER BY created_at DESC, client_id DESC LIMIT ?", limit + 1)
        let query = builder.query
        let rows = try await database.withTenant(tenantID) { connection in
            try await connection.run(query, logger: logger)
        }
        var items: [RegisteredClient] = []
        var last: Cursor?
        for row in rows.prefix(limit) {
            guard let client = try Self.decode(row, tenantID: tenantID) else { continue }
            items.append(client)
            let micros = try row.makeRandomAccess()[Self.columnCount].decode(Int64.self)
            last = Cursor(micros: micros, id: client.clientID)
        }
        return Page(items: items, nextCursor: rows.count > limit ? last?.encoded : nil)
    }

    public func setStatus(tenantID: UUID, clientID: String, status: RegisteredClient.Status, at now: Date, audit: AuditEvent) async throws -> Bool {
        try await database.withTenant(tenantID) { connection in
            let rows = try await connection.run("""
                UPDATE clients SET status = \(status.rawValue), updated_at = \(now), reaped_at = NULL,
                    last_used_at = CASE WHEN \(status.rawValue) = 'active' THEN \(now) ELSE last_used_at END
                WHERE tenant_id = \(tenantID) AND client_id = \(clientID) RETURNING client_id
                """, logger: logger)
            guard !rows.isEmpty else { return false }
            try await AuditLog.record(audit, tenantID: tenantID, on: connection, logger: logger)
            return true
        }
    }

    public func storeDocumentClient(_ client: RegisteredClient, maxClients: Int,
                                    audit: @escaping @Sendable (DocumentClientChange) -> AuditEvent) async throws -> RegisteredClient {
        let metadata = JSONValue.object(client.metadata.json).encodedString()
        let fetch = client.document
        return try await database.withTenant(client.tenantID) { connection in
            // `old` is the row as it was before this statement; `xmax = 0` tells an inserted row
            // from an updated one.
            let rows = try await connection.run("""
                WITH old AS (SELECT metadata, reaped_at FROM clients WHERE tenant_id = \(client.tenantID) AND client_id = \(client.clientID))
                INSERT INTO clients (tenant_id, client_id, metadata, token_endpoint_auth_method, registered_via, source_address, status,
                    created_at, updated_at, document_fetched_at, document_expires_at, document_etag, document_last_modified)
                VALUES (\(client.tenantID), \(client.clientID), \(metadata)::jsonb, \(client.metadata.tokenEndpointAuthMethod.rawValue), 'cimd',
                    \(client.sourceAddress), 'active', \(client.createdAt), \(client.updatedAt), \(fetch?.fetchedAt), \(fetch?.expiresAt),
                    \(fetch?.etag), \(fetch?.lastModified))
                ON CONFLICT (tenant_id, client_id) DO UPDATE SET metadata = EXCLUDED.metadata,
                    token_endpoint_auth_method = EXCLUDED.token_endpoint_auth_method,
                    updated_at = CASE WHEN clients.metadata = EXCLUDED.metadata THEN clients.updated_at ELSE EXCLUDED.updated_at END,
                    document_fetched_at = EXCLUDED.document_fetched_at, document_expires_at = EXCLUDED.document_expires_at,
                    document_etag = EXCLUDED.document_etag, document_last_modified = EXCLUDED.document_last_modified,
                    status = CASE WHEN clients.reaped_at IS NOT NULL THEN 'active' ELSE clients.status END,
                    reaped_at = NULL
                WHERE clients.registered_via = 'cimd'
                RETURNING \(unescaped: Self.columns), xmax = 0, (SELECT metadata FROM old) IS DISTINCT FROM clients.metadata,
                    (SELECT reaped_at FROM old) IS NOT NULL
                """, logger: logger)
            guard let row = rows.first, let stored = try Self.decode(row, tenantID: client.tenantID) else {
                throw ClientRepositoryError.notADocumentClient
            }
            let cells = row.makeRandomAccess()
            let (inserted, changed, revived) = (try cells[Self.columnCount].decode(Bool.self), try cells[Self.columnCount + 1].decode(Bool.self),
                                                try cells[Self.columnCount + 2].decode(Bool.self))
            if inserted && maxClients > 0 {
                let count = try await connection.run(
                    "SELECT dcr_clients FROM tenant_client_counts WHERE tenant_id = \(client.tenantID)", logger: logger)
                if try count.first?.decode(Int.self) ?? 0 > maxClients { throw ClientRepositoryError.quotaReached }
            }
            let change: DocumentClientChange? = inserted ? .created : revived ? .revived : changed ? .metadataChanged : nil
            if let change { try await AuditLog.record(audit(change), tenantID: client.tenantID, on: connection, logger: logger) }
            return stored
        }
    }

    public func renewDocument(tenantID: UUID, clientID: String, _ fetch: MetadataDocumentFetch) async throws {
        try await database.withTenant(tenantID) { connection in
            try await connection.run("""
                UPDATE clients SET document_fetched_at = \(fetch.fetchedAt), document_expires_at = \(fetch.expiresAt),
                    document_etag = COALESCE(\(fetch.etag), document_etag), document_last_modified = COALESCE(\(fetch.lastModified), document_last_modified)
                WHERE tenant_id = \(tenantID) AND client_id = \(clientID) AND registered_via = 'cimd'
                """, logger: logger)
        }
    }

    public func markUsed(tenantID: UUID, clientID: String, at now: Date) async throws {
        let threshold = now.addingTimeInterval(-60)
        try await database.withTenant(tenantID) { connection in
            try await connection.run("""
                UPDATE clients SET last_used_at = \(now)
                WHERE tenant_id = \(tenantID) AND client_id = \(clientID) AND (last_used_at IS NULL OR last_used_at < \(threshold))
                """, logger: logger)
        }
    }

    static func decode(_ row: PostgresRow, tenantID: UUID) throws -> RegisteredClient? {
        let (clientID, metadataText, secretHash, secretExpiresAt, ratHash, via, iat, source, status, createdAt, updatedAt,
             previousHash, previousValidUntil, statementText, lastUsedAt, secretTag, ratTag, previousTag,
             documentFetchedAt, documentExpiresAt, documentETag, documentLastModified) =
            try row.decode((String, String, String?, Date?, String?, String, String?, String?, String, Date, Date, String?, Date?, String?, Date?,
                            String?, String?, String?, Date?, Date?, String?, String?).self)
        guard let object = try? JSONValue.parseObject(Array(metadataText.utf8)), let metadata = ClientMetadata(stored: object) else {
            return nil
        }
        let statement = statementText.flatMap { try? JSONValue.parseObject(Array($0.utf8)) }.map(JSONValue.object)
        var client = RegisteredClient(
            tenantID: tenantID, clientID: clientID, metadata: metadata, clientSecretHash: secretHash,
            clientSecretExpiresAt: secretExpiresAt, registrationAccessTokenHash: ratHash,
            registeredVia: RegisteredClient.Origin(rawValue: via) ?? .dcr, initialAccessTokenID: iat, sourceAddress: source,
            status: RegisteredClient.Status(rawValue: status) ?? .disabled, createdAt: createdAt, updatedAt: updatedAt,
            previousRegistrationAccessTokenHash: previousHash, previousRegistrationAccessTokenValidUntil: previousValidUntil,
            softwareStatement: statement, lastUsedAt: lastUsedAt)
        client.clientSecretTag = secretTag
        client.registrationAccessTokenTag = ratTag
        client.previousRegistrationAccessTokenTag = previousTag
        if let documentFetchedAt, let documentExpiresAt {
            client.document = MetadataDocumentFetch(fetchedAt: documentFetchedAt, expiresAt: documentExpiresAt,
                                                    etag: documentETag, lastModified: documentLastModified)
        }
        return client
    }
}

/// Appends audit events inside the transaction of the change they describe.
public enum AuditLog {
    public static func record(_ event: AuditEvent, tenantID: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        let details = JSONValue.object(event.details).encodedString()
        try await connection.run("""
            INSERT INTO audit_events (tenant_id, action, actor_type, actor_id, client_id, source_address, request_id, details)
            VALUES (\(tenantID), \(event.action), \(event.actorType.rawValue), \(event.actorID), \(event.clientID),
                \(event.sourceAddress), \(event.requestID), \(details)::jsonb)
            """, logger: logger)
    }
}
