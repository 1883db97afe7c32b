import Crypto
import Foundation
import HTTPTypes
@testable import Registrar

/// A path tenant with one client, one user signed in through a real session row, and helpers
/// that build authorization requests and read the redirects they answer with.
struct AuthorizeFixture: Sendable {
    let tenant: Tenant
    let clientID: String
    let user: User
    /// `Cookie` header of the user's session.
    let cookie: String
    let sessionHash: String

    var issuer: String { "http://localhost/t/\(tenant.slug)" }
    var prefix: String { "/t/\(tenant.slug)" }

    static let verifier = "dBjftJeZ4CVP-mJ92K1-5BN3oC8tB8-ycCHM0HmfBGyA2c3m"
    static var challenge: String {
        SecretGenerator.base64URL(SHA256.hash(data: Data(verifier.utf8)))
    }

    /// - Parameters:
    ///   - redirects: the client's registered redirect URIs.
    ///   - via: how the client was registered (`dcr` shows the "not verified" mark).
    static func make(
        policy: RegistrationPolicy? = nil, redirects: [String] = ["https://app.example.com/callback"],
        scope: [String] = ["openid", "profile"], grants: [GrantType] = [.authorizationCode, .refreshToken],
        via: RegisteredClient.Origin = .dcr, clientName: String = "Example <App>", signedIn: Bool = true, authTime: Date = Date()
    ) async throws -> AuthorizeFixture {
        let tenant = try await TestEnvironment.createTenant(policy: policy)
        let clientID = SecretGenerator.clientID()
        let user = User(tenantID: tenant.id, email: "ada-\(UUID().uuidString.prefix(8))@example.com", displayName: "Ada", createdAt: Date())
        let value = SecretGenerator.randomToken()
        try await TestEnvironment.withDatabase { database in
            let client = RegisteredClient(
                tenantID: tenant.id, clientID: clientID,
                metadata: ClientMetadata(redirectURIs: redirects, tokenEndpointAuthMethod: .none, grantTypes: grants, clientName: clientName, scope: scope),
                clientSecretHash: nil, clientSecretExpiresAt: nil, registrationAccessTokenHash: "unused", registeredVia: via,
                sourceAddress: nil, createdAt: Date())
            try await PostgresClientRepository(database: database).insert(client, audit: AuditEvent(action: "client.created", actorType: .system))
            try await PostgresUserRepository(database: database).insert(user, passwordHash: nil, audit: AuditEvent(action: "user.created", actorType: .system))
            if signedIn {
                try await PostgresSessionRepository(database: database).create(
                    hash: SessionStore.hash(value), user: user, tenant: tenant.id, authTime: authTime, at: Date(),
                    idle: 3600, absolute: 7200, replacing: nil)
            }
        }
        let name = SessionCookie(purpose: "session", issuer: "http://localhost/t/\(tenant.slug)").name
        return AuthorizeFixture(tenant: tenant, clientID: clientID, user: user, cookie: "\(name)=\(value)", sessionHash: SessionStore.hash(value))
    }

    /// A valid request with `changes` applied (nil removes a parameter) and `extra` appended.
    func query(_ changes: [String: String?] = [:], extra: [(String, String)] = []) -> String {
        var base: [(String, String?)] = [
            ("response_type", "code"), ("client_id", clientID), ("redirect_uri", "https://app.example.com/callback"),
            ("state", "st/+ =&ü"), ("code_challenge", Self.challenge), ("code_challenge_method", "S256"),
        ]
        for (name, value) in changes where !base.contains(where: { $0.0 == name }) { base.append((name, value)) }
        var parameters = FormParameters()
        for (name, value) in base {
            if let value = changes.keys.contains(name) ? changes[name]! : value { parameters.append(name, value) }
        }
        for (name, value) in extra { parameters.append(name, value) }
        return parameters.encoded
    }

    func authorize(_ server: TestServer, _ query: String, signedIn: Bool = true, cookie: String? = nil) async throws -> TestServer.Reply {
        var headers: HTTPFields = [:]
        if signedIn { headers[.cookie] = cookie ?? self.cookie }
        return try await server.get("\(prefix)/authorize?\(query)", headers: headers)
    }

