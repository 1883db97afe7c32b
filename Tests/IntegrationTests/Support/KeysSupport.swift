import Foundation
import JWTKit
@testable import Registrar

/// Signing keys, token issuing and validation against the test database, with the test
/// server's key-encryption key, so that tokens made here are the server's own.
enum KeysSupport {
    /// A store with no cache (each call reads the database) unless a lifetime is given.
    static func store(_ database: Database, lifetime: Duration = .zero, now: @escaping @Sendable () -> Date = { Date() }) -> SigningKeyStore {
        SigningKeyStore(repository: PostgresSigningKeyRepository(database: database), encryption: TestServer.keyEncryptionKey,
                        lifetime: lifetime, now: now)
    }

    /// The tenant as a request under its path issuer on the test server's platform host sees it.
    static func resolved(_ tenant: Tenant) -> ResolvedTenant {
        ResolvedTenant(tenant: tenant, issuer: "http://localhost/t/\(tenant.slug)")
    }

    static func claims(subject: String = UUID().uuidString, clientID: String = "cl_test", audiences: [String] = ["https://mcp.example.com"],
                       scopes: [String] = ["openid", "email"], authTime: Date? = Date()) -> AccessTokenClaims {
        AccessTokenClaims(subject: subject, clientID: clientID, audiences: audiences, scopes: scopes, authTime: authTime)
    }

    /// jwt-kit loaded with the JWK Set the server publishes for `tenant`.
    static func publishedKeys(_ server: TestServer, _ tenant: Tenant) async throws -> JWTKeyCollection {
        let reply = try await server.get("/t/\(tenant.slug)/jwks.json")
        return try await JWTKeyCollection().add(jwksJSON: reply.bodyText)
    }

    static func header(_ token: String) -> [String: JSONValue] {
        CompactJWS.parse(token)?.header ?? [:]
    }

    static func payload(_ token: String) -> [String: JSONValue] {
        CompactJWS.parse(token)?.claims ?? [:]
    }
}

/// An RFC 9068 access token as a resource server using jwt-kit would read it.
struct RFC9068Payload: JWTPayload {
    let iss: IssuerClaim
    let sub: SubjectClaim
    let aud: AudienceClaim
    let client_id: String
    let scope: String?
    let exp: ExpirationClaim
    let iat: IssuedAtClaim
    let jti: IDClaim
    let auth_time: Int?

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}

/// An OIDC ID token as a relying party using jwt-kit would read it.
struct IDTokenPayload: JWTPayload {
    let iss: IssuerClaim
    let sub: SubjectClaim
    let aud: AudienceClaim
    let exp: ExpirationClaim
    let iat: IssuedAtClaim
    let at_hash: String
    let nonce: String?
    let auth_time: Int?

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}
