import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// The registration policy through the management API: read with its ETag, replace, refuse bad
/// documents and stale writers, and the dry run that evaluates a registration.
@Suite("Admin API: policy")
struct AdminPolicyTests {
    @Test("Admin API: GET policy returns the full document with an ETag")
    func getPolicy() async throws {
        var configured = RegistrationPolicy()
        configured.allowedScopes = ["openid", "mcp:tools"]
        configured.defaultScopes = ["openid"]
        let policy = configured
        let tenant = try await TestEnvironment.createTenant(policy: policy)
        let key = try await AdminFixture.key(.viewer, for: tenant)
        try await AdminFixture.run { server in
            let reply = try await AdminCaller(server, key: key).get("/tenants/\(tenant.slug)/policy")
            #expect(reply.status == .ok)
            #expect(reply.header("ETag") == "\"\(tenant.policyVersion)\"")
            #expect(reply.header("Cache-Control") == "no-store")
            #expect(reply.object["allowed_scopes"] == .array([.string("openid"), .string("mcp:tools")]))
            #expect(reply.object["registration_access"]?.stringValue == "open_for_trusted_redirects")
            // Defaults are spelled out.
            #expect(reply.object["trusted_redirect_hosts"] != nil)
            #expect(reply.object["client_secret_lifetime_seconds"]?.intValue == 0)
            // It parses back into the same policy.
            #expect(try RegistrationPolicy(json: reply.json ?? .null) == policy)
        }
    }

