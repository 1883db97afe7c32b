import Foundation
import HTTPTypes
import JWTKit
import PostgresNIO
import Testing
@testable import Registrar

/// The tenants' ES256 keys, the tokens signed with them and `/jwks.json`, over real PostgreSQL.
@Suite("Signing keys, access tokens, ID tokens and the JWKS")
struct SigningKeyTests {
    @Test("RFC 9068: an access token is a JWT with typ at+jwt and the required claims, and jwt-kit verifies it against /jwks.json")
    func accessTokenVerifiesAgainstJWKS() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let resolved = KeysSupport.resolved(tenant)
        let authTime = Date(timeIntervalSince1970: 1_790_000_000)
        let issued = try await TestEnvironment.withDatabase { database in
            try await AccessTokenIssuer(keys: KeysSupport.store(database)).accessToken(
                KeysSupport.claims(subject: "user-1", clientID: "cl_abc", scopes: ["openid", "profile"], authTime: authTime), tenant: resolved)
        }
        try await TestServer.run { server in
            let reply = try await server.get("/t/\(tenant.slug)/jwks.json", headers: [HTTPField.Name("Origin")!: "https://app.example"])
            #expect(reply.status == .ok)
            #expect(reply.header("Content-Type") == "application/json")
            #expect(reply.header("Cache-Control") == "public, max-age=300")
            #expect(reply.header("Access-Control-Allow-Origin") == "*")
            let keys = try await JWTKeyCollection().add(jwksJSON: reply.bodyText)
            let payload = try await keys.verify(issued.token, as: RFC9068Payload.self)
            #expect(payload.iss.value == resolved.issuer)
            #expect(payload.sub.value == "user-1")
            #expect(payload.aud.value == ["https://mcp.example.com"])
            #expect(payload.client_id == "cl_abc")
            #expect(payload.scope == "openid profile")
            #expect(payload.jti.value == issued.jti)
            #expect(payload.auth_time == 1_790_000_000)
            #expect(payload.exp.value == issued.expiresAt)
            #expect(issued.expiresIn == tenant.policy.authorizationServer.accessTokenLifetimeSeconds)
            #expect(issued.expiresAt.timeIntervalSince(payload.iat.value) == TimeInterval(issued.expiresIn))
            let header = KeysSupport.header(issued.token)
            #expect(header["typ"]?.stringValue == "at+jwt")
            #expect(header["alg"]?.stringValue == "ES256")
            let kid = try #require(header["kid"]?.stringValue)
            let published = reply.object["keys"]?.arrayValue?.compactMap(\.objectValue) ?? []
            #expect(published.count == 1)
            #expect(published.first?["kid"]?.stringValue == kid)
            #expect(published.first?["use"]?.stringValue == "sig")
            #expect(published.first?["alg"]?.stringValue == "ES256")
            #expect(published.first?["d"] == nil)
        }
    }

    @Test("RFC 7519 §4.1.3: aud is a string for one audience and an array for several; jti is unique and long")
    func audienceShapeAndJTI() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let resolved = KeysSupport.resolved(tenant)
        try await TestEnvironment.withDatabase { database in
            let issuer = AccessTokenIssuer(keys: KeysSupport.store(database, lifetime: .seconds(5)))
            let one = try await issuer.accessToken(KeysSupport.claims(audiences: ["https://a.example"]), tenant: resolved)
            let two = try await issuer.accessToken(KeysSupport.claims(audiences: ["https://a.example", "https://b.example"]), tenant: resolved)
            let none = try await issuer.accessToken(KeysSupport.claims(audiences: [], scopes: [], authTime: nil), tenant: resolved)
            #expect(KeysSupport.payload(one.token)["aud"] == .string("https://a.example"))
            #expect(KeysSupport.payload(two.token)["aud"] == .array([.string("https://a.example"), .string("https://b.example")]))
            // Without an audience the issuer itself is the audience; no empty scope, no auth_time.
            #expect(KeysSupport.payload(none.token)["aud"] == .string(resolved.issuer))
            #expect(KeysSupport.payload(none.token)["scope"] == nil)
            #expect(KeysSupport.payload(none.token)["auth_time"] == nil)
            #expect(Set([one.jti, two.jti, none.jti]).count == 3)
            #expect(one.jti.count >= 22)
        }
    }

    @Test("OIDC Core: the ID token has aud = client_id, the nonce as sent, at_hash of its access token, and verifies against /jwks.json")
    func idToken() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let resolved = KeysSupport.resolved(tenant)
        let (access, withNonce, withoutNonce) = try await TestEnvironment.withDatabase { database in
            let issuer = AccessTokenIssuer(keys: KeysSupport.store(database))
            let access = try await issuer.accessToken(KeysSupport.claims(subject: "user-2", clientID: "cl_rp"), tenant: resolved)
            let withNonce = try await issuer.idToken(IDTokenClaims(subject: "user-2", clientID: "cl_rp", authTime: Date(timeIntervalSince1970: 1_790_000_000),
                                                                   nonce: "n-0S6_WzA2Mj", email: "a@example.com", emailVerified: true),
                                                     accessToken: access.token, tenant: resolved)
            let withoutNonce = try await issuer.idToken(IDTokenClaims(subject: "user-2", clientID: "cl_rp"), accessToken: access.token, tenant: resolved)
            return (access, withNonce, withoutNonce)
        }
        try await TestServer.run { server in
            let keys = try await KeysSupport.publishedKeys(server, tenant)
            let payload = try await keys.verify(withNonce, as: IDTokenPayload.self)
            #expect(payload.iss.value == resolved.issuer)
            #expect(payload.sub.value == "user-2")
            #expect(payload.aud.value == ["cl_rp"])
            #expect(payload.nonce == "n-0S6_WzA2Mj")
            #expect(payload.auth_time == 1_790_000_000)
            #expect(payload.at_hash == AccessTokenIssuer.atHash(access.token))
            #expect(KeysSupport.payload(withNonce)["email"] == .string("a@example.com"))
            #expect(KeysSupport.payload(withNonce)["email_verified"] == .bool(true))
            #expect(try await keys.verify(withoutNonce, as: IDTokenPayload.self).nonce == nil)
            // An ID token is not an access token: its typ is not at+jwt.
            #expect(KeysSupport.header(withNonce)["typ"]?.stringValue != "at+jwt")
        }
    }

    @Test("The validator accepts the tenant's own access token and refuses tampered, expired, ID tokens, other issuers' and other tenants'")
    func validation() async throws {
        let tenantA = try await TestEnvironment.createTenant()
        let tenantB = try await TestEnvironment.createTenant()
        let (a, b) = (KeysSupport.resolved(tenantA), KeysSupport.resolved(tenantB))
        try await TestEnvironment.withDatabase { database in
            let store = KeysSupport.store(database, lifetime: .seconds(5))
            let issuer = AccessTokenIssuer(keys: store)
            let validator = AccessTokenValidator(keys: store)
            let token = try await issuer.accessToken(KeysSupport.claims(subject: "alice", clientID: "cl_x", scopes: ["openid", "email"]), tenant: a)
            let verified = try await validator.validate(token.token, tenant: a)
            #expect(verified.subject == "alice")
            #expect(verified.clientID == "cl_x")
            #expect(verified.scopes == ["openid", "email"])
            #expect(verified.jti == token.jti)
            #expect(verified.expiresAt == token.expiresAt)

            // Tenant B publishes other keys, and its issuer differs: A's token is nothing there.
            _ = try await issuer.accessToken(KeysSupport.claims(), tenant: b)
            await #expect(throws: AccessTokenValidator.Rejected.self) { try await validator.validate(token.token, tenant: b) }
            // The same tenant reached under another issuer (its custom domain) is another issuer.
            let otherIssuer = ResolvedTenant(tenant: tenantA, issuer: "https://auth.customer.test")
            await #expect(throws: AccessTokenValidator.Rejected.self) { try await validator.validate(token.token, tenant: otherIssuer) }

            var parts = token.token.split(separator: ".").map(String.init)
            var claims = KeysSupport.payload(token.token)
            claims["scope"] = .string("openid email admin")
            parts[1] = SecretGenerator.base64URL(JSONValue.object(claims).encoded())
            await #expect(throws: AccessTokenValidator.Rejected.self) { try await validator.validate(parts.joined(separator: "."), tenant: a) }

            let idToken = try await issuer.idToken(IDTokenClaims(subject: "alice", clientID: "cl_x"), accessToken: token.token, tenant: a)
            await #expect(throws: AccessTokenValidator.Rejected.self) { try await validator.validate(idToken, tenant: a) }

            let later = AccessTokenValidator(keys: store, now: { token.expiresAt.addingTimeInterval(1) })
            await #expect(throws: AccessTokenValidator.Rejected.self) { try await later.validate(token.token, tenant: a) }
            for garbage in ["", "not-a-jwt", "a.b.c", token.token + "x"] {
                await #expect(throws: AccessTokenValidator.Rejected.self) { try await validator.validate(garbage, tenant: a) }
            }
        }
    }

    @Test("A tenant's first token creates one key: instances racing on it agree, and the private key is stored sealed")
    func firstUseRace() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestEnvironment.withDatabase { database in
            // Separate stores with no cache stand for separate instances.
            let kids = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<6 { group.addTask { try await KeysSupport.store(database).signingKey(tenantID: tenant.id).kid } }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(kids.count == 1)
            let rows = try await PostgresSigningKeyRepository(database: database).all(tenantID: tenant.id)
            #expect(rows.map(\.kid) == Array(kids))
            let row = try #require(rows.first)
            #expect(row.publicJWK.objectValue?["d"] == nil)
            let raw = try TestServer.keyEncryptionKey.open(row.sealedPrivateKey, tenantID: tenant.id, kid: row.kid)
            #expect(raw.count == 32)
            #expect(row.sealedPrivateKey.range(of: raw) == nil)
        }
    }

    @Test("Row-level security: one tenant's transaction sees none of another tenant's keys, and its JWKS lists only its own")
    func tenantIsolation() async throws {
        let tenantA = try await TestEnvironment.createTenant()
        let tenantB = try await TestEnvironment.createTenant()
        let kidA = try await TestEnvironment.withDatabase { database in
            let store = KeysSupport.store(database)
            _ = try await store.signingKey(tenantID: tenantB.id)
            let kidA = try await store.signingKey(tenantID: tenantA.id).kid
            // Even a query that forgets its tenant filter sees only the transaction's tenant.
            let seen = try await database.withTenant(tenantB.id) { connection in
                try await connection.run("SELECT kid FROM signing_keys", logger: TestEnvironment.logger).map { try $0.decode(String.self) }
            }
            #expect(!seen.isEmpty)
            #expect(!seen.contains(kidA))
            let forged = try await database.withTenant(tenantB.id) { connection in
                try await connection.run("SELECT count(*)::int FROM signing_keys WHERE tenant_id = \(tenantA.id)", logger: TestEnvironment.logger)
                    .first.map { try $0.decode(Int.self) } ?? -1
            }
            #expect(forged == 0)
            return kidA
        }
        try await TestServer.run { server in
            let jwksB = try await server.get("/t/\(tenantB.slug)/jwks.json")
            let kidsB = jwksB.object["keys"]?.arrayValue?.compactMap { $0.objectValue?["kid"]?.stringValue } ?? []
            #expect(kidsB.count == 1)
            #expect(!kidsB.contains(kidA))
        }
    }

    @Test("The server refuses to start without a key-encryption key, naming REGISTRAR_KEY_ENCRYPTION_KEY")
    func refusesToStartWithoutKeyEncryptionKey() async throws {
        let config = try TestServer.config { $0.keyEncryptionKey = nil }
        let error = try #require(throws: ConfigError.self) {
            _ = try buildApplication(config: config, logger: TestEnvironment.logger)
        }
        #expect(error.description.contains("REGISTRAR_KEY_ENCRYPTION_KEY"))
    }

    @Test("A key sealed under another key-encryption key is refused as unusable, never used")
    func wrongKeyEncryptionKey() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestEnvironment.withDatabase { database in
            _ = try await KeysSupport.store(database).signingKey(tenantID: tenant.id)
            let other = SigningKeyStore(repository: PostgresSigningKeyRepository(database: database), encryption: .generate(), lifetime: .zero)
            await #expect(throws: SigningKeyStore.Unusable.self) { try await other.signingKey(tenantID: tenant.id) }
        }
    }

    @Test("RFC 7638: a published key stored under a kid that is not its thumbprint is not trusted (kids name keys in the signature cache)")
    func kidMustBeThumbprint() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestEnvironment.withDatabase { database in
            let real = try await KeysSupport.store(database).signingKey(tenantID: tenant.id)
            let other = ES256KeyPair.generate()
            let sealed = try TestServer.keyEncryptionKey.seal(other.rawPrivateKey, tenantID: tenant.id, kid: "not-a-thumbprint")
            let jwk = ES256KeyPair.publicJWK(other.privateKey.publicKey, kid: "not-a-thumbprint").encodedString()
            try await database.withTenant(tenant.id) { connection in
                try await connection.run("""
                    INSERT INTO signing_keys (tenant_id, kid, sealed_private_key, public_jwk, created_at, retired_at, publish_until)
                    VALUES (\(tenant.id), 'not-a-thumbprint', \(sealed), \(jwk)::jsonb, now() - interval '1 hour', now() - interval '1 hour', now() + interval '1 hour')
                    """, logger: TestEnvironment.logger)
            }
            let store = KeysSupport.store(database)
            #expect(try await store.verificationKey(tenantID: tenant.id, kid: "not-a-thumbprint") == nil)
            let own = try await store.verificationKey(tenantID: tenant.id, kid: real.kid)
            #expect(own?.rawRepresentation == real.privateKey.publicKey.rawRepresentation)
        }
    }

    @Test("/jwks.json of an unknown tenant is a 404")
    func unknownTenant() async throws {
        try await TestServer.run { server in
            let reply = try await server.get("/t/\(TestEnvironment.uniqueSlug("nobody"))/jwks.json")
            #expect(reply.status == .notFound)
        }
    }
}