    func postForm(_ server: TestServer, _ path: String, _ form: FormParameters, cookie: String? = nil) async throws -> TestServer.Reply {
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let cookie = cookie ?? Optional(self.cookie), !cookie.isEmpty { headers[.cookie] = cookie }
        return try await server.request(.post, "\(prefix)\(path)", headers: headers, body: form.encoded)
    }

    /// Submits the consent form the page rendered, as a browser would.
    func submitConsent(_ server: TestServer, page: TestServer.Reply, decision: String, cookie: String? = nil) async throws -> TestServer.Reply {
        let form = try Self.formFields(page.bodyText)
        var body = FormParameters()
        for (name, value) in form { body.append(name, value) }
        body.append("decision", decision)
        return try await postForm(server, "/authorize/consent", body, cookie: cookie)
    }

    /// The hidden fields of the page's form, HTML entities decoded.
    static func formFields(_ html: String) throws -> [(String, String)] {
        var fields: [(String, String)] = []
        var rest = Substring(html)
        while let start = rest.range(of: "<input type=\"hidden\" name=\"") {
            rest = rest[start.upperBound...]
            guard let nameEnd = rest.firstIndex(of: "\"") else { break }
            let name = String(rest[..<nameEnd])
            guard let valueStart = rest.range(of: "value=\"") else { break }
            rest = rest[valueStart.upperBound...]
            guard let valueEnd = rest.firstIndex(of: "\"") else { break }
            fields.append((name, unescape(String(rest[..<valueEnd]))))
            rest = rest[valueEnd...]
        }
        return fields
    }

    static func unescape(_ text: String) -> String {
        text.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&#x2F;", with: "/").replacingOccurrences(of: "&#x3D;", with: "=")
            .replacingOccurrences(of: "&#x60;", with: "`").replacingOccurrences(of: "&amp;", with: "&")
    }

    /// The query of a redirect's `Location`, decoded; nil when the reply is not a redirect to
    /// `redirectPrefix`.
    static func redirectQuery(_ reply: TestServer.Reply, to redirectPrefix: String = "https://app.example.com/callback?") -> FormParameters? {
        guard reply.status == .seeOther, let location = reply.header("Location"), location.hasPrefix(redirectPrefix) else { return nil }
        return FormParameters(encoded: location.dropFirst(redirectPrefix.count))
    }

    func grantRow() async throws -> ConsentGrant? {
        let (userID, clientID, tenantID) = (user.id, self.clientID, tenant.id)
        return try await TestEnvironment.withDatabase { database in
            try await PostgresConsentGrantRepository(database: database).find(userID: userID, clientID: clientID, tenantID: tenantID)
        }
    }

    func registerResource(_ uri: String, isDefault: Bool = false) async throws {
        let tenantID = tenant.id
        try await TestEnvironment.withDatabase { database in
            let server = ResourceServer(tenantID: tenantID, id: ResourceServer.generateID(), uri: try ResourceIndicator.registrable(uri),
                                        displayName: "MCP at \(uri)", scopes: [], isDefault: isDefault, credentialHash: "unused",
                                        credentialTag: nil, createdAt: Date(), updatedAt: Date())
            try await PostgresResourceServerRepository(database: database).create(server, audit: AuditEvent(action: "resource.created", actorType: .system))
        }
    }

    /// The stored code's bound resources and scopes, found by the code's hash.
    func storedCode(_ code: String) async throws -> (scopes: [String], resources: [String], nonce: String?, grantID: UUID?)? {
        let (tenantID, hash) = (tenant.id, OpaqueToken.hash(code))
        return try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenantID) { connection in
                try await connection.run("""
                    SELECT scopes, resources, nonce, grant_id FROM authorization_codes WHERE tenant_id = \(tenantID) AND code_hash = \(hash)
                    """, logger: database.logger).first.map { try $0.decode(([String], [String], String?, UUID?).self) }
            }
        }
    }
}
