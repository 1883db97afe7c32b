import Foundation
import PostgresNIO
import Testing
@testable import Registrar

/// The token endpoint reads a grant's code or refresh token in the client's lookup statement
/// (`TokenGrantRepository.findClient(…alongWith:)`): what it reads must be exactly what the
/// separate reads find, in the caller's tenant only, and nothing once a limiter check refused.
@Suite("Token grants: the credential read beside the client")
struct TokenGrantLookupTests {
    typealias F = TokenFixture

    static let address = "192.0.2.77"

    static func checks(_ tenant: Tenant) -> [RateLimitCheck] {
        [.failures(from: address, tenantID: tenant.id, limit: tenant.policy.rateLimits.failedAuthenticationsPerAddress)]
    }

    @Test("Prepared statements have names of their own, each within PostgreSQL's 63-byte identifiers")
    func preparedStatementNames() {
        let names = [PostgresRateLimiter.Check.name, PostgresTokenGrantRepository.FindCode.name, PostgresTokenGrantRepository.RedeemCode.name,
                     PostgresTokenGrantRepository.FindRefreshToken.name, PostgresTokenGrantRepository.SpendRefreshToken.name,
                     PostgresTokenGrantRepository.AccessTokenRevoked.name, PostgresTokenGrantRepository.FindClientAndCode.name,
                     PostgresTokenGrantRepository.FindClientAndRefreshToken.name, PostgresResourceServerRepository.FindForIntrospection.name,
                     PostgresClientRepository.FindClient.name, PostgresClientRepository.FindClientAfterChecking.name]
        #expect(Set(names).count == names.count)
        #expect(names.allSatisfy { !$0.isEmpty && $0.utf8.count <= 63 })
    }

    /// A statement prepared against a function whose result a migration then changes.
    enum ShapeProbe: PreparedSQL {
        static let name = "registrar_test_shape_probe"
        static let sql = "SELECT * FROM registrar_test_shape_probe($1)"
    }

    static func owner(_ sql: String) async throws {
        _ = try await withPostgresClient(try TestEnvironment.ownerURL(), logger: TestEnvironment.logger) { client in
            try await client.query(PostgresQuery(unsafeSQL: sql), logger: TestEnvironment.logger).collect()
        }
    }

    @Test("A migration that changes a function's result under prepared statements is answered unprepared, not failed")
    func preparedStatementsSurviveSchemaChanges() async throws {
        try await TestEnvironment.prepare()
        try await Self.owner("DROP FUNCTION IF EXISTS registrar_test_shape_probe(text)")
        try await Self.owner("CREATE FUNCTION registrar_test_shape_probe(p text) RETURNS TABLE (a text) LANGUAGE sql AS $$ SELECT p $$")
        try await TestEnvironment.withDatabase { database in
            func probe(_ value: String) async throws -> [PostgresRow] {
                var bindings = PostgresBindings()
                bindings.append(value)
                return try await database.execute(ShapeProbe.self, bindings)
            }
            // Every connection of the pool prepares it.
            async let first = probe("one")
            async let second = probe("two")
            #expect(try await first.first?.decode(String.self) == "one")
            #expect(try await second.first?.decode(String.self) == "two")
            try await Self.owner("DROP FUNCTION registrar_test_shape_probe(text)")
            try await Self.owner("CREATE FUNCTION registrar_test_shape_probe(p text) RETURNS TABLE (a text, b text) LANGUAGE sql AS $$ SELECT p, 'new' $$")
            for value in ["three", "four", "five"] {
                let row = try #require(try await probe(value).first)
                let (echoed, added) = try row.decode((String, String).self)
                #expect(echoed == value && added == "new")
            }
        }
        try await Self.owner("DROP FUNCTION registrar_test_shape_probe(text)")
    }

