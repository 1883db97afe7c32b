import Foundation
import HTTPTypes
import JWTKit
import PostgresNIO
import Synchronization
import Testing
@testable import Registrar

/// The server's injectable clock (`AppOverrides.now`): tests move time forward instead of sleeping.
final class TestClock: Sendable {
    private let current: Mutex<Date>

    /// Starts now, on a whole second, so that instants survive PostgreSQL's microseconds exactly.
    init(_ start: Date = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))) {
        current = Mutex(start)
    }

    var now: Date { current.withLock { $0 } }

    func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }

    /// Server overrides that read this clock.
    var overrides: AppOverrides {
        var overrides = AppOverrides()
        overrides.now = { [self] in self.now }
        return overrides
    }
}

/// `Authorization: Bearer …`, or any raw Authorization value.
func authorization(_ value: String) -> HTTPFields { [.authorization: value] }
func bearer(_ token: String) -> HTTPFields { authorization("Bearer \(token)") }

/// A JSON object literal as a request body.
func jsonBody(_ object: [String: JSONValue]) -> String { JSONValue.object(object).encodedString() }

extension TestServer {
    func putJSON(_ path: String, _ body: String, host: String = TestServer.platformHost, headers: HTTPFields = [:]) async throws -> Reply {
        var headers = headers
        if headers[.contentType] == nil { headers[.contentType] = "application/json" }
        return try await request(.put, path, host: host, headers: headers, body: body)
    }

    func delete(_ path: String, host: String = TestServer.platformHost, headers: HTTPFields = [:]) async throws -> Reply {
        try await request(.delete, path, host: host, headers: headers)
    }

    /// Registers a client on a path-resolved tenant and requires 201.
    func register(_ tenant: Tenant, _ body: String, headers: HTTPFields = [:],
                  sourceLocation: SourceLocation = #_sourceLocation) async throws -> RegisteredReply {
        let reply = try await postJSON("/t/\(tenant.slug)/register", body, headers: headers)
        try #require(reply.status == .created, "registration refused: \(reply.status) \(reply.bodyText)", sourceLocation: sourceLocation)
        return try RegisteredReply(reply)
    }
}

/// What a 201 from the registration endpoint handed out.
struct RegisteredReply: Sendable {
    let clientID: String
    let registrationAccessToken: String
    /// The path of `registration_client_uri` (the tests reach it on the platform host).
    let path: String
    let clientSecret: String?
    let body: [String: JSONValue]

    init(_ reply: TestServer.Reply) throws {
        body = reply.object
        clientID = try #require(body["client_id"]?.stringValue)
        registrationAccessToken = try #require(body["registration_access_token"]?.stringValue)
        let uri = try #require(body["registration_client_uri"]?.stringValue)
        path = try #require(URL(string: uri)?.path)
        clientSecret = body["client_secret"]?.stringValue
    }
}

/// Direct reads and writes of the database, for arranging and checking what HTTP cannot show.
enum Stored {
    static func client(_ tenant: Tenant, _ clientID: String) async throws -> RegisteredClient? {
        try await TestEnvironment.withDatabase { database in
            try await PostgresClientRepository(database: database).find(tenantID: tenant.id, clientID: clientID)
        }
    }

    /// What a registration request may change, for "nothing changed" checks (usage bookkeeping such
    /// as the time of last use is left out: a refused request may still count as a use).
    struct Registration: Sendable, Equatable {
        let metadata: ClientMetadata
        let clientSecretHash: String?
        let clientSecretExpiresAt: Date?
        let registrationAccessTokenHash: String?
        let previousRegistrationAccessTokenHash: String?
        let previousRegistrationAccessTokenValidUntil: Date?
        let status: RegisteredClient.Status
        let updatedAt: Date
        let initialAccessTokenID: String?
        let softwareStatement: JSONValue?

        init(_ client: RegisteredClient) {
            metadata = client.metadata
            clientSecretHash = client.clientSecretHash
            clientSecretExpiresAt = client.clientSecretExpiresAt
            registrationAccessTokenHash = client.registrationAccessTokenHash
            previousRegistrationAccessTokenHash = client.previousRegistrationAccessTokenHash
            previousRegistrationAccessTokenValidUntil = client.previousRegistrationAccessTokenValidUntil
            status = client.status
            updatedAt = client.updatedAt
            initialAccessTokenID = client.initialAccessTokenID
            softwareStatement = client.softwareStatement
        }
    }

    static func registration(_ tenant: Tenant, _ clientID: String) async throws -> Registration? {
        try await client(tenant, clientID).map(Registration.init)
    }