    @Test("Admin API: PUT of a valid policy changes version and ETag, and registration follows it at once")
    func putValidPolicy() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: key)
            let path = "/tenants/\(tenant.slug)/policy"
            let read = try await admin.get(path)
            let etag = try #require(read.header("ETag"))
            // The default policy lets a loopback client register without a token.
            _ = try await AdminFixture.register(server, tenant, AdminFixture.publicClient())

            var document = read.object
            document["registration_access"] = .string("initial_access_token")
            let put = try await admin.put(path, document, headers: [.ifMatch: etag])
            #expect(put.status == .ok, "\(put.bodyText)")
            let newTag = try #require(put.header("ETag"))
            #expect(newTag != etag)
            #expect(put.object["registration_access"]?.stringValue == "initial_access_token")
            let again = try await admin.get(path)
            #expect(again.header("ETag") == newTag)
            #expect(again.object == put.object)

            let refused = try await AdminFixture.tryRegister(server, tenant, AdminFixture.publicClient())
            #expect(refused.status == .unauthorized, "registration now needs an initial access token: \(refused.status) \(refused.bodyText)")
            #expect(try await AdminFixture.clientCount(tenant) == 1)

            // Without If-Match the write is unconditional; omitted fields return to their defaults.
            let reset = try await admin.put(path, [:])
            #expect(reset.status == .ok)
            #expect(reset.object["registration_access"]?.stringValue == "open_for_trusted_redirects")
            #expect(reset.header("ETag") != newTag)
            _ = try await AdminFixture.register(server, tenant, AdminFixture.publicClient())
        }
    }

    @Test("Admin API: PUT of an invalid policy is 400 pointing at the field, and nothing changes")
    func putInvalidPolicy() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: key)
            let path = "/tenants/\(tenant.slug)/policy"
            let before = try await admin.get(path)
            let cases: [([String: JSONValue], String)] = [
                (["grant_types": .array([.string("refresh_token")])], "grant_types"),
                (["grant_types": .array([.string("authorization_code"), .string("password")])], "grant_types"),
                (["registration_access": .string("closed")], "registration_access"),
                (["allow_loopback_redirects": .string("yes")], "allow_loopback_redirects"),
                (["trusted_redirect_hosts": .array([.string("not a host")])], "trusted_redirect_hosts"),
                (["allowed_scopes": .array([.string("openid")]), "default_scopes": .array([.string("email")])], "default_scopes"),
                (["token_endpoint_auth_methods": .array([.string("none")]), "default_token_endpoint_auth_method": .string("client_secret_basic")],
                 "default_token_endpoint_auth_method"),
                (["client_secret_lifetime_seconds": .number(-1)], "client_secret_lifetime_seconds"),
                (["registration_access_token_grace_seconds": .number(100_000)], "registration_access_token_grace_seconds"),
                (["unknown_policy_field": .bool(true)], "unknown_policy_field"),
                (["software_statement_mode": .string("required")], "trusted_software_statement_issuers"),
                (["trusted_software_statement_issuers": .array([.object(["issuer": .string("https://i.example"), "jwks": .object(["keys": .array([])]),
                                                                         "extra": .bool(true)])])],
                 "trusted_software_statement_issuers[0].extra"),
            ]
            for (document, field) in cases {
                let reply = try await admin.put(path, document)
                let body = AdminProblem.expect(reply, .validation, field: field)
                #expect(body["detail"]?.stringValue?.hasPrefix(field) == true, "\(field): \(reply.bodyText)")
            }
            let after = try await admin.get(path)
            #expect(after.header("ETag") == before.header("ETag"))
            #expect(after.object == before.object)
        }
    }

    @Test("Admin API: PUT policy with a stale If-Match is 412")
    func putStaleIfMatch() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let keys = try await AdminFixture.createKeys([(.admin, tenant.id), (.admin, tenant.id)])
        try await AdminFixture.run { server in
            let alice = AdminCaller(server, key: keys[0].presented)
            let bob = AdminCaller(server, key: keys[1].presented)
            let path = "/tenants/\(tenant.slug)/policy"
            let aliceRead = try await alice.get(path)
            let bobRead = try await bob.get(path)
            #expect(aliceRead.header("ETag") == bobRead.header("ETag"))
            var aliceDocument = aliceRead.object
            aliceDocument["allow_private_use_schemes"] = .bool(false)
            #expect(try await alice.put(path, aliceDocument, headers: [.ifMatch: try #require(aliceRead.header("ETag"))]).status == .ok)
            var bobDocument = bobRead.object
            bobDocument["allow_loopback_redirects"] = .bool(false)
            AdminProblem.expect(try await bob.put(path, bobDocument, headers: [.ifMatch: try #require(bobRead.header("ETag"))]), .preconditionFailed)
            let now = try await bob.get(path)
            #expect(now.object["allow_private_use_schemes"] == .bool(false))
            #expect(now.object["allow_loopback_redirects"] == .bool(true), "the stale write was not applied")
            // An If-Match naming a version that never existed is stale as well.
            AdminProblem.expect(try await bob.put(path, bobDocument, headers: [.ifMatch: "\"999999\""]), .preconditionFailed)
        }
    }

    @Test("Admin API: the dry run accepts a registration and says whether it needs an initial access token")
    func evaluateAccepted() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.viewer, for: tenant)
        try await AdminFixture.run { server in
            let viewer = AdminCaller(server, key: key)
            let path = "/tenants/\(tenant.slug)/policy/evaluate"
            let loopback = try await viewer.post(path, ["registration": .object(AdminFixture.publicClient("Dry run"))])
            #expect(loopback.status == .ok, "\(loopback.bodyText)")
            #expect(loopback.header("Cache-Control") == "no-store")
            #expect(loopback.object["accepted"] == .bool(true))
            #expect(loopback.object["requires_initial_access_token"] == .bool(false))
            #expect(loopback.object["metadata"]?.objectValue?["client_name"]?.stringValue == "Dry run")
            #expect(loopback.object["metadata"]?.objectValue?["client_id"] == nil, "nothing was issued")
            #expect(loopback.object["error"] == nil)

            let untrusted: [String: JSONValue] = ["redirect_uris": .array([.string("https://app.example.com/cb")]),
                                                  "token_endpoint_auth_method": .string("client_secret_basic")]
            let needsToken = try await viewer.post(path, ["registration": .object(untrusted)])
            #expect(needsToken.object["accepted"] == .bool(true))
            #expect(needsToken.object["requires_initial_access_token"] == .bool(true))
            #expect(try await AdminFixture.clientCount(tenant) == 0, "the dry run creates no client")
        }
    }

    @Test("Admin API: the dry run refuses a registration with the RFC 7591 error and description")
    func evaluateRefused() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: key)
            let path = "/tenants/\(tenant.slug)/policy/evaluate"
            let badRedirect = try await admin.post(path, ["registration": .object([
                "redirect_uris": .array([.string("http://app.example.com/cb")]), "token_endpoint_auth_method": .string("none"),
            ])])
            #expect(badRedirect.status == .ok, "the evaluation itself succeeded: \(badRedirect.bodyText)")
            #expect(badRedirect.object["accepted"] == .bool(false))
            #expect(badRedirect.object["error"]?.stringValue == "invalid_redirect_uri")
            #expect(badRedirect.object["error_description"]?.stringValue?.isEmpty == false)
            #expect(badRedirect.object["requires_initial_access_token"] == nil)

            let badGrant = try await admin.post(path, ["registration": .object([
                "redirect_uris": .array([.string(AdminFixture.loopbackRedirect)]), "token_endpoint_auth_method": .string("none"),
                "grant_types": .array([.string("password")]),
            ])])
            #expect(badGrant.object["accepted"] == .bool(false))
            #expect(badGrant.object["error"]?.stringValue == "invalid_client_metadata")
            #expect(badGrant.object["error_description"]?.stringValue?.contains("grant_types") == true, "\(badGrant.bodyText)")

            // The real endpoint agrees.
            let real = try await AdminFixture.tryRegister(server, tenant, [
                "redirect_uris": .array([.string("http://app.example.com/cb")]), "token_endpoint_auth_method": .string("none"),
            ])
            #expect(real.object["error"] == badRedirect.object["error"])
            #expect(try await AdminFixture.clientCount(tenant) == 0)
        }
    }

    @Test("Admin API: the dry run evaluates against a proposed policy without storing it or any client")
    func evaluateProposedPolicy() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: key)
            let path = "/tenants/\(tenant.slug)/policy/evaluate"
            let before = try await admin.get("/tenants/\(tenant.slug)/policy")
            let registration: JSONValue = .object(["redirect_uris": .array([.string("https://app.example.com/cb")]),
                                                   "token_endpoint_auth_method": .string("client_secret_basic"), "scope": .string("openid profile")])
            let current = try await admin.post(path, ["registration": registration])
            #expect(current.object["accepted"] == .bool(true))
            #expect(current.object["requires_initial_access_token"] == .bool(true))

            let open = try await admin.post(path, ["registration": registration, "policy": .object(["registration_access": .string("open")])])
            #expect(open.status == .ok, "\(open.bodyText)")
            #expect(open.object["accepted"] == .bool(true))
            #expect(open.object["requires_initial_access_token"] == .bool(false))

            let strict = try await admin.post(path, ["registration": registration, "policy": .object([
                "allowed_scopes": .array([.string("openid")]), "default_scopes": .array([.string("openid")]), "unknown_scopes": .string("reject"),
            ])])
            #expect(strict.object["accepted"] == .bool(false))
            #expect(strict.object["error"]?.stringValue == "invalid_client_metadata", "\(strict.bodyText)")

            let invalid = try await admin.post(path, ["registration": registration, "policy": .object(["grant_types": .array([])])])
            AdminProblem.expect(invalid, .validation, field: "policy.grant_types")
            let unknown = try await admin.post(path, ["registration": registration, "policy": .object(["nope": .bool(true)])])
            AdminProblem.expect(unknown, .validation, field: "policy.nope")

            let after = try await admin.get("/tenants/\(tenant.slug)/policy")
            #expect(after.header("ETag") == before.header("ETag"), "the proposed policy was not stored")
            #expect(after.object == before.object)
            #expect(try await AdminFixture.clientCount(tenant) == 0)
            #expect(try await admin.get("/tenants/\(tenant.slug)/clients").adminItems.isEmpty)
        }
    }
}
