import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// Initial access tokens through the management API: minted and shown once, listed without
/// secrets, revoked.
@Suite("Admin API: initial access tokens")
struct AdminInitialAccessTokenTests {
    static func tokenOnlyTenant() async throws -> Tenant {
        var policy = RegistrationPolicy()
        policy.registrationAccess = .initialAccessToken
        return try await TestEnvironment.createTenant(policy: policy)
    }

    @Test("Admin API: a minted initial access token is shown once and works at /t/{slug}/register")
    func mint() async throws {
        let tenant = try await Self.tokenOnlyTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: key)
            #expect(try await AdminFixture.tryRegister(server, tenant, AdminFixture.publicClient()).status == .unauthorized)

            let minted = try await admin.post("/tenants/\(tenant.slug)/initial-access-tokens",
                                              ["label": .string("CI pipeline"), "max_uses": .number(3), "expires_in": .number(3600)])
            #expect(minted.status == .created, "\(minted.bodyText)")
            #expect(minted.header("Cache-Control") == "no-store")
            let token = try #require(minted.object["token"]?.stringValue)
            let id = try #require(minted.object["id"]?.stringValue)
            #expect(token.hasPrefix("iat_\(id)."))
            #expect(minted.object["label"]?.stringValue == "CI pipeline")
            #expect(minted.object["max_uses"]?.intValue == 3)
            #expect(minted.object["uses"]?.intValue == 0)
            #expect(minted.object["revoked"] == .bool(false))
            let expires = try #require(minted.object["expires_at"]?.stringValue)
            let expiry = try Date.ISO8601FormatStyle().parse(expires)
            #expect(abs(expiry.timeIntervalSinceNow - 3600) < 120)

            let client = try await AdminFixture.register(server, tenant, AdminFixture.publicClient(), initialAccessToken: token)
            let stored = try await admin.get("/tenants/\(tenant.slug)/clients/\(client.clientID)")
            #expect(stored.object["initial_access_token_id"]?.stringValue == id)

            // Shown once: nothing later returns it.
            let listed = try await admin.get("/tenants/\(tenant.slug)/initial-access-tokens")
            #expect(!listed.bodyText.contains(token))
            #expect(!listed.bodyText.contains(String(token.split(separator: ".").last ?? "")))
        }
    }

    @Test("Admin API: the token list shows uses counted and never a secret")
    func list() async throws {
        let tenant = try await Self.tokenOnlyTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        let viewerKey = try await AdminFixture.key(.viewer, for: tenant)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: key)
            let first = try await admin.post("/tenants/\(tenant.slug)/initial-access-tokens", ["label": .string("first"), "max_uses": .number(5)])
            let second = try await admin.post("/tenants/\(tenant.slug)/initial-access-tokens", ["label": .string("second")])
            let firstToken = try #require(first.object["token"]?.stringValue)
            let secondToken = try #require(second.object["token"]?.stringValue)
            _ = try await AdminFixture.register(server, tenant, AdminFixture.publicClient(), initialAccessToken: firstToken)
            _ = try await AdminFixture.register(server, tenant, AdminFixture.publicClient(), initialAccessToken: firstToken)

            let listed = try await AdminCaller(server, key: viewerKey).get("/tenants/\(tenant.slug)/initial-access-tokens")
            #expect(listed.status == .ok)
            let items = listed.adminItems
            #expect(items.count == 2)
            #expect(items.compactMap { $0["label"]?.stringValue } == ["second", "first"], "newest first")
            let byLabel = Dictionary(uniqueKeysWithValues: items.map { ($0["label"]?.stringValue ?? "", $0) })
            #expect(byLabel["first"]?["uses"]?.intValue == 2)
            #expect(byLabel["first"]?["max_uses"]?.intValue == 5)
            #expect(byLabel["second"]?["uses"]?.intValue == 0)
            #expect(byLabel["second"]?["max_uses"] == nil)
            for item in items {
                #expect(item["token"] == nil)
                #expect(item["secret_hash"] == nil)
                #expect(item["id"]?.stringValue != nil)
            }
            #expect(!listed.bodyText.contains(firstToken))
            #expect(!listed.bodyText.contains(secondToken))
            #expect(!listed.bodyText.contains("$argon2"))
        }
    }

    @Test("Admin API: a revoked initial access token gets 401 at registration")
    func revoke() async throws {
        let tenant = try await Self.tokenOnlyTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: key)
            let minted = try await admin.post("/tenants/\(tenant.slug)/initial-access-tokens", ["label": .string("to revoke")])
            let token = try #require(minted.object["token"]?.stringValue)
            let id = try #require(minted.object["id"]?.stringValue)
            _ = try await AdminFixture.register(server, tenant, AdminFixture.publicClient(), initialAccessToken: token)

            let revoked = try await admin.delete("/tenants/\(tenant.slug)/initial-access-tokens/\(id)")
            #expect(revoked.status == .noContent, "\(revoked.bodyText)")
            let refused = try await AdminFixture.tryRegister(server, tenant, AdminFixture.publicClient(), initialAccessToken: token)
            #expect(refused.status == .unauthorized)
            #expect(refused.object["error"]?.stringValue == "invalid_token")
            #expect(try await AdminFixture.clientCount(tenant) == 1)

            let item = try #require(try await admin.get("/tenants/\(tenant.slug)/initial-access-tokens").adminItems.first)
            #expect(item["revoked"] == .bool(true))
            #expect(item["revoked_at"]?.stringValue != nil)
            AdminProblem.expect(try await admin.delete("/tenants/\(tenant.slug)/initial-access-tokens/\(id)"), .notFound)
        }
    }

    @Test("Admin API: an initial access token of tenant A cannot be revoked through tenant B")
    func revokeOtherTenantsToken() async throws {
        let tenantA = try await Self.tokenOnlyTenant()
        let tenantB = try await TestEnvironment.createTenant()
        let keys = try await AdminFixture.createKeys([(.admin, tenantA.id), (.admin, tenantB.id)])
        try await AdminFixture.run { server in
            let minted = try await AdminCaller(server, key: keys[0].presented).post("/tenants/\(tenantA.slug)/initial-access-tokens", [:])
            let id = try #require(minted.object["id"]?.stringValue)
            let token = try #require(minted.object["token"]?.stringValue)
            AdminProblem.expect(try await AdminCaller(server, key: keys[1].presented).delete("/tenants/\(tenantB.slug)/initial-access-tokens/\(id)"),
                                .notFound)
            _ = try await AdminFixture.register(server, tenantA, AdminFixture.publicClient(), initialAccessToken: token)
        }
    }
}
