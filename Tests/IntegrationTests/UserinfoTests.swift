import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// `GET`/`POST {issuer}/userinfo` (OIDC Core §5.3) with Bearer access tokens (RFC 6750).
@Suite("UserInfo endpoint")
struct UserinfoTests {
    static let authorization = HTTPField.Name.authorization

    /// A user of `tenant`, stored as the users' repository stores them.
    static func createUser(_ tenant: Tenant, email: String = "\(UUID().uuidString.prefix(8))@example.com", name: String = "Ada Lovelace",
                           verified: Bool = true) async throws -> User {
        try await TestEnvironment.withDatabase { database in
            let user = User(tenantID: tenant.id, email: email, displayName: name, emailVerified: verified, createdAt: Date())
            try await PostgresUserRepository(database: database).insert(user, passwordHash: nil,
                                                                        audit: AuditEvent(action: "user.created", actorType: .system, actorID: "test"))
            return user
        }
    }

    /// An access token of `tenant` for `subject`, signed with the tenant's key as /token signs them.
    static func token(_ tenant: Tenant, subject: String, scopes: [String]) async throws -> IssuedAccessToken {
        try await TestEnvironment.withDatabase { database in
            try await AccessTokenIssuer(keys: KeysSupport.store(database)).accessToken(
                KeysSupport.claims(subject: subject, clientID: "cl_userinfo", scopes: scopes), tenant: KeysSupport.resolved(tenant))
        }
    }

    static func bearer(_ token: String) -> HTTPFields { [authorization: "Bearer \(token)"] }

    @Test("OIDC Core §5.3.2: sub always; email and email_verified with the email scope; name with profile; GET and POST alike",
          arguments: [(["openid"], ["sub"]), (["openid", "email"], ["sub", "email", "email_verified"]),
                      (["openid", "profile"], ["sub", "name"]), (["openid", "profile", "email"], ["sub", "name", "email", "email_verified"])])
    func claimsPerScope(scopes: [String], expected: [String]) async throws {
        let tenant = try await TestEnvironment.createTenant()
        let user = try await Self.createUser(tenant)
        let subject = user.id.uuidString.lowercased()
        let token = try await Self.token(tenant, subject: subject, scopes: scopes)
        try await TestServer.run { server in
            let get = try await server.get("/t/\(tenant.slug)/userinfo", headers: Self.bearer(token.token))
            let post = try await server.request(.post, "/t/\(tenant.slug)/userinfo", headers: Self.bearer(token.token))
            for reply in [get, post] {
                #expect(reply.status == .ok)
                #expect(reply.header("Cache-Control") == "no-store")
                #expect(Set(reply.object.keys) == Set(expected))
                #expect(reply.object["sub"] == .string(subject))
                if expected.contains("email") {
                    #expect(reply.object["email"] == .string(user.email))
                    #expect(reply.object["email_verified"] == .bool(true))
                }
                if expected.contains("name") { #expect(reply.object["name"] == .string("Ada Lovelace")) }
            }
        }
    }

    @Test("RFC 6750 §2.2: POST may carry the token in a form body, but never in two places at once")
    func formBodyToken() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let user = try await Self.createUser(tenant)
        let token = try await Self.token(tenant, subject: user.id.uuidString.lowercased(), scopes: ["openid"])
        try await TestServer.run { server in
            let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
            let body = try await server.request(.post, "/t/\(tenant.slug)/userinfo", headers: form, body: "access_token=\(token.token)")
            #expect(body.status == .ok)
            #expect(body.object["sub"] == .string(user.id.uuidString.lowercased()))
            var both = form
            both[Self.authorization] = "Bearer \(token.token)"
            let twice = try await server.request(.post, "/t/\(tenant.slug)/userinfo", headers: both, body: "access_token=\(token.token)")
            #expect(twice.status == .badRequest)
            #expect(twice.object["error"] == .string("invalid_request"))
            #expect(twice.header("WWW-Authenticate")?.contains("error=\"invalid_request\"") == true)
        }
    }