    @Test("The lookup beside the client finds the refresh token and the code the separate reads find, unknown ones as none")
    func readsWhatTheSeparateReadsFind() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let (response, _) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect)
            let refreshHash = OpaqueToken.hash(try #require(response["refresh_token"]?.stringValue))
            let bound = F.code(for: client, user: try await F.createUser(tenant), tenant: tenant, redirect: F.publicRedirect)
            let codeHash = OpaqueToken.hash(try await F.issue(bound, tenant: tenant))
            try await TestEnvironment.withDatabase { database in
                let repository = PostgresTokenGrantRepository(database: database)
                let byRefresh = try await repository.findClient(tenantID: tenant.id, clientID: client.clientID, afterChecking: Self.checks(tenant),
                                                                alongWith: .refreshToken(hash: refreshHash))
                #expect(byRefresh.client?.clientID == client.clientID)
                guard case .refreshToken(let token?) = byRefresh.credential else { Issue.record("no refresh token read"); return }
                let separate = try #require(try await repository.findRefreshToken(hash: refreshHash, tenantID: tenant.id))
                #expect(token.familyID == separate.familyID && token.clientID == client.clientID && token.scopes == separate.scopes)
                #expect(token.expiresAt == separate.expiresAt && token.user?.userID == separate.user?.userID && token.rotatedAt == nil)

                let byCode = try await repository.findClient(tenantID: tenant.id, clientID: client.clientID, afterChecking: Self.checks(tenant),
                                                             alongWith: .authorizationCode(hash: codeHash))
                #expect(byCode.client?.clientID == client.clientID)
                guard case .authorizationCode(let code?) = byCode.credential else { Issue.record("no code read"); return }
                #expect(code.code.clientID == client.clientID && code.code.codeChallenge == bound.challenge && !code.consumed)
                #expect(code.code.user.userID == bound.userID && code.code.redirectURI == bound.redirectURI)

                let unknown = try await repository.findClient(tenantID: tenant.id, clientID: client.clientID, afterChecking: Self.checks(tenant),
                                                              alongWith: .refreshToken(hash: OpaqueToken.hash(OpaqueToken.refreshToken())))
                #expect(unknown.client?.clientID == client.clientID)
                guard case .refreshToken(nil) = unknown.credential else { Issue.record("an unknown refresh token was read"); return }
            }
        }
    }

    @Test("Row-level tenancy: tenant B's lookup finds neither tenant A's client nor its refresh token or code")
    func anotherTenantReadsNothing() async throws {
        let tenant = try await F.tenant()
        let other = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let (response, _) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect)
            let refreshHash = OpaqueToken.hash(try #require(response["refresh_token"]?.stringValue))
            let codeHash = OpaqueToken.hash(try await F.issue(F.code(for: client, user: try await F.createUser(tenant), tenant: tenant,
                                                                     redirect: F.publicRedirect), tenant: tenant))
            try await TestEnvironment.withDatabase { database in
                let repository = PostgresTokenGrantRepository(database: database)
                let byRefresh = try await repository.findClient(tenantID: other.id, clientID: client.clientID, afterChecking: Self.checks(other),
                                                                alongWith: .refreshToken(hash: refreshHash))
                #expect(byRefresh.client == nil)
                guard case .refreshToken(nil) = byRefresh.credential else { Issue.record("tenant A's refresh token was read in tenant B"); return }
                let byCode = try await repository.findClient(tenantID: other.id, clientID: client.clientID, afterChecking: Self.checks(other),
                                                             alongWith: .authorizationCode(hash: codeHash))
                #expect(byCode.client == nil)
                guard case .authorizationCode(nil) = byCode.credential else { Issue.record("tenant A's code was read in tenant B"); return }
            }
        }
    }

    @Test("A refusing limiter check answers the refusal instead of the client and the credential")
    func refusedCheckReadsNothing() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let (response, _) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect)
            let refreshHash = OpaqueToken.hash(try #require(response["refresh_token"]?.stringValue))
            try await TestEnvironment.withDatabase { database in
                let repository = PostgresTokenGrantRepository(database: database)
                let once = [RateLimitCheck("lookup_test", key: "lookup:\(UUID().uuidString)", tenantID: tenant.id,
                                           limit: RateLimit(limit: 1, periodSeconds: 3600))]
                let first = try await repository.findClient(tenantID: tenant.id, clientID: client.clientID, afterChecking: once,
                                                            alongWith: .refreshToken(hash: refreshHash))
                #expect(first.client != nil)
                await #expect(throws: RateLimitExceeded.self) {
                    _ = try await repository.findClient(tenantID: tenant.id, clientID: client.clientID, afterChecking: once,
                                                        alongWith: .refreshToken(hash: refreshHash))
                }
            }
        }
    }
}
