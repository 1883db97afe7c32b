import Foundation
import Testing
@testable import Registrar

/// What outlives a token request: families revoked with their grant or user, the reaper's
/// respect for live families, and the sweeping of expired rows.
@Suite("Token families, reaper and sweeper")
struct TokenLifecycleTests {
    typealias F = TokenFixture

    @Test("revokeFamilies(grantID:) and revokeFamilies(userID:) end the refresh tokens and access tokens of those families only")
    func revokeFamiliesByGrantAndUser() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let grant = UUID()
            let (granted, _) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect) { $0.grantID = grant }
            let (byUser, userCode) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect)
            let (untouched, _) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect)
            let families = try await TestEnvironment.withDatabase { database in
                let repository = PostgresTokenFamilyRepository(database: database)
                return try await repository.revokeFamilies(grantID: grant, tenant: F.resolved(tenant))
                    + repository.revokeFamilies(userID: userCode.userID, tenant: tenant)
            }
            #expect(families == 2)
            for body in [granted, byUser] {
                F.expectError(try await F.refresh(server, tenant, client, try #require(body["refresh_token"]?.stringValue)), .invalidGrant)
                #expect(try await F.introspect(server, tenant, client, try #require(body["access_token"]?.stringValue)).object["active"] == .bool(false))
            }
            #expect(try await F.introspect(server, tenant, client, try #require(untouched["access_token"]?.stringValue)).object["active"] == .bool(true))
            #expect(try await F.refresh(server, tenant, client, try #require(untouched["refresh_token"]?.stringValue)).status == .ok)
            // Revoking again finds nothing left to revoke.
            let again = try await TestEnvironment.withDatabase {
                try await PostgresTokenFamilyRepository(database: $0).revokeFamilies(grantID: grant, tenantID: tenant.id)
            }
            #expect(again == 0)
        }
    }

    @Test("The reaper never disables a client holding a live token family; it disables an idle one without, and one whose family was revoked")
    func reaperKeepsLiveFamilies() async throws {
        let tenant = try await F.tenant { $0.reapUnusedAfterDays = 1 }
        let (live, idle, revoked) = try await AdminFixture.run { server in
            let live = try await F.publicClient(server, tenant)
            _ = try await F.tokens(server, tenant, live, redirect: F.publicRedirect)
            let idle = try await F.publicClient(server, tenant)
            let revoked = try await F.publicClient(server, tenant)
            let (body, _) = try await F.tokens(server, tenant, revoked, redirect: F.publicRedirect)
            #expect(try await F.post(server, tenant, "revoke", [("token", try #require(body["refresh_token"]?.stringValue))]
                                     + F.credentials(revoked)).status == .ok)
            return (live.clientID, idle.clientID, revoked.clientID)
        }
        // Two days later, nobody has used any of them since.
        let later = Date().addingTimeInterval(2 * 86_400)
        let result = try await TestEnvironment.withDatabase { database in
            try await ClientReaper(repository: PostgresClientReaperRepository(database: database), now: { later }, logger: TestEnvironment.logger)
                .run(tenantID: tenant.id, policy: tenant.policy)
        }
        #expect(!result.disabled.contains(live))
        #expect(result.disabled.contains(idle))
        #expect(result.disabled.contains(revoked))
        // Past the family's absolute lifetime (180 days) the live client is an idle one too.
        let muchLater = Date().addingTimeInterval(200 * 86_400)
        let final = try await TestEnvironment.withDatabase { database in
            try await ClientReaper(repository: PostgresClientReaperRepository(database: database), now: { muchLater }, logger: TestEnvironment.logger)
                .run(tenantID: tenant.id, policy: tenant.policy)
        }
        #expect(final.disabled == [live])
    }

    @Test("The sweeper deletes expired codes, refresh tokens, jtis, revocations and client-assertion jtis, and keeps live ones")
    func sweeperRemovesExpiredRows() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let (expired, _) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect)
            let (kept, _) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect)
            // One more code that nobody exchanged, issued long ago, and one still fresh.
            let user = try await F.createUser(tenant)
            _ = try await F.issue(F.code(for: client, user: user, tenant: tenant, redirect: F.publicRedirect), tenant: tenant,
                                  issuedAt: Date().addingTimeInterval(-3600))
            _ = try await F.issue(F.code(for: client, user: user, tenant: tenant, redirect: F.publicRedirect), tenant: tenant)
            #expect(try await F.post(server, tenant, "revoke", [("token", try #require(expired["access_token"]?.stringValue))]
                                     + F.credentials(client)).status == .ok)
            let expiredAccess = try #require(expired["access_token"]?.stringValue)
            let expiredJTI = try #require(try F.claims(expiredAccess)["jti"]?.stringValue)
            let expiredRefresh = OpaqueToken.hash(try #require(expired["refresh_token"]?.stringValue))
            try await F.execute(tenant, """
                UPDATE refresh_tokens SET expires_at = now() - interval '1 minute' WHERE token_hash = '\(expiredRefresh)';
                """)
            try await F.execute(tenant, "UPDATE family_access_tokens SET expires_at = now() - interval '1 minute' WHERE jti = '\(expiredJTI)'")
            try await F.execute(tenant, "UPDATE access_token_revocations SET expires_at = now() - interval '1 minute' WHERE jti = '\(expiredJTI)'")
            try await F.execute(tenant, """
                INSERT INTO client_assertion_jtis (tenant_id, client_id, jti, expires_at) VALUES
                ('\(tenant.id.uuidString)', '\(client.clientID)', 'old', now() - interval '1 minute'),
                ('\(tenant.id.uuidString)', '\(client.clientID)', 'new', now() + interval '1 minute')
                """)
            let codesBefore = try await F.count(tenant, "authorization_codes")

            // Batches of one: the sweeper repeats until a batch comes back empty.
            let batches = try await TestEnvironment.withDatabase { database in
                var sweeper = TokenSweeper(repository: PostgresTokenSweepRepository(database: database), now: { Date() })
                sweeper.batchSize = 1
                return try await sweeper.runOnce()
            }
            #expect(batches >= 2)
            // Codes inside their 60 s (the two exchanged, the fresh one) stay; the hour-old one went.
            #expect(try await F.count(tenant, "authorization_codes") == codesBefore - 1)
            #expect(try await F.count(tenant, "refresh_tokens", where: "token_hash = '\(expiredRefresh)'") == 0)
            #expect(try await F.count(tenant, "refresh_tokens") == 1)
            #expect(try await F.count(tenant, "family_access_tokens", where: "jti = '\(expiredJTI)'") == 0)
            #expect(try await F.count(tenant, "family_access_tokens") == 1)
            #expect(try await F.count(tenant, "access_token_revocations") == 0)
            #expect(try await F.count(tenant, "client_assertion_jtis") == 1)
            #expect(try await F.refresh(server, tenant, client, try #require(kept["refresh_token"]?.stringValue)).status == .ok)
        }
    }
}
