import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// Who may do what on `/admin/v1`: the four roles, keys of another tenant, revoked keys, and the
/// one 401 every failed authentication gets.
@Suite("Admin API: access")
struct AdminAccessTests {
    @Test("Admin API: a platform key creates tenants, lists them and reads and changes any tenant")
    func platformKey() async throws {
        let existing = try await TestEnvironment.createTenant()
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            let slug = TestEnvironment.uniqueSlug("adm")
            let created = try await admin.post("/tenants", ["slug": .string(slug)])
            #expect(created.status == .created, "\(created.bodyText)")
            #expect(try await admin.get("/tenants?limit=1").status == .ok)
            #expect(try await admin.get("/tenants/\(existing.slug)").status == .ok)
            #expect(try await admin.get("/tenants/\(existing.slug)/policy").status == .ok)
            #expect(try await admin.get("/tenants/\(existing.slug)/clients").status == .ok)
            #expect(try await admin.get("/tenants/\(existing.slug)/audit").status == .ok)
            #expect(try await admin.get("/keys").status == .ok)
            let renamed = try await admin.patch("/tenants/\(existing.slug)", ["display_name": .string("Renamed by platform")])
            #expect(renamed.status == .ok)
            #expect(renamed.object["display_name"]?.stringValue == "Renamed by platform")
            let minted = try await admin.post("/tenants/\(existing.slug)/initial-access-tokens", ["label": .string("platform")])
            #expect(minted.status == .created)
        }
    }

    @Test("Admin API: a tenant admin key reads and writes its own tenant but not platform resources")
    func tenantAdminKey() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: key)
            let base = "/tenants/\(tenant.slug)"
            #expect(try await admin.get(base).status == .ok)
            #expect(try await admin.get("\(base)/clients").status == .ok)
            #expect(try await admin.get("\(base)/audit").status == .ok)
            #expect(try await admin.get("\(base)/keys").status == .ok)
            let policy = try await admin.get("\(base)/policy")
            #expect(policy.status == .ok)
            #expect(try await admin.put("\(base)/policy", policy.object).status == .ok)
            #expect(try await admin.post("\(base)/initial-access-tokens", ["label": .string("tenant admin")]).status == .created)
            #expect(try await admin.post("\(base)/keys", ["role": .string("viewer")]).status == .created)

            // Platform-level operations need a platform key.
            AdminProblem.expect(try await admin.post("/tenants", ["slug": .string(TestEnvironment.uniqueSlug("adm"))]), .forbidden)
            AdminProblem.expect(try await admin.get("/tenants"), .forbidden)
            AdminProblem.expect(try await admin.get("/keys"), .forbidden)
            AdminProblem.expect(try await admin.post("/keys", ["role": .string("platform")]), .forbidden)
            AdminProblem.expect(try await admin.patch(base, ["display_name": .string("Self-renamed")]), .forbidden)
            AdminProblem.expect(try await admin.delete(base), .forbidden)
            AdminProblem.expect(try await admin.post("\(base)/domains", ["host": .string("admin-self.customer.test")]), .forbidden)
        }
    }

    @Test("Admin API: a viewer key reads everything of its tenant and every write is 403")
    func viewerKey() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.viewer, for: tenant)
        try await AdminFixture.run { server in
            let client = try await AdminFixture.register(server, tenant, AdminFixture.confidentialClient())
            let viewer = AdminCaller(server, key: key)
            let base = "/tenants/\(tenant.slug)"
            for path in [base, "\(base)/policy", "\(base)/clients", "\(base)/clients/\(client.clientID)", "\(base)/audit",
                         "\(base)/audit/export", "\(base)/initial-access-tokens", "\(base)/keys"] {
                let reply = try await viewer.get(path)
                #expect(reply.status == .ok, "GET \(path): \(reply.status) \(reply.bodyText)")
            }
            let evaluated = try await viewer.post("\(base)/policy/evaluate", ["registration": .object(AdminFixture.publicClient())])
            #expect(evaluated.status == .ok, "the dry run only reads: \(evaluated.bodyText)")

            let policy = try await viewer.get("\(base)/policy").object
            AdminProblem.expect(try await viewer.put("\(base)/policy", policy), .forbidden)
            AdminProblem.expect(try await viewer.post("\(base)/initial-access-tokens", [:]), .forbidden)
            AdminProblem.expect(try await viewer.post("\(base)/keys", ["role": .string("viewer")]), .forbidden)
            AdminProblem.expect(try await viewer.post("\(base)/clients/\(client.clientID)/disable"), .forbidden)
            AdminProblem.expect(try await viewer.post("\(base)/clients/\(client.clientID)/secret"), .forbidden)
            AdminProblem.expect(try await viewer.post("\(base)/clients/\(client.clientID)/registration-access-token"), .forbidden)
            AdminProblem.expect(try await viewer.delete("\(base)/clients/\(client.clientID)"), .forbidden)
            AdminProblem.expect(try await viewer.post("\(base)/clients/authenticate",
                                                      ["client_id": .string(client.clientID), "client_secret": .string(client.clientSecret ?? "")]),
                                .forbidden)
            // Nothing changed.
            let stored = try await AdminCaller(server, key: key).get("\(base)/clients/\(client.clientID)")
            #expect(stored.object["status"]?.stringValue == "active")
            #expect(try await AdminFixture.clientCount(tenant) == 1)
        }
    }

    @Test("Admin API: a service key may only call clients/authenticate; everything else is 403")
    func serviceKey() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.service, for: tenant)
        try await AdminFixture.run { server in
            let client = try await AdminFixture.register(server, tenant, AdminFixture.confidentialClient())
            let service = AdminCaller(server, key: key)
            let base = "/tenants/\(tenant.slug)"
            let authenticated = try await service.post("\(base)/clients/authenticate",
                                                       ["client_id": .string(client.clientID), "client_secret": .string(try #require(client.clientSecret))])
            #expect(authenticated.status == .ok, "\(authenticated.bodyText)")
            #expect(authenticated.object["active"] == .bool(true))

            for path in [base, "\(base)/policy", "\(base)/clients", "\(base)/clients/\(client.clientID)", "\(base)/audit",
                         "\(base)/audit/export", "\(base)/initial-access-tokens", "\(base)/keys"] {
                AdminProblem.expect(try await service.get(path), .forbidden)
            }
            AdminProblem.expect(try await service.post("\(base)/policy/evaluate", ["registration": .object(AdminFixture.publicClient())]), .forbidden)
            AdminProblem.expect(try await service.post("\(base)/initial-access-tokens", [:]), .forbidden)
            AdminProblem.expect(try await service.post("\(base)/keys", ["role": .string("service")]), .forbidden)
            AdminProblem.expect(try await service.post("\(base)/clients/\(client.clientID)/disable"), .forbidden)
            AdminProblem.expect(try await service.delete("\(base)/clients/\(client.clientID)"), .forbidden)
            AdminProblem.expect(try await service.get("/tenants"), .forbidden)
        }
    }

    @Test("Admin API: a key of tenant A asking for tenant B gets 404, byte-identical to a tenant that does not exist")
    func wrongTenantIsNotFound() async throws {
        let tenantA = try await TestEnvironment.createTenant()
        let tenantB = try await TestEnvironment.createTenant()
        let keys = try await AdminFixture.createKeys([(.admin, tenantA.id), (.viewer, tenantA.id), (.service, tenantA.id)])
        try await AdminFixture.run { server in
            let clientB = try await AdminFixture.register(server, tenantB, AdminFixture.confidentialClient())
            let missing = TestEnvironment.uniqueSlug("missing")
            let reference = try await AdminCaller(server, key: keys[0].presented).get("/tenants/\(missing)")
            AdminProblem.expect(reference, .notFound)
            for (_, presented) in keys {
                let caller = AdminCaller(server, key: presented)
                for suffix in ["", "/policy", "/clients", "/clients/\(clientB.clientID)", "/audit", "/keys", "/initial-access-tokens"] {
                    let reply = try await caller.get("/tenants/\(tenantB.slug)\(suffix)")
                    AdminProblem.expect(reply, .notFound)
                    #expect(reply.bodyText == reference.bodyText, "GET \(suffix) differs from a missing tenant: \(reply.bodyText)")
                    let truly = try await caller.get("/tenants/\(missing)\(suffix)")
                    #expect(truly.status == .notFound)
                    #expect(truly.bodyText == reply.bodyText)
                }
                let authenticate = try await caller.post("/tenants/\(tenantB.slug)/clients/authenticate",
                                                         ["client_id": .string(clientB.clientID), "client_secret": .string(clientB.clientSecret ?? "")])
                AdminProblem.expect(authenticate, .notFound)
                #expect(authenticate.bodyText == reference.bodyText)
                let disable = try await caller.post("/tenants/\(tenantB.slug)/clients/\(clientB.clientID)/disable")
                AdminProblem.expect(disable, .notFound)
                #expect(disable.bodyText == reference.bodyText)
                let createKey = try await caller.post("/tenants/\(tenantB.slug)/keys", ["role": .string("admin")])
                AdminProblem.expect(createKey, .notFound)
                #expect(createKey.bodyText == reference.bodyText)
                let policy = try await caller.put("/tenants/\(tenantB.slug)/policy", ["registration_access": .string("open")])
                AdminProblem.expect(policy, .notFound)
                #expect(policy.bodyText == reference.bodyText)
            }
            // Tenant B's client, policy and keys were not touched.
            let platform = AdminCaller(server, key: try await AdminFixture.key(.platform))
            #expect(try await platform.get("/tenants/\(tenantB.slug)/clients/\(clientB.clientID)").object["status"]?.stringValue == "active")
            #expect(try await platform.get("/tenants/\(tenantB.slug)/policy").object["registration_access"]?.stringValue == "open_for_trusted_redirects")
            #expect(try await platform.get("/tenants/\(tenantB.slug)/keys").adminItems.isEmpty)
        }
    }

    @Test("Admin API: a revoked key gets 401 at once")
    func revokedKeyIsUnauthorized() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let keys = try await AdminFixture.createKeys([(.admin, tenant.id), (.viewer, tenant.id)])
        let (admin, viewer) = (keys[0], keys[1])
        try await AdminFixture.run { server in
            let viewerCaller = AdminCaller(server, key: viewer.presented)
            #expect(try await viewerCaller.get("/tenants/\(tenant.slug)").status == .ok)
            let revoked = try await AdminCaller(server, key: admin.presented).delete("/keys/\(viewer.key.id)")
            #expect(revoked.status == .noContent, "\(revoked.bodyText)")
            let after = try await viewerCaller.get("/tenants/\(tenant.slug)")
            AdminProblem.expect(after, .unauthorized)
            #expect(after.header("WWW-Authenticate") != nil)
        }
    }

    @Test("Admin API: missing, malformed, unknown and wrong keys all get the same 401 problem with WWW-Authenticate")
    func unauthorizedIsUniform() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let real = try await AdminFixture.keyRecord(.admin, for: tenant)
        let (unknownID, unknownKey) = AdminKey.generate()
        _ = unknownID
        let wrongSecret = "rk_\(real.key.id).\(SecretGenerator.randomToken())"
        try await AdminFixture.run { server in
            let path = "/tenants/\(tenant.slug)"
            let cases: [(String, String?)] = [
                ("missing", nil),
                ("malformed bearer", "Bearer not-a-key"),
                ("wrong scheme", "Basic \(Data("user:pass".utf8).base64EncodedString())"),
                ("empty bearer", "Bearer "),
                ("prefix only", "Bearer rk_"),
                ("overlong", "Bearer rk_" + String(repeating: "a", count: 600)),
                ("unknown key", "Bearer \(unknownKey)"),
                ("wrong secret", "Bearer \(wrongSecret)"),
            ]
            var bodies: [String: String] = [:]
            for (name, authorization) in cases {
                let reply = try await AdminCaller(server, authorization: authorization).get(path)
                AdminProblem.expect(reply, .unauthorized)
                #expect(reply.header("WWW-Authenticate")?.hasPrefix("Bearer") == true, "\(name): WWW-Authenticate")
                #expect(reply.header("Cache-Control") == "no-store", "\(name)")
                bodies[name] = reply.bodyText
            }
            #expect(Set(bodies.values).count == 1, "401 bodies differ: \(bodies)")
            // The same for a platform route and for a write.
            let platformRoute = try await AdminCaller(server, authorization: nil).get("/tenants")
            #expect(platformRoute.status == .unauthorized)
            #expect(platformRoute.bodyText == bodies["missing"])
            let write = try await AdminCaller(server, authorization: "Bearer \(wrongSecret)").post("/tenants", ["slug": .string("x-never")])
            #expect(write.status == .unauthorized)
            #expect(write.bodyText == bodies["missing"])
            // The real key still works.
            #expect(try await AdminCaller(server, key: real.presented).get(path).status == .ok)
        }
    }

    @Test("Admin API: the management API is 404 on a tenant host, even with a platform key")
    func adminAPINotOnTenantHosts() async throws {
        let domain = "\(TestEnvironment.uniqueSlug("adm")).customer.test"
        let tenant = try await TestEnvironment.createTenant(domains: [domain])
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            #expect(try await AdminCaller(server, key: platform).get("/tenants/\(tenant.slug)").status == .ok)
            for host in ["\(tenant.slug).\(TestServer.baseDomain)", domain] {
                let caller = AdminCaller(server, key: platform, host: host)
                for path in ["/tenants", "/tenants/\(tenant.slug)", "/tenants/\(tenant.slug)/clients", "/keys"] {
                    AdminProblem.expect(try await caller.get(path), .notFound)
                }
                AdminProblem.expect(try await caller.post("/tenants", ["slug": .string(TestEnvironment.uniqueSlug("adm"))]), .notFound)
                // Without a key as well: the host decides first, so nothing tells a tenant host's
                // visitor that a management API exists.
                AdminProblem.expect(try await AdminCaller(server, key: nil, host: host).get("/tenants/\(tenant.slug)"), .notFound)
            }
        }
    }
}