    @Test("OIDC Core §5.3.1 / RFC 6750 §3.1: a token without openid is 403 insufficient_scope naming the scope")
    func refusedWithoutOpenID() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let user = try await Self.createUser(tenant)
        let token = try await Self.token(tenant, subject: user.id.uuidString.lowercased(), scopes: ["email", "profile"])
        try await TestServer.run { server in
            let reply = try await server.get("/t/\(tenant.slug)/userinfo", headers: Self.bearer(token.token))
            #expect(reply.status == .forbidden)
            #expect(reply.object["error"] == .string("insufficient_scope"))
            let challenge = try #require(reply.header("WWW-Authenticate"))
            #expect(challenge.hasPrefix("Bearer realm=\"http://localhost/t/\(tenant.slug)\""))
            #expect(challenge.contains("error=\"insufficient_scope\""))
            #expect(challenge.contains("scope=\"openid\""))
            #expect(reply.object["email"] == nil)
        }
    }

    @Test("A revoked access token is refused at once (its jti is on the revocation list)")
    func refusedWhenRevoked() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let user = try await Self.createUser(tenant)
        let token = try await Self.token(tenant, subject: user.id.uuidString.lowercased(), scopes: ["openid", "email"])
        try await TestServer.run { server in
            #expect(try await server.get("/t/\(tenant.slug)/userinfo", headers: Self.bearer(token.token)).status == .ok)
            try await TestEnvironment.withDatabase { database in
                try await database.withTenant(tenant.id) { connection in
                    try await connection.run("""
                        INSERT INTO access_token_revocations (tenant_id, jti, expires_at) VALUES (\(tenant.id), \(token.jti), \(token.expiresAt))
                        """, logger: TestEnvironment.logger)
                }
            }
            let reply = try await server.get("/t/\(tenant.slug)/userinfo", headers: Self.bearer(token.token))
            #expect(reply.status == .unauthorized)
            #expect(reply.object["error"] == .string("invalid_token"))
            #expect(reply.header("WWW-Authenticate")?.contains("error=\"invalid_token\"") == true)
        }
    }

    @Test("Tenant isolation: tenant B's token, for a user of B, is refused at tenant A")
    func otherTenantsTokenRefused() async throws {
        let tenantA = try await TestEnvironment.createTenant()
        let tenantB = try await TestEnvironment.createTenant()
        let userB = try await Self.createUser(tenantB)
        let tokenB = try await Self.token(tenantB, subject: userB.id.uuidString.lowercased(), scopes: ["openid", "email"])
        // Tenant A has keys of its own, so the refusal is not for want of any key.
        _ = try await Self.token(tenantA, subject: "someone", scopes: ["openid"])
        try await TestServer.run { server in
            #expect(try await server.get("/t/\(tenantB.slug)/userinfo", headers: Self.bearer(tokenB.token)).status == .ok)
            let reply = try await server.get("/t/\(tenantA.slug)/userinfo", headers: Self.bearer(tokenB.token))
            #expect(reply.status == .unauthorized)
            #expect(reply.object["error"] == .string("invalid_token"))
            #expect(reply.object["email"] == nil)
        }
    }

    @Test("RFC 6750 §3.1: no token is 401 with a bare challenge; malformed, expired-user and non-user tokens are invalid_token")
    func otherRefusals() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let user = try await Self.createUser(tenant)
        let clientToken = try await Self.token(tenant, subject: "cl_machine", scopes: ["openid"])
        let goneUser = try await Self.token(tenant, subject: UUID().uuidString.lowercased(), scopes: ["openid"])
        let disabledToken = try await Self.token(tenant, subject: user.id.uuidString.lowercased(), scopes: ["openid"])
        try await TestEnvironment.withDatabase { database in
            _ = try await PostgresUserRepository(database: database).setStatus(id: user.id, tenant: tenant.id, status: .disabled, at: Date(),
                                                                               audit: AuditEvent(action: "user.disabled", actorType: .system, actorID: "test"))
        }
        try await TestServer.run { server in
            let none = try await server.get("/t/\(tenant.slug)/userinfo")
            #expect(none.status == .unauthorized)
            #expect(none.header("WWW-Authenticate") == "Bearer realm=\"http://localhost/t/\(tenant.slug)\"")
            for token in ["garbage", clientToken.token, goneUser.token, disabledToken.token] {
                let reply = try await server.get("/t/\(tenant.slug)/userinfo", headers: Self.bearer(token))
                #expect(reply.status == .unauthorized)
                #expect(reply.object["error"] == .string("invalid_token"))
                #expect(reply.header("WWW-Authenticate")?.contains("error=\"invalid_token\"") == true)
            }
            let basic = try await server.get("/t/\(tenant.slug)/userinfo", headers: [Self.authorization: "Basic Zm9vOmJhcg=="])
            #expect(basic.status == .badRequest)
        }
    }
}
