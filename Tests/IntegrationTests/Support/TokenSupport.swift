import Foundation
import HTTPTypes
import PostgresNIO
import Synchronization
import Testing
@testable import Registrar

/// Support for the token, revocation and introspection tests (`Token*Tests`): users, codes issued
/// the way `/authorize` issues them, form requests from a fresh address, resource servers.
/// Every name here starts with `Token` so that it cannot clash with other suites' support.
enum TokenFixture {
    static let publicRedirect = AdminFixture.loopbackRedirect
    static let confidentialRedirect = AdminFixture.trustedRedirect

    /// The path issuer of a tenant on the test server.
    static func issuer(_ tenant: Tenant) -> String { "http://localhost/t/\(tenant.slug)" }

    static func resolved(_ tenant: Tenant) -> ResolvedTenant { ResolvedTenant(tenant: tenant, issuer: issuer(tenant)) }

    /// A tenant whose policy has been adjusted by `change`.
    static func tenant(_ change: (inout RegistrationPolicy) -> Void = { _ in }) async throws -> Tenant {
        var policy = RegistrationPolicy()
        change(&policy)
        return try await TestEnvironment.createTenant(policy: policy)
    }

    // MARK: Clients

    /// A public client (`none`) that registered the code and refresh grants, as Claude Code does.
    static func publicClient(_ server: TestServer, _ tenant: Tenant, grants: [String] = ["authorization_code", "refresh_token"],
                             scope: String? = nil) async throws -> AdminRegistration {
        var body = AdminFixture.publicClient("Token test public client")
        body["grant_types"] = .array(grants.map(JSONValue.string))
        if let scope { body["scope"] = .string(scope) }
        return try await AdminFixture.register(server, tenant, body)
    }

    /// A confidential client with the given method, as claude.ai registers.
    static func confidentialClient(_ server: TestServer, _ tenant: Tenant, method: TokenEndpointAuthMethod = .clientSecretPost,
                                   grants: [String] = ["authorization_code", "refresh_token"], scope: String? = nil) async throws -> AdminRegistration {
        var body = AdminFixture.confidentialClient("Token test confidential client")
        body["token_endpoint_auth_method"] = .string(method.rawValue)
        body["grant_types"] = .array(grants.map(JSONValue.string))
        if let scope { body["scope"] = .string(scope) }
        return try await AdminFixture.register(server, tenant, body)
    }

    // MARK: Users and codes

