import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// Every kind of problem the management API produces, in RFC 9457 form, and never a 500.
@Suite("Admin API: problems")
struct AdminProblemTests {
    @Test("Admin API: an unknown field is refused with 400 and invalid_params naming it")
    func unknownFieldRefused() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            let slug = TestEnvironment.uniqueSlug("adm")
            let create = try await admin.post("/tenants", ["slug": .string(slug), "colour": .string("red")])
            let body = AdminProblem.expect(create, .validation, field: "colour")
            #expect(body["detail"]?.stringValue?.contains("colour") == true)
            #expect(AdminProblem.invalidParamNames(create) == ["colour"])
            // Nothing was created.
            AdminProblem.expect(try await admin.get("/tenants/\(slug)"), .notFound)

            AdminProblem.expect(try await admin.patch("/tenants/\(tenant.slug)", ["name": .string("x")]), .validation, field: "name")
            AdminProblem.expect(try await admin.post("/tenants/\(tenant.slug)/keys", ["role": .string("viewer"), "scope": .string("all")]),
                                .validation, field: "scope")
            AdminProblem.expect(try await admin.post("/tenants/\(tenant.slug)/initial-access-tokens", ["uses": .number(3)]),
                                .validation, field: "uses")
            AdminProblem.expect(try await admin.post("/tenants/\(tenant.slug)/clients/authenticate",
                                                     ["client_id": .string("x"), "password": .string("y")]),
                                .validation, field: "password")
            AdminProblem.expect(try await admin.post("/tenants/\(tenant.slug)/policy/evaluate",
                                                     ["registration": .object([:]), "dry": .bool(true)]),
                                .validation, field: "dry")
            AdminProblem.expect(try await admin.put("/tenants/\(tenant.slug)/policy", ["registration_acess": .string("open")]),
                                .validation, field: "registration_acess")
        }
    }

    @Test("Admin API: a bad slug is refused with 400 naming slug")
    func badSlugRefused() async throws {
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            for slug in ["Upper-Case", "ab", "-leading", "trailing-", "under_score", "spa ce", String(repeating: "a", count: 64)] {
                let reply = try await admin.post("/tenants", ["slug": .string(slug)])
                AdminProblem.expect(reply, .validation, field: "slug")
            }
            AdminProblem.expect(try await admin.post("/tenants", ["slug": .number(42)]), .validation, field: "slug")
            AdminProblem.expect(try await admin.post("/tenants", ["display_name": .string("No slug")]), .validation, field: "slug")
        }
    }

    @Test("Admin API: an empty slug is refused naming slug (not the display_name the caller never sent)")
    func emptySlugRefused() async throws {
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            let reply = try await AdminCaller(server, key: platform).post("/tenants", ["slug": .string("")])
            AdminProblem.expect(reply, .validation, field: "slug")
            #expect(!AdminProblem.invalidParamNames(reply).contains("display_name"), "\(reply.bodyText)")
        }
    }

    @Test("Admin API: an initial access token lifetime beyond any date is a 400, not a crash of the server")
    func farFutureTokenLifetime() async {
        // In a child process: should the server crash, only the child dies.
        // A crash shows here as `.success → .signal(SIGILL …)`.
        await #expect(processExitsWith: .success) {
            let tenant = try await TestEnvironment.createTenant()
            let platform = try await AdminFixture.key(.platform)
            try await AdminFixture.run { server in
                let admin = AdminCaller(server, key: platform)
                for lifetime in [10_000_000_000_000.0, 8_000_000_000_000_000.0] {
                    let reply = try await admin.post("/tenants/\(tenant.slug)/initial-access-tokens", ["expires_in": .number(lifetime)])
                    struct Unexpected: Error { let reply: String }
                    guard reply.status == .badRequest, AdminProblem.invalidParamNames(reply) == ["expires_in"] else {
                        throw Unexpected(reply: "\(reply.status) \(reply.bodyText)")
                    }
                }
            }
        }
    }

    @Test("Admin API: a client secret lifetime beyond any date never crashes the server (refused by PUT policy, or harmless at the next secret)")
    func farFutureSecretLifetime() async {
        // In a child process: should the server crash, only the child dies.
        // A crash shows here as `.success → .signal(SIGILL …)`.
        await #expect(processExitsWith: .success) {
            struct Unexpected: Error { let step: String; let reply: String }
            let tenant = try await TestEnvironment.createTenant()
            let key = try await AdminFixture.key(.admin, for: tenant)
            try await AdminFixture.run { server in
                let admin = AdminCaller(server, key: key)
                let client = try await AdminFixture.register(server, tenant, AdminFixture.confidentialClient())
                let policy = try await admin.put("/tenants/\(tenant.slug)/policy", ["client_secret_lifetime_seconds": .number(10_000_000_000_000)])
                if policy.status == .badRequest, AdminProblem.invalidParamNames(policy) == ["client_secret_lifetime_seconds"] { return }
                guard policy.status == .ok else { throw Unexpected(step: "PUT policy", reply: "\(policy.status) \(policy.bodyText)") }
                // Accepted: then issuing a secret under it must still work.
                let rotated = try await admin.post("/tenants/\(tenant.slug)/clients/\(client.clientID)/secret")
                guard rotated.status.code < 500 else { throw Unexpected(step: "rotate", reply: "\(rotated.status) \(rotated.bodyText)") }
                let registered = try await AdminFixture.tryRegister(server, tenant, AdminFixture.confidentialClient())
                guard registered.status.code < 500 else { throw Unexpected(step: "register", reply: "\(registered.status) \(registered.bodyText)") }
            }
        }
    }

    @Test("Admin API: a bad limit is refused with 400 naming limit")
    func badLimitRefused() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            for path in ["/tenants", "/tenants/\(tenant.slug)/clients", "/tenants/\(tenant.slug)/audit"] {
                for limit in ["0", "-1", "201", "abc", "1.5", ""] {
                    AdminProblem.expect(try await admin.get("\(path)?limit=\(limit)"), .validation, field: "limit")
                }
                #expect(try await admin.get("\(path)?limit=200").status == .ok)
                #expect(try await admin.get("\(path)?limit=1").status == .ok)
            }
        }
    }

    @Test("Admin API: unknown tenants, clients, tokens, keys, domains and routes are 404 problems")
    func notFoundProblems() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            let base = "/tenants/\(tenant.slug)"
            let missing = [
                try await admin.get("/tenants/\(TestEnvironment.uniqueSlug("missing"))"),
                try await admin.get("/tenants/NOT_A_SLUG"),
                try await admin.get("\(base)/clients/no-such-client"),
                try await admin.post("\(base)/clients/no-such-client/disable"),
                try await admin.post("\(base)/clients/no-such-client/secret"),
                try await admin.delete("\(base)/clients/no-such-client"),
                try await admin.delete("\(base)/initial-access-tokens/NoSuchToken00000"),
                try await admin.delete("/keys/NoSuchKey0000000"),
                try await admin.delete("\(base)/domains/not-attached.customer.test"),
                try await admin.get("/no-such-route"),
            ]
            for reply in missing {
                AdminProblem.expect(reply, .notFound)
            }
            #expect(Set(missing.map(\.bodyText)).count == 1, "every 404 should be the same problem")
        }
    }

    @Test("Admin API: a write without the role is a 403 problem")
    func forbiddenProblem() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let viewer = try await AdminFixture.key(.viewer, for: tenant)
        try await AdminFixture.run { server in
            let caller = AdminCaller(server, key: viewer)
            let reply = try await caller.post("/tenants/\(tenant.slug)/initial-access-tokens", [:])
            let body = AdminProblem.expect(reply, .forbidden)
            #expect(body["detail"]?.stringValue?.contains("viewer") == true)
            #expect(reply.header("WWW-Authenticate") == nil, "a 403 is not an authentication challenge")
        }
    }

    @Test("Admin API: creating a tenant whose slug is taken is 409")
    func slugTakenConflict() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            let reply = try await admin.post("/tenants", ["slug": .string(tenant.slug), "display_name": .string("Impostor")])
            AdminProblem.expect(reply, .conflict)
            // The existing tenant is untouched.
            #expect(try await admin.get("/tenants/\(tenant.slug)").object["display_name"]?.stringValue == tenant.displayName)
        }
    }

    @Test("Admin API: a custom domain another tenant holds is 409")
    func domainTakenConflict() async throws {
        let domain = "\(TestEnvironment.uniqueSlug("adm")).customer.test"
        let owner = try await TestEnvironment.createTenant(domains: [domain])
        let other = try await TestEnvironment.createTenant()
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            AdminProblem.expect(try await admin.post("/tenants/\(other.slug)/domains", ["host": .string(domain)]), .conflict)
            AdminProblem.expect(try await admin.post("/tenants", ["slug": .string(TestEnvironment.uniqueSlug("adm")),
                                                                  "domains": .array([.string(domain)])]), .conflict)
            #expect(try await admin.get("/tenants/\(owner.slug)").object["domains"] == .array([.string(domain)]))
        }
    }

    @Test("Admin API: deleting a tenant that has clients without cascade is 409")
    func deleteWithClientsConflict() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            _ = try await AdminFixture.register(server, tenant, AdminFixture.publicClient())
            let admin = AdminCaller(server, key: platform)
            let reply = try await admin.delete("/tenants/\(tenant.slug)")
            let body = AdminProblem.expect(reply, .conflict)
            #expect(body["detail"]?.stringValue?.contains("cascade") == true)
            #expect(try await admin.get("/tenants/\(tenant.slug)").status == .ok)
            AdminProblem.expect(try await admin.delete("/tenants/\(tenant.slug)?cascade=false"), .conflict)
        }
    }

    @Test("Admin API: rotating the secret of a public client is 409")
    func rotatePublicClientConflict() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let client = try await AdminFixture.register(server, tenant, AdminFixture.publicClient())
            let admin = AdminCaller(server, key: key)
            let reply = try await admin.post("/tenants/\(tenant.slug)/clients/\(client.clientID)/secret")
            AdminProblem.expect(reply, .conflict)
            #expect(reply.object["client_secret"] == nil)
            let stored = try await admin.get("/tenants/\(tenant.slug)/clients/\(client.clientID)")
            #expect(stored.object["token_endpoint_auth_method"]?.stringValue == "none")
        }
    }

    @Test("Admin API: PATCH of a tenant with a stale If-Match is 412 and changes nothing")
    func staleIfMatchOnTenant() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            let path = "/tenants/\(tenant.slug)"
            let first = try #require(try await admin.get(path).header("ETag"))
            let updated = try await admin.patch(path, ["display_name": .string("First writer")], headers: [.ifMatch: first])
            #expect(updated.status == .ok, "\(updated.bodyText)")
            let second = try #require(updated.header("ETag"))
            #expect(second != first)
            let stale = try await admin.patch(path, ["display_name": .string("Second writer")], headers: [.ifMatch: first])
            AdminProblem.expect(stale, .preconditionFailed)
            let now = try await admin.get(path)
            #expect(now.object["display_name"]?.stringValue == "First writer")
            #expect(now.header("ETag") == second)
            // A weak form of the current tag is accepted; a malformed one is a 412 as well.
            #expect(try await admin.patch(path, ["display_name": .string("Weak")], headers: [.ifMatch: "W/\(second)"]).status == .ok)
            AdminProblem.expect(try await admin.patch(path, ["display_name": .string("Bad")], headers: [.ifMatch: "not-a-tag"]), .preconditionFailed)
        }
    }

    @Test("Admin API: PUT of a policy with a stale If-Match is 412 and changes nothing")
    func staleIfMatchOnPolicy() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: key)
            let path = "/tenants/\(tenant.slug)/policy"
            let read = try await admin.get(path)
            let etag = try #require(read.header("ETag"))
            var document = read.object
            document["allowed_scopes"] = .array([.string("openid"), .string("profile")])
            document["default_scopes"] = .array([.string("openid")])
            let first = try await admin.put(path, document, headers: [.ifMatch: etag])
            #expect(first.status == .ok, "\(first.bodyText)")
            document["allowed_scopes"] = .array([.string("openid")])
            let stale = try await admin.put(path, document, headers: [.ifMatch: etag])
            AdminProblem.expect(stale, .preconditionFailed)
            let now = try await admin.get(path)
            #expect(now.object["allowed_scopes"] == .array([.string("openid"), .string("profile")]))
            #expect(now.header("ETag") == first.header("ETag"))
        }
    }

    @Test("Admin API: a body that is not application/json is 415")
    func wrongContentType() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            let slug = TestEnvironment.uniqueSlug("adm")
            let json = JSONValue.object(["slug": .string(slug)]).encodedString()
            for contentType in ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", nil] as [String?] {
                let reply = try await admin.send(.post, "/tenants", raw: json, contentType: contentType)
                AdminProblem.expect(reply, .unsupportedMediaType)
            }
            AdminProblem.expect(try await admin.send(.put, "/tenants/\(tenant.slug)/policy", raw: "{}", contentType: "text/json"),
                                .unsupportedMediaType)
            AdminProblem.expect(try await admin.send(.post, "/tenants/\(tenant.slug)/initial-access-tokens", raw: "label=x",
                                                     contentType: "application/x-www-form-urlencoded"), .unsupportedMediaType)
            AdminProblem.expect(try await admin.get("/tenants/\(slug)"), .notFound)
            // Parameters on the media type are fine.
            let withCharset = try await admin.send(.post, "/tenants", raw: json, contentType: "application/json; charset=utf-8")
            #expect(withCharset.status == .created, "\(withCharset.bodyText)")
        }
    }

    @Test("Admin API: a body over 64 KiB is 413")
    func bodyTooLarge() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            let padding = String(repeating: "a", count: 64 * 1024 + 1)
            let slug = TestEnvironment.uniqueSlug("adm")
            let big = JSONValue.object(["slug": .string(slug), "display_name": .string(padding)]).encodedString()
            AdminProblem.expect(try await admin.send(.post, "/tenants", raw: big), .payloadTooLarge)
            let bigPolicy = JSONValue.object(["trusted_redirect_hosts": .array([.string(padding)])]).encodedString()
            AdminProblem.expect(try await admin.send(.put, "/tenants/\(tenant.slug)/policy", raw: bigPolicy), .payloadTooLarge)
            let bigAuthenticate = JSONValue.object(["client_id": .string(padding)]).encodedString()
            AdminProblem.expect(try await admin.send(.post, "/tenants/\(tenant.slug)/clients/authenticate", raw: bigAuthenticate),
                                .payloadTooLarge)
            AdminProblem.expect(try await admin.get("/tenants/\(slug)"), .notFound)
        }
    }

    @Test("Admin API: odd, hostile and malformed requests never get a 500")
    func neverAServerError() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            let client = try await AdminFixture.register(server, tenant, AdminFixture.confidentialClient())
            let base = "/tenants/\(tenant.slug)"
            func cursor(_ text: String) -> String { SecretGenerator.base64URL(Array(text.utf8)) }
            let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
            let cases: [(String, HTTPRequest.Method, String, String?)] = [
                ("not JSON", .post, "/tenants", "{slug:"),
                ("JSON array", .post, "/tenants", "[1,2,3]"),
                ("JSON string", .post, "/tenants", "\"slug\""),
                ("empty body", .post, "/tenants", ""),
                ("deep nesting", .post, "/tenants", "{\"slug\":\(deep)}"),
                ("domains not an array", .post, "/tenants", #"{"slug":"adm-never-created-1","domains":"a.test"}"#),
                ("domain not a host", .post, "/tenants", #"{"slug":"adm-never-created-2","domains":["not a host"]}"#),
                ("domain number", .post, "/tenants", #"{"slug":"adm-never-created-3","domains":[7]}"#),
                ("NUL in display name", .post, "/tenants", #"{"slug":"\#(TestEnvironment.uniqueSlug("adm"))","display_name":"a\u0000b"}"#),
                ("NUL in slug", .post, "/tenants", #"{"slug":"ab\u0000c"}"#),
                ("tenant cursor garbage", .get, "/tenants?cursor=%25%25%25", nil),
                ("tenant cursor with NUL", .get, "/tenants?cursor=\(cursor("\u{0}"))", nil),
                ("tenant cursor not UTF-8", .get, "/tenants?cursor=_w", nil),
                ("client cursor garbage", .get, "\(base)/clients?cursor=!!!", nil),
                ("client cursor far past", .get, "\(base)/clients?cursor=\(cursor("-9223372036854775808.x"))", nil),
                ("client cursor far future", .get, "\(base)/clients?cursor=\(cursor("9223372036854775807.x"))", nil),
                ("client cursor NUL id", .get, "\(base)/clients?cursor=\(cursor("1.\u{0}"))", nil),
                ("client date garbage", .get, "\(base)/clients?created_after=yesterday", nil),
                ("client date far future", .get, "\(base)/clients?created_before=99999-01-01T00:00:00Z", nil),
                ("client status garbage", .get, "\(base)/clients?status=gone", nil),
                ("client origin garbage", .get, "\(base)/clients?registered_via=fax", nil),
                ("NUL in name filter", .get, "\(base)/clients?name_contains=%00", nil),
                ("long name filter", .get, "\(base)/clients?name_contains=\(String(repeating: "x", count: 300))", nil),
                ("NUL in client id", .get, "\(base)/clients/%00", nil),
                ("audit cursor garbage", .get, "\(base)/audit?cursor=zzzz", nil),
                ("audit cursor huge", .get, "\(base)/audit?cursor=\(cursor("99999999999999999999999"))", nil),
                ("audit date garbage", .get, "\(base)/audit?since=now", nil),
                ("NUL in audit action", .get, "\(base)/audit?action=%00", nil),
                ("NUL in audit actor", .get, "\(base)/audit?actor=%00", nil),
                ("export date garbage", .get, "\(base)/audit/export?until=soon", nil),
                ("authenticate without client_id", .post, "\(base)/clients/authenticate", "{}"),
                ("authenticate numeric client_id", .post, "\(base)/clients/authenticate", #"{"client_id":5}"#),
                ("authenticate NUL client_id", .post, "\(base)/clients/authenticate", #"{"client_id":"a\u0000b"}"#),
                ("authenticate NUL secret", .post, "\(base)/clients/authenticate",
                 #"{"client_id":"\#(client.clientID)","client_secret":"a\u0000b"}"#),
                ("authenticate bad redirect", .post, "\(base)/clients/authenticate",
                 #"{"client_id":"\#(client.clientID)","client_secret":"\#(client.clientSecret ?? "")","redirect_uri":"::::"}"#),
                ("policy array", .put, "\(base)/policy", "[]"),
                ("policy wrong types", .put, "\(base)/policy", #"{"grant_types":"authorization_code","allowed_scopes":[1]}"#),
                ("policy NUL host", .put, "\(base)/policy", #"{"trusted_redirect_hosts":["a\u0000.test"]}"#),
                ("evaluate without registration", .post, "\(base)/policy/evaluate", "{}"),
                ("evaluate registration not object", .post, "\(base)/policy/evaluate", #"{"registration":[]}"#),
                ("evaluate NUL metadata", .post, "\(base)/policy/evaluate",
                 #"{"registration":{"client_name":"a\u0000b","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}}"#),
                ("tenant status garbage", .patch, base, #"{"status":"deleted"}"#),
                ("tenant empty name", .patch, base, #"{"display_name":""}"#),
                ("tenant NUL name", .patch, base, #"{"display_name":"a\u0000b"}"#),
                ("cascade garbage", .delete, "\(base)?cascade=maybe", nil),
                ("domain not a host", .post, "\(base)/domains", #"{"host":"not a host"}"#),
                ("domain NUL", .post, "\(base)/domains", #"{"host":"a\u0000b.test"}"#),
                ("domain missing", .post, "\(base)/domains", "{}"),
                ("remove NUL domain", .delete, "\(base)/domains/a%00b.test", nil),
                ("IAT negative lifetime", .post, "\(base)/initial-access-tokens", #"{"expires_in":-5}"#),
                ("IAT fractional uses", .post, "\(base)/initial-access-tokens", #"{"max_uses":1.5}"#),
                ("IAT huge lifetime", .post, "\(base)/initial-access-tokens", #"{"expires_in":1e300}"#),
                ("IAT max_uses beyond 32 bits", .post, "\(base)/initial-access-tokens", #"{"max_uses":3000000000}"#),
                ("IAT NUL label", .post, "\(base)/initial-access-tokens", #"{"label":"a\u0000b"}"#),
                ("IAT long label", .post, "\(base)/initial-access-tokens", #"{"label":"\#(String(repeating: "l", count: 201))"}"#),
                ("IAT bad constraints", .post, "\(base)/initial-access-tokens", #"{"constraints":{"nope":1}}"#),
                ("revoke NUL IAT", .delete, "\(base)/initial-access-tokens/%00", nil),
                ("key bad role", .post, "\(base)/keys", #"{"role":"root"}"#),
                ("key NUL label", .post, "\(base)/keys", #"{"role":"viewer","label":"a\u0000b"}"#),
                ("key long label", .post, "\(base)/keys", #"{"role":"viewer","label":"\#(String(repeating: "l", count: 201))"}"#),
                ("platform key bad role", .post, "/keys", #"{"role":"admin"}"#),
                ("revoke NUL key", .delete, "/keys/%00", nil),
                ("wrong method", .put, "/tenants", "{}"),
                ("prefix only", .get, "", nil),
                ("unknown route", .get, "/tenants/\(tenant.slug)/nothing-here", nil),
            ]
            var failures: [String] = []
            for (name, method, path, body) in cases {
                let reply = try await admin.send(method, path, raw: body, contentType: body == nil ? nil : "application/json")
                let isError = reply.status.code >= 400
                if reply.status.code >= 500 || (isError && reply.header("Content-Type") != "application/problem+json") {
                    failures.append("\(name): \(method) \(path) → \(reply.status.code) \(reply.header("Content-Type") ?? "-") \(reply.bodyText)")
                }
                #expect(reply.status.code < 500, "\(name): \(method) \(path) → \(reply.status.code) \(reply.bodyText)")
                if isError {
                    #expect(reply.header("Content-Type") == "application/problem+json", "\(name): \(reply.header("Content-Type") ?? "none")")
                }
            }
            #expect(failures.isEmpty, "\(failures.count) of \(cases.count) requests failed:\n\(failures.joined(separator: "\n"))")
            // The tenant and its client survived all of it.
            #expect(try await admin.get("/tenants/\(tenant.slug)/clients/\(client.clientID)").object["status"]?.stringValue == "active")
        }
    }
}
