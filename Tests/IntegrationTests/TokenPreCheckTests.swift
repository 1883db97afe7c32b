import Foundation
import HTTPTypes
import PostgresNIO
import Testing
@testable import Registrar

/// Design §4: a wrong token costs one HMAC, never an argon2id. Counted at the verifier.
@Suite("Keyed pre-check before argon2")
struct TokenPreCheckTests {
    /// A server without rate limits (so that only the pre-check stands between a guess and
    /// argon2) and the counter of its argon2 verifications.
    static func run(_ body: @escaping @Sendable (TestServer, VerificationCounter) async throws -> Void) async throws {
        var overrides = AppOverrides()
        let counter = overrides.argon2Verifications
        overrides.maximumDatabaseConnections = 4
        try await TestServer.run(configure: { config in
            config.rateLimiting = false
            config.trustedProxies = [try IPRange("127.0.0.0/8"), try IPRange("::1/128")]
        }, overrides: overrides) { server in
            try await body(server, counter)
        }
    }

    static func tag(_ tenant: Tenant, _ clientID: String, column: String) async throws -> String? {
        try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenant.id) { connection in
                try await connection.run("SELECT \(unescaped: column) FROM clients WHERE tenant_id = \(tenant.id) AND client_id = \(clientID)",
                                         logger: TestEnvironment.logger).first?.decode(String?.self)
            }
        }
    }

    @Test("Design §4: 500 wrong registration access tokens for existing clients cause zero argon2 calls; the right one costs one")
    func wrongRegistrationAccessTokensNeverReachArgon2() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await Self.run { server, counter in
            var registered: [AdminRegistration] = []
            for index in 0..<5 {
                registered.append(try await AdminFixture.register(server, tenant, AdminFixture.publicClient("Pre-check \(index)")))
            }
            let clients = registered
            let before = counter.value
            let statuses = try await withThrowingTaskGroup(of: [Int].self) { group in
                for worker in 0..<10 {
                    group.addTask {
                        var statuses: [Int] = []
                        for attempt in 0..<50 {
                            let client = clients[(worker + attempt) % clients.count]
                            let guess = "rat_" + SecretGenerator.randomToken()
                            let reply = try await server.get("/t/\(tenant.slug)/register/\(client.clientID)", headers: bearer(guess))
                            statuses.append(Int(reply.status.code))
                        }
                        return statuses
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(statuses.count == 500)
            #expect(statuses.allSatisfy { $0 == 401 })
            #expect(counter.value == before)

            let reply = try await server.get("/t/\(tenant.slug)/register/\(clients[0].clientID)", headers: bearer(clients[0].registrationAccessToken))
            #expect(reply.status == .ok)
            #expect(counter.value == before + 1)
        }
    }

    @Test("Design §4: wrong client secrets, initial access token secrets and admin key secrets cause zero argon2 calls")
    func wrongSecretsOfEveryKindNeverReachArgon2() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let service = try await AdminFixture.keyRecord(.service, for: tenant)
        let (iat, _) = try await InitialAccessTokens.mint(for: tenant)
        try await Self.run { server, counter in
            let client = try await AdminFixture.register(server, tenant, AdminFixture.confidentialClient())
            let caller = AdminCaller(server, key: service.presented)
            let path = "/tenants/\(tenant.slug)/clients/authenticate"
            // One right authentication, so the admin key itself is past argon2 (and cached).
            #expect(try await caller.post(path, ["client_id": .string(client.clientID), "client_secret": .string(try #require(client.clientSecret))]).status == .ok)
            let before = counter.value
            for _ in 0..<20 {
                let secret = try await caller.post(path, ["client_id": .string(client.clientID), "client_secret": .string("rcs_" + SecretGenerator.randomToken())])
                #expect(secret.status == .unauthorized)
                let wrongKey = "rk_\(service.key.id).\(SecretGenerator.randomToken())"
                #expect(try await AdminCaller(server, key: wrongKey).get("/tenants/\(tenant.slug)/clients").status == .unauthorized)
                let wrongIAT = "iat_\(iat.id).\(SecretGenerator.randomToken())"
                let registration = try await server.postJSON("/t/\(tenant.slug)/register",
                                                             #"{"redirect_uris":["https://claude.ai/api/mcp/auth_callback"]}"#, headers: bearer(wrongIAT))
                #expect(registration.status == .unauthorized)
            }
            #expect(counter.value == before)
        }
    }

    @Test("Design §4: a token stored before tags still verifies with argon2 and gets its tag, after which guesses skip argon2")
    func untaggedRowsVerifyAndGetTagged() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await Self.run { server, counter in
            let client = try await AdminFixture.register(server, tenant, AdminFixture.publicClient("Legacy"))
            try await TestEnvironment.withDatabase { database in
                try await database.withTenant(tenant.id) { connection in
                    try await connection.run("UPDATE clients SET registration_access_token_tag = NULL WHERE tenant_id = \(tenant.id) AND client_id = \(client.clientID)",
                                             logger: TestEnvironment.logger)
                }
            }
            let path = "/t/\(tenant.slug)/register/\(client.clientID)"
            let before = counter.value
            // Without a tag a guess still costs argon2 (there is nothing to pre-check against).
            #expect(try await server.get(path, headers: bearer("rat_" + SecretGenerator.randomToken())).status == .unauthorized)
            #expect(counter.value == before + 1)
            #expect(try await Self.tag(tenant, client.clientID, column: "registration_access_token_tag") == nil)

            #expect(try await server.get(path, headers: bearer(client.registrationAccessToken)).status == .ok)
            #expect(try await Self.tag(tenant, client.clientID, column: "registration_access_token_tag")
                    == TokenTagKey.development.tag(client.registrationAccessToken))
            let tagged = counter.value
            for _ in 0..<10 {
                #expect(try await server.get(path, headers: bearer("rat_" + SecretGenerator.randomToken())).status == .unauthorized)
            }
            #expect(counter.value == tagged)
            #expect(try await server.get(path, headers: bearer(client.registrationAccessToken)).status == .ok)
        }
    }
}
