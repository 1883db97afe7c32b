import Foundation
import HTTPTypes
import PostgresNIO
import Testing
@testable import Registrar

/// The shared limiter's own rules (design §8): what creates state, in which order limits are
/// checked, how addresses are counted, and that stale state goes away.
@Suite("Rate limits")
struct RateLimitTests {
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    /// A server that believes `X-Forwarded-For` from the test client, so each test counts
    /// against addresses of its own.
    static func run<T: Sendable>(tenantCache: Bool = false, configure: @escaping (inout RegistrarConfig) throws -> Void = { _ in },
                                 _ body: @escaping @Sendable (TestServer) async throws -> T) async throws -> T {
        try await TestServer.run(configure: { config in
            config.trustedProxies = [try IPRange("127.0.0.0/8"), try IPRange("::1/128")]
            try configure(&config)
        }, tenantCache: tenantCache, body)
    }

    static func rows(tenantID: UUID) async throws -> Int {
        try await TestEnvironment.withDatabase { database in
            try #require(try await database.query("SELECT count(*)::integer FROM rate_limits WHERE tenant_id = \(tenantID)").first).decode(Int.self)
        }
    }

    /// The GCRA state of one key, nil when the key has none.
    static func state(tenantID: UUID, key: String) async throws -> Date? {
        try await TestEnvironment.withDatabase { database in
            try await database.query("SELECT tat FROM rate_limits WHERE tenant_id = \(tenantID) AND key = \(key)").first?.decode(Date.self)
        }
    }

    static func randomIPv4() -> String {
        "203.0.\(Int.random(in: 0...255)).\(Int.random(in: 1...254))"
    }

