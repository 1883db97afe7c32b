import Foundation
import Testing
@testable import Registrar

/// The resource server's credential at the authorization server (RFC 7662 §2.1 callers): Basic
/// or form, one `invalid_client` for every failure, argon2 paid once thanks to the tag and the
/// verified-token cache (design §4), and a rotated credential dead at once.
@Suite("Resource servers: credential authentication")
struct ResourceServerAuthenticatorTests {
    struct Setup {
        let authenticator: ResourceServerAuthenticator
        let service: ResourceServerService
        let counter: VerificationCounter
        let repository: PostgresResourceServerRepository
    }

    /// Runs `body` with an authenticator on the real database, its own argon2 pool and counter.
    static func withAuthenticator(_ body: @escaping @Sendable (Setup) async throws -> Void) async throws {
        try await TestEnvironment.withDatabase { database in
            let hasher = Argon2Hasher(parameters: .init(memoryKiB: 256, iterations: 1, parallelism: 1), threads: 1)
            let counter = VerificationCounter()
            let verifier = TokenVerifier(hasher: hasher, cache: VerifiedTokenCache(), tags: .development, argon2Verifications: counter)
            let repository = PostgresResourceServerRepository(database: database)
            let setup = Setup(authenticator: ResourceServerAuthenticator(servers: repository, verifier: verifier),
                              service: ResourceServerService(servers: repository, hasher: hasher, tags: .development),
                              counter: counter, repository: repository)
            let result: Result<Void, any Error>
            do { result = .success(try await body(setup)) } catch { result = .failure(error) }
            try await hasher.shutdown()
            try result.get()
        }
    }

    static func resolved(_ tenant: Tenant) -> ResolvedTenant {
        ResolvedTenant(tenant: tenant, issuer: "http://localhost/t/\(tenant.slug)")
    }

    static func register(_ setup: Setup, _ tenant: Tenant, _ url: String = "https://mcp.example.com/mcp") async throws -> (ResourceServer, String) {
        try await setup.service.create(tenantID: tenant.id, resource: try ResourceIndicator.registrable(url), displayName: "MCP", scopes: [],
                                       isDefault: false, audit: AuditEvent(action: "resource_server.created", actorType: .system))
    }

    @Test("RFC 7662 §2.2: the resource server's lookup answers whether a jti is revoked in this tenant only; no jti asks nothing")
    func lookupAnswersRevocation() async throws {
        let tenant = try await ResourceFixture.tenant()
        let other = try await ResourceFixture.tenant()
        try await Self.withAuthenticator { setup in
            let (server, _) = try await Self.register(setup, tenant)
            let revoked = "jti-" + UUID().uuidString, live = "jti-" + UUID().uuidString, otherTenants = "jti-" + UUID().uuidString
            try await TokenFixture.execute(tenant, "INSERT INTO access_token_revocations (tenant_id, jti, expires_at) VALUES ('\(tenant.id)', '\(revoked)', now() + interval '1 hour')")
            try await TokenFixture.execute(other, "INSERT INTO access_token_revocations (tenant_id, jti, expires_at) VALUES ('\(other.id)', '\(otherTenants)', now() + interval '1 hour')")
            let repository = setup.repository
            #expect(try await repository.find(id: server.id, tenant: tenant.id, checkingRevocationOf: revoked, afterChecking: [])?.jtiRevoked == true)
            #expect(try await repository.find(id: server.id, tenant: tenant.id, checkingRevocationOf: live, afterChecking: [])?.jtiRevoked == false)
            #expect(try await repository.find(id: server.id, tenant: tenant.id, checkingRevocationOf: otherTenants, afterChecking: [])?.jtiRevoked == false)
            #expect(try await repository.find(id: server.id, tenant: tenant.id, checkingRevocationOf: nil, afterChecking: [])?.jtiRevoked == false)
            #expect(try await repository.find(id: server.id, tenant: tenant.id, checkingRevocationOf: revoked, afterChecking: [])?.server.id == server.id)
            #expect(try await repository.find(id: server.id, tenant: other.id, checkingRevocationOf: revoked, afterChecking: []) == nil, "another tenant's lookup finds nothing")
        }
    }

