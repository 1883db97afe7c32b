import Foundation
import JWTKit
import Testing
@testable import Registrar

/// Rotation of a tenant's signing key through the admin API: the new key signs, the old one
/// stays published until the tokens it signed have expired.
@Suite("Signing key rotation")
struct SigningKeyRotationTests {
    static func kids(_ reply: TestServer.Reply) -> [String] {
        reply.object["keys"]?.arrayValue?.compactMap { $0.objectValue?["kid"]?.stringValue } ?? []
    }

    @Test("Rotation: the new key signs, the old key stays in /jwks.json until its tokens expire, and old tokens still verify")
    func rotationKeepsOldKeyPublished() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let resolved = KeysSupport.resolved(tenant)
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            try await TestEnvironment.withDatabase { database in
                let store = KeysSupport.store(database)
                let issuer = AccessTokenIssuer(keys: store)
                let old = try await issuer.accessToken(KeysSupport.claims(), tenant: resolved)
                let oldKid = try #require(KeysSupport.header(old.token)["kid"]?.stringValue)

                // The server reads (and caches) the tenant's keys before the rotation.
                #expect(Self.kids(try await server.get("/t/\(tenant.slug)/jwks.json")) == [oldKid])
                let before = Date()
                let reply = try await AdminCaller(server, key: key).post("/tenants/\(tenant.slug)/signing-keys/rotate")
                #expect(reply.status == .ok)
                #expect(reply.header("Cache-Control") == "no-store")
                let active = try #require(reply.object["active"]?.objectValue)
                let retired = try #require(reply.object["retired"]?.objectValue)
                let newKid = try #require(active["kid"]?.stringValue)
                #expect(newKid != oldKid)
                #expect(active["status"]?.stringValue == "active")
                #expect(retired["kid"]?.stringValue == oldKid)
                #expect(retired["status"]?.stringValue == "retired")
                // Published for the access-token lifetime plus the margin, counted from the rotation.
                let until = try #require(retired["publish_until"]?.stringValue.flatMap { try? Date($0, strategy: .iso8601) })
                let lifetime = TimeInterval(tenant.policy.authorizationServer.accessTokenLifetimeSeconds) + SigningKeyStore.retirementMargin
                #expect(until >= before.addingTimeInterval(lifetime - 1))
                #expect(until <= Date().addingTimeInterval(lifetime + 1))

                // The server forgot its cached keys at once: both are published.
                let jwks = try await server.get("/t/\(tenant.slug)/jwks.json")
                #expect(Set(Self.kids(jwks)) == [oldKid, newKid])
                #expect(Self.kids(jwks).first == newKid)

                let new = try await issuer.accessToken(KeysSupport.claims(), tenant: resolved)
                #expect(KeysSupport.header(new.token)["kid"]?.stringValue == newKid)
                let keys = try await JWTKeyCollection().add(jwksJSON: jwks.bodyText)
                _ = try await keys.verify(old.token, as: RFC9068Payload.self)
                _ = try await keys.verify(new.token, as: RFC9068Payload.self)
                let validator = AccessTokenValidator(keys: store)
                #expect(try await validator.validate(old.token, tenant: resolved).jti == old.jti)
                #expect(try await validator.validate(new.token, tenant: resolved).jti == new.jti)

                // Once publish_until has passed, the old key is gone from the JWKS and its tokens fail.
                let afterwards = KeysSupport.store(database, now: { until.addingTimeInterval(1) })
                let published = try await afterwards.publishedJWKs(tenantID: tenant.id).compactMap { $0.objectValue?["kid"]?.stringValue }
                #expect(published == [newKid])
                await #expect(throws: AccessTokenValidator.Rejected.self) {
                    try await AccessTokenValidator(keys: afterwards, now: { old.issuedAt }).validate(old.token, tenant: resolved)
                }
                #expect(try await afterwards.list(tenantID: tenant.id).first { $0.kid == oldKid }?.status == .expired)
            }
        }
    }

    @Test("Admin API: signing keys are listed newest first with no private material; rotation is audited")
    func listingAndAudit() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: key)
            // Rotating a tenant that has signed nothing yet creates its first key.
            let first = try await admin.post("/tenants/\(tenant.slug)/signing-keys/rotate")
            #expect(first.status == .ok)
            #expect(first.object["retired"] == nil)
            #expect(try await admin.post("/tenants/\(tenant.slug)/signing-keys/rotate").status == .ok)
            let list = try await admin.get("/tenants/\(tenant.slug)/signing-keys")
            #expect(list.status == .ok)
            let items = list.adminItems
            #expect(items.compactMap { $0["status"]?.stringValue } == ["active", "retired"])
            // The first rotation's key is now the retired one, listed after the newer active key.
            #expect(items.last?["kid"] == first.object["active"]?.objectValue?["kid"])
            for item in items {
                #expect(Set(item.keys).isSubset(of: ["kid", "algorithm", "status", "created_at", "retired_at", "publish_until"]))
                #expect(item["algorithm"]?.stringValue == "ES256")
            }
            #expect(!list.bodyText.contains("sealed"))
            let audit = try await admin.get("/tenants/\(tenant.slug)/audit?action=signing_key.rotated")
            let events = audit.adminItems
            #expect(events.count == 2)
            #expect(events.allSatisfy { $0["actor_type"]?.stringValue == "admin_key" })
        }
    }

    @Test("Admin API: a viewer may list signing keys but not rotate them; another tenant's key sees no such tenant")
    func access() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let other = try await TestEnvironment.createTenant()
        let viewer = try await AdminFixture.key(.viewer, for: tenant)
        let stranger = try await AdminFixture.key(.admin, for: other)
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server async throws in
            #expect(try await AdminCaller(server, key: viewer).get("/tenants/\(tenant.slug)/signing-keys").status == .ok)
            #expect(try await AdminCaller(server, key: viewer).post("/tenants/\(tenant.slug)/signing-keys/rotate").status == .forbidden)
            #expect(try await AdminCaller(server, key: stranger).post("/tenants/\(tenant.slug)/signing-keys/rotate").status == .notFound)
            #expect(try await AdminCaller(server, key: stranger).get("/tenants/\(tenant.slug)/signing-keys").status == .notFound)
            #expect(try await AdminCaller(server, key: nil).get("/tenants/\(tenant.slug)/signing-keys").status == .unauthorized)
            #expect(try await AdminCaller(server, key: platform).post("/tenants/\(tenant.slug)/signing-keys/rotate").status == .ok)
        }
    }

    @Test("Rotations racing on one tenant both take effect and leave exactly one active key")
    func concurrentRotations() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestEnvironment.withDatabase { database in
            _ = try await KeysSupport.store(database).signingKey(tenantID: tenant.id)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 { group.addTask { _ = try await KeysSupport.store(database).rotate(tenant: tenant, audit: nil) } }
                try await group.waitForAll()
            }
            let keys = try await KeysSupport.store(database).list(tenantID: tenant.id)
            #expect(keys.count == 5)
            #expect(keys.filter { $0.status == .active }.count == 1)
        }
    }
}