    @Test("Issue 9: 1,000 random 1,800-character RFC 7592 paths are 401 and leave the limiter table unchanged")
    func malformedClientIDsNeverTouchTheLimiter() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let statuses = try await Self.run(tenantCache: true) { server in
            try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        var statuses: [Int] = []
                        for _ in 0..<125 {
                            let id = String((0..<1800).map { _ in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".randomElement()! })
                            let reply = try await server.get("/t/\(tenant.slug)/register/\(id)", headers: [
                                .authorization: "Bearer rat_" + SecretGenerator.randomToken(), Self.forwardedFor: Self.randomIPv4(),
                            ])
                            statuses.append(Int(reply.status.code))
                        }
                        return statuses
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
        }
        #expect(statuses.count == 1000)
        #expect(statuses.allSatisfy { $0 == 401 })
        #expect(try await Self.rows(tenantID: tenant.id) == 0)
    }

    @Test("Issue 9: an address over its failure limit sending requests for client X leaves X's budget untouched; X keeps working")
    func refusedAddressDoesNotSpendTheClientsBudget() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: AbuseAndLifecycleTests.policy {
            $0.rateLimits.failedAuthenticationsPerAddress = RateLimit(limit: 1, periodSeconds: 3600, burst: 2)
            $0.rateLimits.clientConfigurationPerClient = RateLimit(limit: 1, periodSeconds: 3600, burst: 5)
        })
        let attacker = Self.randomIPv4()
        let (clientID, statuses, stateWhileAttacked, ownStatuses) = try await Self.run { server in
            let registered = try await server.postJSON("/t/\(tenant.slug)/register", AbuseAndLifecycleTests.body,
                                                       headers: [Self.forwardedFor: Self.randomIPv4()]).object
            let clientID = try #require(registered["client_id"]?.stringValue)
            let token = try #require(registered["registration_access_token"]?.stringValue)
            var statuses: [Int] = []
            for _ in 0..<12 {
                let reply = try await server.get("/t/\(tenant.slug)/register/\(clientID)", headers: [
                    .authorization: "Bearer rat_" + SecretGenerator.randomToken(), Self.forwardedFor: attacker,
                ])
                statuses.append(Int(reply.status.code))
            }
            let state = try await Self.state(tenantID: tenant.id, key: "client:\(clientID)")
            // The client's own requests, from its own address, are all within its budget of 5.
            var own: [Int] = []
            for _ in 0..<5 {
                own.append(Int(try await server.get("/t/\(tenant.slug)/register/\(clientID)", headers: [
                    .authorization: "Bearer \(token)", Self.forwardedFor: Self.randomIPv4(),
                ]).status.code))
            }
            return (clientID, statuses, state, own)
        }
        #expect(statuses.prefix(2).allSatisfy { $0 == 401 })
        #expect(statuses.dropFirst(2).allSatisfy { $0 == 429 })
        #expect(stateWhileAttacked == nil, "wrong tokens and refused requests must not create or spend the client's budget")
        #expect(ownStatuses == [200, 200, 200, 200, 200])
        #expect(try await Self.state(tenantID: tenant.id, key: "client:\(clientID)") != nil)
    }

    @Test("Issue 9: wrong secrets for a known admin key id do not spend that key's budget")
    func wrongSecretsDoNotSpendAnAdminKeysBudget() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let (key, presented) = try await AdminFixture.keyRecord(.admin, for: tenant)
        let statuses = try await Self.run { server in
            var statuses: [Int] = []
            for _ in 0..<3 {
                let wrong = "rk_\(key.id)." + String(presented.split(separator: ".")[1].reversed())
                statuses.append(Int(try await server.get("/admin/v1/tenants/\(tenant.slug)/policy", headers: [
                    .authorization: "Bearer \(wrong)", Self.forwardedFor: Self.randomIPv4(),
                ]).status.code))
            }
            return statuses
        }
        #expect(statuses == [401, 401, 401])
        #expect(try await Self.state(tenantID: PostgresRateLimiter.platformTenant, key: "admin-key:\(key.id)") == nil)
    }

    @Test("Issue 9: wrong secrets for a known initial access token id do not spend that token's budget")
    func wrongSecretsDoNotSpendAnInitialAccessTokensBudget() async throws {
        // A slow limit: the state a verified use writes stays in the future, out of any sweep.
        let tenant = try await TestEnvironment.createTenant(policy: AbuseAndLifecycleTests.policy {
            $0.rateLimits.initialAccessToken = RateLimit(limit: 1, periodSeconds: 3600, burst: 30)
        })
        let (_, presented) = try await InitialAccessTokens.mint(for: tenant)
        let (id, _) = try #require(InitialAccessToken.parse(presented))
        let (wrong, stateAfterWrong, right) = try await Self.run { server in
            var wrong: [Int] = []
            for _ in 0..<3 {
                wrong.append(Int(try await server.postJSON("/t/\(tenant.slug)/register", InitialAccessTokenTests.loopbackClient, headers: [
                    .authorization: "Bearer iat_\(id).\(SecretGenerator.randomToken())", Self.forwardedFor: Self.randomIPv4(),
                ]).status.code))
            }
            let state = try await Self.state(tenantID: tenant.id, key: "iat:\(id)")
            let right = try await server.postJSON("/t/\(tenant.slug)/register", InitialAccessTokenTests.loopbackClient, headers: [
                .authorization: "Bearer \(presented)", Self.forwardedFor: Self.randomIPv4(),
            ])
            return (wrong, state, Int(right.status.code))
        }
        #expect(wrong == [401, 401, 401])
        #expect(stateAfterWrong == nil)
        #expect(right == 201)
        #expect(try await Self.state(tenantID: tenant.id, key: "iat:\(id)") != nil)
    }

    @Test("Issue 9: the authenticate API spends a client's budget only for its right secret, and never for ids it did not issue")
    func wrongSecretsDoNotSpendAClientsAuthenticationBudget() async throws {
        // A slow limit: the state a verified use writes stays in the future, out of any sweep.
        let tenant = try await TestEnvironment.createTenant(policy: AbuseAndLifecycleTests.policy {
            $0.rateLimits.authenticatePerClient = RateLimit(limit: 1, periodSeconds: 3600, burst: 30)
        })
        let key = try await AdminFixture.key(.service, for: tenant)
        let (clientID, statuses, stateAfterWrong) = try await AdminFixture.run { server in
            let client = try await AdminFixture.register(server, tenant, AdminFixture.confidentialClient())
            let secret = try #require(client.clientSecret)
            let service = AdminCaller(server, key: key)
            let path = "/tenants/\(tenant.slug)/clients/authenticate"
            var statuses: [Int] = []
            for _ in 0..<3 {
                statuses.append(Int(try await service.post(path, ["client_id": .string(client.clientID), "client_secret": .string(secret + "x")]).status.code))
            }
            statuses.append(Int(try await service.post(path, ["client_id": .string("no-such-client"), "client_secret": .string(secret)]).status.code))
            let state = try await Self.state(tenantID: tenant.id, key: "authenticate:\(client.clientID)")
            statuses.append(Int(try await service.post(path, ["client_id": .string(client.clientID), "client_secret": .string(secret)]).status.code))
            return (client.clientID, statuses, state)
        }
        #expect(statuses == [401, 401, 401, 401, 200])
        #expect(stateAfterWrong == nil)
        #expect(try await Self.state(tenantID: tenant.id, key: "authenticate:no-such-client") == nil)
        #expect(try await Self.state(tenantID: tenant.id, key: "authenticate:\(clientID)") != nil)
    }

    @Test("Issue 9: IPv6 sources in one /64 share one per-address limit; IPv4-mapped addresses count as IPv4")
    func ipv6AddressesShareOneLimitPerSlash64() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: AbuseAndLifecycleTests.policy {
            $0.rateLimits.registerPerAddress = RateLimit(limit: 1, periodSeconds: 3600, burst: 1)
        })
        let (third, fourth) = (Int.random(in: 1...0xffff), Int.random(in: 1...0xfffe))
        let prefix = "2001:db8:\(String(third, radix: 16)):\(String(fourth, radix: 16))"
        let neighbour = "2001:db8:\(String(third, radix: 16)):\(String(fourth + 1, radix: 16))"
        let v4 = "192.0.2.\(Int.random(in: 1...254))"
        let statuses = try await Self.run { server in
            var statuses: [Int] = []
            for source in ["\(prefix)::1", "\(prefix):abcd::2", "\(neighbour)::1", v4, "::ffff:\(v4)"] {
                statuses.append(Int(try await server.postJSON("/t/\(tenant.slug)/register", AbuseAndLifecycleTests.body,
                                                              headers: [Self.forwardedFor: source]).status.code))
            }
            return statuses
        }
        // Same /64, same /64, another /64; an IPv4 address, then the same one mapped into IPv6.
        #expect(statuses == [201, 429, 201, 201, 429])
    }

    @Test("Issue 9: the platform-wide per-address limit counts one address across every tenant")
    func platformLimitCountsAnAddressAcrossTenants() async throws {
        let first = try await TestEnvironment.createTenant()
        let second = try await TestEnvironment.createTenant()
        let source = Self.randomIPv4()
        let statuses = try await Self.run(configure: { $0.platformRateLimits.registerPerAddress = RateLimit(limit: 1, periodSeconds: 3600, burst: 2) }) { server in
            var statuses: [Int] = []
            for tenant in [first, second, first, second] {
                statuses.append(Int(try await server.postJSON("/t/\(tenant.slug)/register", AbuseAndLifecycleTests.body,
                                                              headers: [Self.forwardedFor: source]).status.code))
            }
            // Another address is not affected.
            statuses.append(Int(try await server.postJSON("/t/\(second.slug)/register", AbuseAndLifecycleTests.body,
                                                          headers: [Self.forwardedFor: Self.randomIPv4()]).status.code))
            return statuses
        }
        #expect(statuses == [201, 201, 429, 429, 201])
    }

    @Test("Issue 9: tenant lookups that reach the database are limited per address before any tenant is resolved")
    func unknownTenantLookupsAreLimitedPerAddress() async throws {
        let source = Self.randomIPv4()
        let (statuses, other) = try await Self.run(configure: { $0.platformRateLimits.tenantLookupsPerAddress = RateLimit(limit: 1, periodSeconds: 3600, burst: 3) }) { server in
            var statuses: [Int] = []
            for _ in 0..<6 {
                let slug = TestEnvironment.uniqueSlug("missing")
                statuses.append(Int(try await server.get("/.well-known/oauth-authorization-server/t/\(slug)", headers: [Self.forwardedFor: source]).status.code))
            }
            let other = try await server.get("/.well-known/oauth-authorization-server/t/\(TestEnvironment.uniqueSlug("missing"))",
                                             headers: [Self.forwardedFor: Self.randomIPv4()])
            return (statuses, Int(other.status.code))
        }
        #expect(statuses == [404, 404, 404, 429, 429, 429])
        #expect(other == 404)
    }

    @Test("Issue 9: the sweeper deletes, in bounded batches, every state whose time has passed and keeps the others")
    func sweeperEmptiesExpiredRows() async throws {
        let tenantID = UUID()
        try await TestEnvironment.withDatabase { database in
            _ = try await database.query("""
                INSERT INTO rate_limits (tenant_id, key, tat)
                SELECT \(tenantID), 'old:' || g, clock_timestamp() - interval '1 second' * g FROM generate_series(1, 7) AS g
                UNION ALL
                SELECT \(tenantID), 'live:' || g, clock_timestamp() + interval '1 hour' FROM generate_series(1, 3) AS g
                """)
            var sweeper = RateLimitSweeper(limiter: PostgresRateLimiter(database: database))
            sweeper.batchSize = 2
            _ = try await sweeper.runOnce()
        }
        #expect(try await Self.rows(tenantID: tenantID) == 3)
        #expect(try await Self.state(tenantID: tenantID, key: "live:1") != nil)
        #expect(try await Self.state(tenantID: tenantID, key: "old:1") == nil)
    }

    @Test("Issue 9: a limiter key longer than the bound is refused by the table itself")
    func limiterKeysAreBounded() async throws {
        await #expect(throws: (any Error).self) {
            try await TestEnvironment.withDatabase { database in
                _ = try await database.query("INSERT INTO rate_limits (tenant_id, key, tat) VALUES (\(UUID()), \(String(repeating: "k", count: 201)), now())")
            }
        }
    }

    @Test("Issue 9: a tenant admin cannot raise its limits above the platform ceiling: 400 naming the field")
    func tenantLimitsAreHeldToThePlatformCeiling() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        let (refused, accepted) = try await TestServer.run(configure: { config in
            config.trustedProxies = [try IPRange("127.0.0.0/8")]
            config.platformRateLimits.tenantCeiling = RateLimit(limit: 200, periodSeconds: 60, burst: 100)
        }) { server in
            let admin = AdminCaller(server, key: key)
            let path = "/tenants/\(tenant.slug)/policy"
            var document = try await admin.get(path).object
            document["rate_limits"] = .object(["register_per_tenant": .object(["limit": .number(201), "period_seconds": .number(60), "burst": .number(10)])])
            let refused = try await admin.put(path, document)
            document["rate_limits"] = .object(["register_per_tenant": .object(["limit": .number(200), "period_seconds": .number(60), "burst": .number(100)])])
            let accepted = try await admin.put(path, document)
            return (refused, accepted)
        }
        AdminProblem.expect(refused, .validation, field: "rate_limits.register_per_tenant.limit")
        #expect(accepted.status == .ok, "\(accepted.bodyText)")
    }
}