    @Test("Resource servers: the right credential authenticates by Basic and by form; a second verification does not reach argon2")
    func rightCredential() async throws {
        let tenant = try await ResourceFixture.tenant()
        try await Self.withAuthenticator { setup in
            let (server, credential) = try await Self.register(setup, tenant)
            let byBasic = try await setup.authenticator.authenticate(ResourceFixture.request(authorization: ResourceFixture.basic(server.id, credential)),
                                                                     tenant: Self.resolved(tenant))
            #expect(byBasic?.server.id == server.id)
            #expect(setup.counter.value == 1)
            let byForm = try await setup.authenticator.authenticate(ResourceFixture.request(), tenant: Self.resolved(tenant),
                                                                    form: ["client_id": server.id, "client_secret": credential])
            #expect(byForm?.server.id == server.id)
            let encoded = ResourceFixture.basic(server.id.replacingOccurrences(of: "_", with: "%5F"), credential.replacingOccurrences(of: "_", with: "%5F"))
            #expect(try await setup.authenticator.authenticate(ResourceFixture.request(authorization: encoded), tenant: Self.resolved(tenant))?.server.id == server.id,
                    "RFC 6749 §2.3.1: percent-encoded Basic credentials are decoded")
            #expect(setup.counter.value == 1, "later verifications of the same credential and hash come from the verified-token cache")
            let used = try await setup.repository.find(id: server.id, tenant: tenant.id)
            #expect(used?.lastUsedAt != nil)
        }
    }

    @Test("Resource servers: every wrong credential is the same invalid_client, and none of them costs argon2")
    func wrongCredentials() async throws {
        let tenant = try await ResourceFixture.tenant()
        let other = try await ResourceFixture.tenant()
        try await Self.withAuthenticator { setup in
            let (server, credential) = try await Self.register(setup, tenant)
            let (otherServer, otherCredential) = try await Self.register(setup, other)
            let wrong = ResourceServer.generateCredential()
            let attempts: [(String?, [String: String], ResolvedTenant)] = [
                (ResourceFixture.basic(server.id, wrong), [:], Self.resolved(tenant)),
                (nil, ["client_id": server.id, "client_secret": wrong], Self.resolved(tenant)),
                (nil, ["client_id": server.id], Self.resolved(tenant)),
                (ResourceFixture.basic(server.id, "short"), [:], Self.resolved(tenant)),
                (ResourceFixture.basic(ResourceServer.generateID(), credential), [:], Self.resolved(tenant)),
                (ResourceFixture.basic("rs_x", credential), [:], Self.resolved(tenant)),
                (ResourceFixture.basic(otherServer.id, otherCredential), [:], Self.resolved(tenant)),
                (ResourceFixture.basic(server.id, credential), [:], Self.resolved(other)),
                (ResourceFixture.basic(server.id, credential), ["client_secret": credential], Self.resolved(tenant)),
                (ResourceFixture.basic(server.id, credential), ["client_id": otherServer.id], Self.resolved(tenant)),
                ("Basic !!!", [:], Self.resolved(tenant)),
            ]
            for (index, (authorization, form, resolved)) in attempts.enumerated() {
                await #expect(throws: ResourceServerAuthenticator.rejected, "attempt \(index)") {
                    try await setup.authenticator.authenticate(ResourceFixture.request(authorization: authorization), tenant: resolved, form: form)
                }
            }
            #expect(setup.counter.value == 0, "a credential whose tag does not match never reaches the argon2 pool")
        }
    }

    @Test("Resource servers: a request with no resource-server credential is left to client authentication (nil)")
    func notAResourceServer() async throws {
        let tenant = try await ResourceFixture.tenant()
        try await Self.withAuthenticator { setup in
            let resolved = Self.resolved(tenant)
            let outcome1 = try await setup.authenticator.authenticate(ResourceFixture.request(), tenant: resolved)
            #expect(outcome1 == nil)
            let outcome2 = try await setup.authenticator.authenticate(ResourceFixture.request(authorization: ResourceFixture.basic("cl_abc", "rcs_x")), tenant: resolved)
            #expect(outcome2 == nil)
            let outcome3 = try await setup.authenticator.authenticate(ResourceFixture.request(authorization: "Bearer rss_x"), tenant: resolved)
            #expect(outcome3 == nil)
            let outcome4 = try await setup.authenticator.authenticate(ResourceFixture.request(), tenant: resolved, form: ["client_id": "cl_abc", "client_secret": "x"])
            #expect(outcome4 == nil)
        }
    }

    @Test("Resource servers: after rotation the old credential fails at once, even though it was just verified and cached")
    func rotation() async throws {
        let tenant = try await ResourceFixture.tenant()
        try await Self.withAuthenticator { setup in
            let (server, old) = try await Self.register(setup, tenant)
            let resolved = Self.resolved(tenant)
            #expect(try await setup.authenticator.authenticate(ResourceFixture.request(authorization: ResourceFixture.basic(server.id, old)), tenant: resolved) != nil)
            let (_, fresh) = try #require(try await setup.service.rotateCredential(
                id: server.id, tenantID: tenant.id, audit: AuditEvent(action: "resource_server.credential_rotated", actorType: .system)))
            await #expect(throws: ResourceServerAuthenticator.rejected) {
                try await setup.authenticator.authenticate(ResourceFixture.request(authorization: ResourceFixture.basic(server.id, old)), tenant: resolved)
            }
            #expect(try await setup.authenticator.authenticate(ResourceFixture.request(authorization: ResourceFixture.basic(server.id, fresh)), tenant: resolved)?.server.id == server.id)
            #expect(try await setup.repository.delete(id: server.id, tenant: tenant.id, audit: AuditEvent(action: "resource_server.deleted", actorType: .system)))
            await #expect(throws: ResourceServerAuthenticator.rejected, "a deleted resource server's credential is dead") {
                try await setup.authenticator.authenticate(ResourceFixture.request(authorization: ResourceFixture.basic(server.id, fresh)), tenant: resolved)
            }
        }
    }

    @Test("Resource servers: a credential stored without a tag verifies once by argon2 and gets its tag")
    func untaggedCredentialGetsTag() async throws {
        let tenant = try await ResourceFixture.tenant()
        try await TestEnvironment.withDatabase { database in
            let hasher = Argon2Hasher(parameters: .init(memoryKiB: 256, iterations: 1, parallelism: 1), threads: 1)
            let repository = PostgresResourceServerRepository(database: database)
            let result: Result<Void, any Error>
            do {
                let untagged = ResourceServerService(servers: repository, hasher: hasher, tags: nil)
                let (server, credential) = try await untagged.create(tenantID: tenant.id, resource: try ResourceIndicator.registrable("https://u.example/mcp"),
                                                                     displayName: "U", scopes: [], isDefault: false,
                                                                     audit: AuditEvent(action: "resource_server.created", actorType: .system))
                #expect(server.credentialTag == nil)
                let verifier = TokenVerifier(hasher: hasher, cache: VerifiedTokenCache(), tags: .development)
                let authenticator = ResourceServerAuthenticator(servers: repository, verifier: verifier)
                #expect(try await authenticator.authenticate(ResourceFixture.request(authorization: ResourceFixture.basic(server.id, credential)),
                                                             tenant: Self.resolved(tenant)) != nil)
                #expect(try await repository.find(id: server.id, tenant: tenant.id)?.credentialTag == TokenTagKey.development.tag(credential))
                result = .success(())
            } catch {
                result = .failure(error)
            }
            try await hasher.shutdown()
            try result.get()
        }
    }
}