    static func clientCount(_ tenant: Tenant) async throws -> Int {
        try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenant.id) { connection in
                try #require(try await connection.run("SELECT count(*)::integer FROM clients", logger: TestEnvironment.logger).first).decode(Int.self)
            }
        }
    }

    struct Event: Sendable, Equatable {
        let action: String
        let actorType: String
        let actorID: String?
        let clientID: String?
        let details: String
    }

    /// The tenant's audit events, oldest first.
    static func auditEvents(_ tenant: Tenant) async throws -> [Event] {
        try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenant.id) { connection in
                try await connection.run("""
                    SELECT action, actor_type, actor_id, client_id, details::text FROM audit_events
                    WHERE tenant_id = \(tenant.id) ORDER BY event_id
                    """, logger: TestEnvironment.logger)
                    .map { row in
                        let (action, actorType, actorID, clientID, details) = try row.decode((String, String, String?, String?, String).self)
                        return Event(action: action, actorType: actorType, actorID: actorID, clientID: clientID, details: details)
                    }
            }
        }
    }

    static func actions(_ tenant: Tenant, client clientID: String) async throws -> [String] {
        try await auditEvents(tenant).filter { $0.clientID == clientID }.map(\.action)
    }

    static func disable(_ tenant: Tenant, _ clientID: String) async throws {
        let updated = try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenant.id) { connection in
                try await connection.run("UPDATE clients SET status = 'disabled' WHERE client_id = \(clientID) RETURNING client_id",
                                         logger: TestEnvironment.logger).count
            }
        }
        try #require(updated == 1)
    }

    /// Replaces the tenant's policy, as a tenant admin would after clients registered.
    static func setPolicy(_ policy: RegistrationPolicy, for tenant: Tenant) async throws {
        try await TestEnvironment.withDatabase { database in
            _ = try await PostgresTenantRepository(database: database).setPolicy(policy, for: tenant.id)
        }
    }

    static func initialAccessToken(_ tenant: Tenant, _ id: String) async throws -> InitialAccessToken? {
        try await TestEnvironment.withDatabase { database in
            try await PostgresInitialAccessTokenRepository(database: database).find(tenantID: tenant.id, id: id)
        }
    }
}

/// Mints and revokes initial access tokens the way a tenant admin does, through the service.
enum InitialAccessTokens {
    static func mint(for tenant: Tenant, _ request: InitialAccessTokenService.Request = .init(),
                     now: @escaping @Sendable () -> Date = { Date() }) async throws -> (token: InitialAccessToken, presented: String) {
        try await TestEnvironment.withDatabase { database in
            let hasher = Argon2Hasher(parameters: .init(memoryKiB: 256, iterations: 1, parallelism: 1), threads: 1)
            let result: Result<(InitialAccessToken, String), any Error>
            do {
                let service = InitialAccessTokenService(hasher: hasher, tokens: PostgresInitialAccessTokenRepository(database: database),
                                                       tags: .development, now: now)
                result = .success(try await service.mint(for: tenant, request, actor: AuditEvent(action: "", actorType: .system, actorID: "test")))
            } catch {
                result = .failure(error)
            }
            try await hasher.shutdown()
            let (token, presented) = try result.get()
            return (token, presented)
        }
    }

    static func revoke(_ token: InitialAccessToken, at date: Date = Date()) async throws {
        let revoked = try await TestEnvironment.withDatabase { database in
            try await PostgresInitialAccessTokenRepository(database: database).revoke(
                tenantID: token.tenantID, id: token.id, at: date,
                audit: AuditEvent(action: "initial_access_token.revoked", actorType: .system, actorID: "test"))
        }
        try #require(revoked)
    }
}

/// Signs software statements as a trusted issuer would (RFC 7591 §2.3), and forges the ones it must not accept.
struct StatementIssuer: Sendable {
    let name: String
    let key: ES256PrivateKey

    init(name: String = "https://\(TestEnvironment.uniqueSlug("issuer")).example") {
        self.name = name
        self.key = ES256PrivateKey()
    }

    /// The public JWK Set a tenant policy lists for this issuer (no `kid`: the server names it).
    var jwks: JSONValue {
        let (x, y) = key.parameters!
        return .object(["keys": .array([.object(["kty": .string("EC"), "crv": .string("P-256"), "x": .string(x), "y": .string(y)])])])
    }

    var trusted: RegistrationPolicy.TrustedIssuer { .init(issuer: name, jwks: jwks) }

    /// An ES256 statement with `iss` set to this issuer (unless `claims` sets it).
    func sign(_ claims: [String: JSONValue]) async throws -> String {
        var claims = claims
        if claims["iss"] == nil { claims["iss"] = .string(name) }
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: key, kid: "statement-key")
        return try await keys.sign(StatementClaims(claims: claims), kid: "statement-key")
    }

    /// An HS256 statement whose MAC key is the issuer's public JWK Set: the classic algorithm confusion.
    func signHS256(_ claims: [String: JSONValue]) async throws -> String {
        var claims = claims
        if claims["iss"] == nil { claims["iss"] = .string(name) }
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: jwks.encodedString()), digestAlgorithm: .sha256, kid: "hmac")
        return try await keys.sign(StatementClaims(claims: claims), kid: "hmac")
    }

    /// `alg: none`, no signature.
    func unsigned(_ claims: [String: JSONValue]) -> String {
        var claims = claims
        if claims["iss"] == nil { claims["iss"] = .string(name) }
        return base64URL(JSONValue.object(["alg": .string("none"), "typ": .string("JWT")]).encoded()) + "."
            + base64URL(JSONValue.object(claims).encoded()) + "."
    }

    func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

/// Any claims, as JSON.
struct StatementClaims: JWTPayload {
    let claims: [String: JSONValue]

    init(claims: [String: JSONValue]) { self.claims = claims }
    init(from decoder: any Decoder) throws { claims = try [String: JSONValue](from: decoder) }
    func encode(to encoder: any Encoder) throws { try claims.encode(to: encoder) }
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