    /// A user of the tenant, stored directly.
    static func createUser(_ tenant: Tenant, status: String = "active") async throws -> UUID {
        try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenant.id) { connection in
                try #require(try await connection.run("""
                    INSERT INTO users (tenant_id, email, display_name, email_verified, status)
                    VALUES (\(tenant.id), \(TestEnvironment.uniqueSlug("user") + "@example.com"), 'Token Test User', true, \(status))
                    RETURNING user_id
                    """, logger: TestEnvironment.logger).first).decode(UUID.self)
            }
        }
    }

    /// A PKCE pair (RFC 7636 §4.1–4.2).
    static func pkce() -> (verifier: String, challenge: String) {
        let verifier = SecretGenerator.randomToken() + "-._~" + SecretGenerator.randomToken().prefix(10)
        return (verifier, PKCE.challenge(for: verifier))
    }

    /// What a test code binds; every field defaulted to an ordinary request.
    struct Code: Sendable {
        var clientID: String
        var userID: UUID
        var grantID: UUID?
        var redirectURI: String
        var redirectURISent = true
        var verifier: String
        var challenge: String
        var scopes = ["openid", "email", "profile"]
        var resources: [String]
        var nonce: String? = "nonce-123"
        var authTime = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down) - 30)
    }

    static func code(for client: AdminRegistration, user: UUID, tenant: Tenant, redirect: String) -> Code {
        let (verifier, challenge) = pkce()
        return Code(clientID: client.clientID, userID: user, redirectURI: redirect, verifier: verifier, challenge: challenge,
                    resources: [issuer(tenant)])
    }

    /// Issues the code through `AuthorizationCodeService`, as `/authorize` does; `issuedAt`
    /// moves its clock (a code issued two minutes ago has expired).
    static func issue(_ code: Code, tenant: Tenant, issuedAt: Date = Date()) async throws -> String {
        try await TestEnvironment.withDatabase { database in
            if let grantID = code.grantID {
                // A code names a real grant (its foreign key): the one the user consented to.
                try await database.withTenant(tenant.id) { connection in
                    try await connection.run("""
                        INSERT INTO consent_grants (tenant_id, grant_id, user_id, client_id, scopes)
                        VALUES (\(tenant.id), \(grantID), \(code.userID), \(code.clientID), \(code.scopes))
                        ON CONFLICT DO NOTHING
                        """, logger: database.logger)
                }
            }
            let service = AuthorizationCodeService(codes: PostgresAuthorizationCodeRepository(database: database), now: { issuedAt })
            return try await service.issue(NewAuthorizationCode(
                clientID: code.clientID, userID: code.userID, grantID: code.grantID, redirectURI: code.redirectURI,
                redirectURISent: code.redirectURISent, codeChallenge: code.challenge, scopes: code.scopes, resources: code.resources,
                nonce: code.nonce, authTime: code.authTime), tenant: resolved(tenant))
        }
    }

    // MARK: Requests

    /// `application/x-www-form-urlencoded` of the pairs, in order (RFC 6749 Appendix B).
    static func form(_ pairs: [(String, String)]) -> String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._*")
        func encode(_ value: String) -> String {
            value.addingPercentEncoding(withAllowedCharacters: allowed)!.replacingOccurrences(of: "%20", with: "+")
        }
        return pairs.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
    }

    /// Basic credentials; `encoded` percent-encodes every character first (as RFC 6749 §2.3.1
    /// allows), otherwise they are sent raw (as the TypeScript SDK does).
    static func basic(_ id: String, _ secret: String, encodeEverything: Bool = false) -> String {
        func encode(_ value: String) -> String {
            encodeEverything ? value.utf8.map { String(format: "%%%02X", $0) }.joined() : value
        }
        return "Basic " + Data("\(encode(id)):\(encode(secret))".utf8).base64EncodedString()
    }

    /// POSTs a form to `{issuer}/{endpoint}` from a fresh address.
    static func post(_ server: TestServer, _ tenant: Tenant, _ endpoint: String, _ pairs: [(String, String)],
                     headers: HTTPFields = [:], contentType: String = "application/x-www-form-urlencoded", body: String? = nil) async throws -> TestServer.Reply {
        var headers = headers
        headers[.contentType] = contentType
        if headers[HTTPField.Name("X-Forwarded-For")!] == nil { headers[HTTPField.Name("X-Forwarded-For")!] = AdminFixture.randomAddress() }
        return try await server.request(.post, "/t/\(tenant.slug)/\(endpoint)", headers: headers, body: body ?? form(pairs))
    }

    /// The client's own credentials as form parameters (`none` and `client_secret_post`).
    static func credentials(_ client: AdminRegistration) -> [(String, String)] {
        [("client_id", client.clientID)] + (client.clientSecret.map { [("client_secret", $0)] } ?? [])
    }

    /// The code exchange of RFC 6749 §4.1.3 with the code's own verifier and redirect URI.
    static func exchange(_ server: TestServer, _ tenant: Tenant, _ client: AdminRegistration, code: String, _ bound: Code,
                         extra: [(String, String)] = []) async throws -> TestServer.Reply {
        try await post(server, tenant, "token", [("grant_type", "authorization_code"), ("code", code), ("code_verifier", bound.verifier),
                                                 ("redirect_uri", bound.redirectURI)] + credentials(client) + extra)
    }

    static func refresh(_ server: TestServer, _ tenant: Tenant, _ client: AdminRegistration, _ refreshToken: String,
                        extra: [(String, String)] = []) async throws -> TestServer.Reply {
        try await post(server, tenant, "token", [("grant_type", "refresh_token"), ("refresh_token", refreshToken)] + credentials(client) + extra)
    }

    /// Introspection by the (confidential) client that holds the token.
    static func introspect(_ server: TestServer, _ tenant: Tenant, _ client: AdminRegistration, _ token: String) async throws -> TestServer.Reply {
        try await post(server, tenant, "introspect", [("token", token)] + credentials(client))
    }

    /// Introspection by a resource server of the tenant whose audience is the issuer (the
    /// audience of the test codes), as an MCP server would ask.
    static func introspect(_ server: TestServer, _ tenant: Tenant, _ token: String) async throws -> TestServer.Reply {
        let (id, credential) = try await issuerResourceServer(tenant)
        return try await post(server, tenant, "introspect", [("token", token)], headers: [.authorization: basic(id, credential)])
    }

    static let issuerResourceServers = Mutex<[UUID: (id: String, credential: String)]>([:])

    static func issuerResourceServer(_ tenant: Tenant) async throws -> (id: String, credential: String) {
        if let known = issuerResourceServers.withLock({ $0[tenant.id] }) { return known }
        let (server, credential) = try await resourceServer(tenant, uri: issuer(tenant))
        issuerResourceServers.withLock { $0[tenant.id] = (server.id, credential) }
        return (server.id, credential)
    }

    /// A full exchange for a fresh user; returns the token response.
    static func tokens(_ server: TestServer, _ tenant: Tenant, _ client: AdminRegistration, redirect: String,
                       change: (inout Code) -> Void = { _ in }) async throws -> (response: [String: JSONValue], code: Code) {
        var bound = code(for: client, user: try await createUser(tenant), tenant: tenant, redirect: redirect)
        change(&bound)
        let value = try await issue(bound, tenant: tenant)
        let reply = try await exchange(server, tenant, client, code: value, bound)
        try #require(reply.status == .ok, "exchange refused: \(reply.status) \(reply.bodyText)")
        return (reply.object, bound)
    }

    /// The claims of a JWT, read without verification (the server verified them).
    static func claims(_ jwt: String) throws -> [String: JSONValue] {
        let parts = jwt.split(separator: ".")
        try #require(parts.count == 3)
        return try #require(SoftwareStatementVerifier.decodeSegment(parts[1]))
    }

    static func expectError(_ reply: TestServer.Reply, _ code: OAuthError.Code, _ status: HTTPResponse.Status? = nil,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(reply.status == (status ?? code.status), "\(reply.bodyText)", sourceLocation: sourceLocation)
        #expect(reply.object["error"] == .string(code.rawValue), "\(reply.bodyText)", sourceLocation: sourceLocation)
        #expect(reply.header("Cache-Control") == "no-store", sourceLocation: sourceLocation)
    }

    // MARK: Resource servers

    /// A resource server of the tenant with its presented credential.
    static func resourceServer(_ tenant: Tenant, uri: String, isDefault: Bool = false) async throws -> (server: ResourceServer, credential: String) {
        let credential = ResourceServer.generateCredential()
        let hash = try Argon2Hasher.hashSync(credential, parameters: .init(memoryKiB: 256, iterations: 1, parallelism: 1))
        let now = Date()
        let server = ResourceServer(tenantID: tenant.id, id: ResourceServer.generateID(), uri: try ResourceIndicator.registrable(uri),
                                    displayName: "Token test MCP server", scopes: ["mcp"], isDefault: isDefault, credentialHash: hash,
                                    credentialTag: TokenTagKey.development.tag(credential), createdAt: now, updatedAt: now)
        try await TestEnvironment.withDatabase { database in
            try await PostgresResourceServerRepository(database: database).create(
                server, audit: AuditEvent(action: "resource_server.created", actorType: .system))
        }
        return (server, credential)
    }

    /// Counts rows of `table` for the tenant matching `condition` (SQL text written by the test).
    static func count(_ tenant: Tenant, _ table: String, where condition: String = "true") async throws -> Int {
        try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenant.id) { connection in
                try #require(try await connection.run(PostgresQuery(unsafeSQL: "SELECT count(*)::integer FROM \(table) WHERE \(condition)"),
                                                      logger: TestEnvironment.logger).first).decode(Int.self)
            }
        }
    }

    /// Runs one statement for the tenant (arranging state the API cannot reach, such as age).
    static func execute(_ tenant: Tenant, _ sql: String) async throws {
        try await TestEnvironment.withDatabase { database in
            _ = try await database.withTenant(tenant.id) { connection in
                try await connection.run(PostgresQuery(unsafeSQL: sql), logger: TestEnvironment.logger)
            }
        }
    }
}
