import Foundation
import Testing
@testable import Registrar

/// `/admin/v1/tenants/{tenant}/users/{user}/grants…`: admins list and revoke a user's consent.
@Suite("Admin consent grants")
struct AdminGrantTests {
    @Test("An admin lists a user's grants and revokes one: its token families are revoked and the next request asks for consent again")
    func adminRevokesGrant() async throws {
        let fixture = try await AuthorizeFixture.make()
        let grant = try await fixture.grantRowAfterConsenting(scopes: ["openid", "profile"])
        let family = try await fixture.insertFamily(grantID: grant.grantID)
        let key = try await AdminFixture.key(.admin, for: fixture.tenant)
        let viewer = try await AdminFixture.key(.viewer, for: fixture.tenant)
        let path = "/tenants/\(fixture.tenant.slug)/users/\(fixture.user.id.uuidString.lowercased())/grants"
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: key)
            let listed = try await admin.get(path)
            #expect(listed.status == .ok)
            let items = try #require(listed.object["items"]?.arrayValue)
            #expect(items.count == 1)
            let item = try #require(items.first?.objectValue)
            #expect(item["grant_id"]?.stringValue == grant.grantID.uuidString.lowercased())
            #expect(item["client_id"]?.stringValue == fixture.clientID)
            #expect(item["client_name"]?.stringValue == "Example <App>")
            #expect(item["scopes"] == .array([.string("openid"), .string("profile")]))

            #expect(try await AdminCaller(server, key: viewer).delete("\(path)/\(grant.grantID.uuidString)").status == .forbidden)
            #expect(try await admin.delete("\(path)/\(UUID().uuidString)").status == .notFound)
            #expect(try await admin.delete("\(path)/not-a-uuid").status == .notFound)
            #expect(try await admin.get("/tenants/\(fixture.tenant.slug)/users/\(UUID().uuidString)/grants").status == .notFound)

            let revoked = try await admin.delete("\(path)/\(grant.grantID.uuidString)")
            #expect(revoked.status == .noContent)
            #expect(try await fixture.grantRow() == nil)
            #expect(try await fixture.familyRevoked(family), "the grant's refresh tokens die with it")
            #expect(try await admin.get(path).object["items"] == .array([]))
            #expect(try await fixture.authorize(server, fixture.query()).status == .ok, "consent is asked again")
        }
    }

    @Test("Tenant isolation: another tenant's admin cannot see or revoke the grants of this tenant's users")
    func otherTenantsAdminSeesNothing() async throws {
        let fixture = try await AuthorizeFixture.make()
        let grant = try await fixture.grantRowAfterConsenting(scopes: ["openid"])
        let other = try await TestEnvironment.createTenant()
        let otherKey = try await AdminFixture.key(.admin, for: other)
        try await AdminFixture.run { (server: TestServer) async throws in
            let caller = AdminCaller(server, key: otherKey)
            let user = fixture.user.id.uuidString.lowercased()
            #expect(try await caller.get("/tenants/\(fixture.tenant.slug)/users/\(user)/grants").status == .notFound)
            #expect(try await caller.get("/tenants/\(other.slug)/users/\(user)/grants").status == .notFound)
            #expect(try await caller.delete("/tenants/\(other.slug)/users/\(user)/grants/\(grant.grantID.uuidString)").status == .notFound)
            #expect(try await fixture.grantRow() != nil)
        }
    }

    @Test("Revoking all of a user's grants revokes each one's tokens")
    func revokeAllGrants() async throws {
        let fixture = try await AuthorizeFixture.make()
        let grant = try await fixture.grantRowAfterConsenting(scopes: ["openid"])
        let family = try await fixture.insertFamily(grantID: grant.grantID)
        let key = try await AdminFixture.key(.admin, for: fixture.tenant)
        try await AdminFixture.run { server in
            let reply = try await AdminCaller(server, key: key).delete("/tenants/\(fixture.tenant.slug)/users/\(fixture.user.id.uuidString)/grants")
            #expect(reply.status == .noContent)
            #expect(try await fixture.grantRow() == nil)
            #expect(try await fixture.familyRevoked(family))
        }
    }
}
