import Foundation
import PostgresNIO
import Synchronization
import Testing
@testable import Registrar

/// Deadlines bound the queries themselves, and a registration whose insert has started is
/// answered with what it committed.
@Suite("Database deadlines")
struct DatabaseDeadlineTests {
    @Test("Deadlines: a transaction's statement_timeout comes from the request's remaining deadline, so PostgreSQL stops the query")
    func statementTimeoutFromRequestDeadline() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestEnvironment.withDatabase { pool in
            let database = Database(client: pool.client, logger: pool.logger, timeout: .seconds(10))
            let started = ContinuousClock.now
            let outcome: Result<Void, any Error> = await RequestExpiry.$deadline.withValue(.now + .milliseconds(300)) {
                do {
                    try await database.withTenant(tenant.id) { connection in
                        try await connection.run("SELECT pg_sleep(30)", logger: TestEnvironment.logger)
                    }
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            #expect(ContinuousClock.now - started < .seconds(10), "a 30 s statement did not run to its end")
            guard case .failure(let error) = outcome else {
                Issue.record("the query ran past the request's deadline")
                return
            }
            #expect((error as? DatabaseError)?.kind == .unavailable, "\(error)")
            // PostgreSQL itself stopped the statement: giving up on the client side alone would
            // leave a backend sleeping for the full 30 s.
            var running = 1
            let giveUp = ContinuousClock.now.advanced(by: .seconds(10))
            while running > 0 && ContinuousClock.now < giveUp {
                running = try await database.query(
                    "SELECT count(*)::int FROM pg_stat_activity WHERE state = 'active' AND query = 'SELECT pg_sleep(30)'"
                ).first?.decode(Int.self) ?? 0
                if running > 0 { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(running == 0, "the statement is still running in PostgreSQL")
            // The setting is local to that transaction: the next one runs with the full timeout.
            let value = try await database.withTenant(tenant.id) { connection in
                try await connection.run("SHOW statement_timeout", logger: TestEnvironment.logger).first?.decode(String.self)
            }
            #expect(value == "10s")
        }
    }

    /// Delegates to PostgreSQL, holding each insert a while before it starts, as a slow commit would.
    struct SlowInsertRepository: ClientRepository {
        let base: PostgresClientRepository
        let started: @Sendable () -> Void

        func insert(_ client: RegisteredClient, audit: AuditEvent, consumingInitialAccessToken tokenID: String?, at now: Date, maxClients: Int) async throws {
            started()
            try await Task.sleep(for: .milliseconds(300))
            try await base.insert(client, audit: audit, consumingInitialAccessToken: tokenID, at: now, maxClients: maxClients)
        }
        func findDuplicate(tenantID: UUID, dedupKey: String, since: Date) async throws -> RegisteredClient? {
            try await base.findDuplicate(tenantID: tenantID, dedupKey: dedupKey, since: since)
        }
        func find(tenantID: UUID, clientID: String) async throws -> RegisteredClient? { try await base.find(tenantID: tenantID, clientID: clientID) }
        func find(tenantID: UUID, clientID: String, afterChecking checks: [RateLimitCheck]) async throws -> RegisteredClient? {
            try await base.find(tenantID: tenantID, clientID: clientID, afterChecking: checks)
        }
        func modify(tenantID: UUID, clientID: String, audit: @escaping @Sendable (RegisteredClient) -> AuditEvent?,
                    _ change: @escaping @Sendable (RegisteredClient) throws -> RegisteredClient) async throws -> RegisteredClient? {
            try await base.modify(tenantID: tenantID, clientID: clientID, audit: audit, change)
        }
        func rehashRegistrationAccessToken(tenantID: UUID, clientID: String, from old: String, to new: ProtectedToken) async throws {
            try await base.rehashRegistrationAccessToken(tenantID: tenantID, clientID: clientID, from: old, to: new)
        }
        func storeTag(tenantID: UUID, clientID: String, _ credential: ClientCredential, hash: String, tag: String) async throws {
            try await base.storeTag(tenantID: tenantID, clientID: clientID, credential, hash: hash, tag: tag)
        }
        func delete(tenantID: UUID, clientID: String, audit: AuditEvent) async throws -> Bool {
            try await base.delete(tenantID: tenantID, clientID: clientID, audit: audit)
        }
        func record(_ audit: AuditEvent, tenantID: UUID) async throws { try await base.record(audit, tenantID: tenantID) }
        func list(tenantID: UUID, filter: ClientFilter, after cursor: Cursor?, limit: Int) async throws -> Page<RegisteredClient> {
            try await base.list(tenantID: tenantID, filter: filter, after: cursor, limit: limit)
        }
        func setStatus(tenantID: UUID, clientID: String, status: RegisteredClient.Status, at now: Date, audit: AuditEvent) async throws -> Bool {
            try await base.setStatus(tenantID: tenantID, clientID: clientID, status: status, at: now, audit: audit)
        }
        func markUsed(tenantID: UUID, clientID: String, at now: Date) async throws { try await base.markUsed(tenantID: tenantID, clientID: clientID, at: now) }
        func storeDocumentClient(_ client: RegisteredClient, maxClients: Int,
                                 audit: @escaping @Sendable (DocumentClientChange) -> AuditEvent) async throws -> RegisteredClient {
            try await base.storeDocumentClient(client, maxClients: maxClients, audit: audit)
        }
        func renewDocument(tenantID: UUID, clientID: String, _ fetch: MetadataDocumentFetch) async throws {
            try await base.renewDocument(tenantID: tenantID, clientID: clientID, fetch)
        }
    }

    @Test("Deadlines: a registration cancelled while its insert runs still commits and answers with the stored client and its credentials")
    func commitPointIsShielded() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestEnvironment.withDatabase { database in
            let hasher = Argon2Hasher(parameters: .init(memoryKiB: 256, iterations: 1, parallelism: 1), threads: 1)
            let insertStarted = Mutex(false)
            let service = ClientRegistrationService(
                hasher: hasher, tags: .development,
                clients: SlowInsertRepository(base: PostgresClientRepository(database: database), started: { insertStarted.withLock { $0 = true } }),
                now: { Date() })
            let metadata = ClientMetadata(redirectURIs: ["http://127.0.0.1:4000/callback"], tokenEndpointAuthMethod: .none, clientName: "Shielded")
            let registration = Task {
                try await service.register(metadata, tenant: tenant, via: .dcr, requester: .init(sourceAddress: "192.0.2.1"))
            }
            while !insertStarted.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
            registration.cancel()
            let result = await registration.result
            try await hasher.shutdown()
            let (client, credentials) = try result.get()
            #expect(credentials.registrationAccessToken != nil)
            let stored = try #require(try await PostgresClientRepository(database: database).find(tenantID: tenant.id, clientID: client.clientID))
            #expect(stored.registrationAccessTokenHash == client.registrationAccessTokenHash)
        }
    }
}
