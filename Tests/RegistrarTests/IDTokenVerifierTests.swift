import Foundation
import Testing
@testable import Registrar

/// OpenID Connect Core 1.0 §3.1.3.7: the checks on an upstream provider's ID token.
@Suite("Upstream ID tokens")
struct IDTokenVerifierTests {
    static let issuer = "https://idp.example/t/acme"
    static let clientID = "cl_upstreamclient0000000001"
    static let nonce = "n-0S6_WzA2Mj"
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let key = ES256KeyPair.generate()
    static let otherKey = ES256KeyPair.generate()
    static var keys: JSONValue { .object(["keys": .array([key.publicJWK])]) }

    static func token(_ changes: [String: JSONValue?] = [:], key: ES256KeyPair = key, header: [String: JSONValue?] = [:]) throws -> String {
        let clock = now.timeIntervalSince1970
        var claims: [String: JSONValue] = [
            "iss": .string(issuer), "sub": .string("upstream-subject"), "aud": .string(clientID),
            "exp": .number(clock + 300), "iat": .number(clock - 5), "nonce": .string(nonce),
        ]
        for (name, value) in changes { claims[name] = value }
        var head: [String: JSONValue] = ["alg": .string("ES256"), "typ": .string("JWT"), "kid": .string(key.kid)]
        for (name, value) in header { head[name] = value }
        return try CompactJWS.sign(header: head, claims: claims, with: key)
    }

    static func verify(_ token: String, issuer: String = issuer, nonce: String = nonce) async -> String? {
        do {
            _ = try await IDTokenVerifier(issuer: issuer, clientID: clientID).verify(token, keys: keys, nonce: nonce, now: now)
            return nil
        } catch {
            return error.description
        }
    }

    @Test("A token of the provider, for this client, fresh, with the sign-in's nonce, verifies")
    func valid() async throws {
        #expect(await Self.verify(try Self.token()) == nil)
        // Several audiences with azp naming this client.
        #expect(await Self.verify(try Self.token(["aud": .array([.string(Self.clientID), .string("other")]), "azp": .string(Self.clientID)])) == nil)
    }

    static let refusals: [(String, [String: JSONValue?], String)] = [
        ("another issuer", ["iss": .string("https://evil.example")], "iss"),
        ("no issuer", ["iss": nil], "iss"),
        ("another audience", ["aud": .string("cl_someoneelse")], "aud"),
        ("several audiences without azp", ["aud": .array([.string(clientID), .string("other")])], "azp"),
        ("azp of another client", ["azp": .string("other")], "azp"),
        ("expired", ["exp": .number(now.timeIntervalSince1970 - 600)], "expired"),
        ("no exp", ["exp": nil], "expired"),
        ("iat in the future", ["iat": .number(now.timeIntervalSince1970 + 3600)], "iat"),
        ("iat long ago", ["iat": .number(now.timeIntervalSince1970 - 7200)], "iat"),
        ("another nonce", ["nonce": .string("replayed")], "nonce"),
        ("no nonce", ["nonce": nil], "nonce"),
        ("no subject", ["sub": nil], "sub"),
    ]

    @Test("§3.1.3.7: wrong issuer, audience, azp, expiry, iat, nonce or subject is refused", arguments: refusals)
    func claimRules(_ name: String, _ changes: [String: JSONValue?], _ rule: String) async throws {
        let refusal = await Self.verify(try Self.token(changes))
        #expect(refusal?.contains(rule) == true, "\(name): \(refusal ?? "accepted")")
    }

    @Test("Signed by a key the provider does not publish, with none or HS256: refused")
    func signatureRules() async throws {
        #expect(await Self.verify(try Self.token(key: Self.otherKey))?.contains("signature") == true)
        let valid = try Self.token().split(separator: ".")
        let unsigned = try Self.token(header: ["alg": .string("none")]).split(separator: ".")
        #expect(await Self.verify("\(unsigned[0]).\(unsigned[1]).") != nil)
        #expect(await Self.verify(try Self.token(header: ["alg": .string("HS256")]))?.contains("algorithm") == true)
        // A valid signature over other claims.
        let tampered = try Self.token(["sub": .string("someone-else")]).split(separator: ".")
        #expect(await Self.verify("\(valid[0]).\(tampered[1]).\(valid[2])")?.contains("signature") == true)
    }

    @Test("Entra's multi-tenant issuer: {tenantid} is the token's tid, and a token without one matches nothing")
    func tenantPlaceholder() async throws {
        let template = "https://login.example/{tenantid}/v2.0"
        let tid = "9188040d-6c67-4c5b-b112-36a304b66dad"
        let good = try Self.token(["iss": .string("https://login.example/\(tid)/v2.0"), "tid": .string(tid)])
        #expect(await Self.verify(good, issuer: template) == nil)
        let mismatch = try Self.token(["iss": .string("https://login.example/\(tid)/v2.0"), "tid": .string("another-tenant")])
        #expect(await Self.verify(mismatch, issuer: template)?.contains("iss") == true)
        let without = try Self.token(["iss": .string(template)])
        #expect(await Self.verify(without, issuer: template)?.contains("iss") == true)
        #expect(UpstreamProviders.isEntraTemplate(template, for: "https://login.example/organizations/v2.0"))
        #expect(!UpstreamProviders.isEntraTemplate(template, for: "https://login.example/contoso/v2.0"))
    }

    static let inputRefusals: [(String, [String: JSONValue], String)] = [
        ("no id", [:], "id"),
        ("an id with capitals", ["id": .string("Entra")], "id"),
        ("an http issuer", ["issuer": .string("http://idp.example")], "issuer"),
        ("an issuer with a trailing slash", ["issuer": .string("https://idp.example/")], "issuer"),
        ("an issuer with a query", ["issuer": .string("https://idp.example/?x=1")], "issuer"),
        ("no secret", ["client_secret": .string("")], "client_secret"),
        ("scopes not tokens", ["scopes": .array([.string("a b")])], "scopes"),
        ("a bad domain", ["allowed_email_domains": .array([.string("not a domain")])], "allowed_email_domains"),
        ("an unknown claim", ["claims": .object(["role": .string("roles")])], "claims.role"),
        ("local_passwords not a boolean", ["local_passwords": .string("no")], "local_passwords"),
        ("an unknown member", ["surprise": .bool(true)], "surprise"),
    ]

    @Test("Admin input: each member checked, each refusal naming its member", arguments: inputRefusals)
    func providerInput(_ name: String, _ changes: [String: JSONValue], _ field: String) {
        var body: [String: JSONValue] = ["id": .string("entra"), "display_name": .string("Contoso"), "issuer": .string("https://idp.example"),
                                         "client_id": .string("client"), "client_secret": .string("secret")]
        if name == "no id" { body["id"] = nil }
        for (member, value) in changes { body[member] = value }
        do {
            _ = try IdentityProvider.input(body)
            Issue.record("\(name): accepted")
        } catch {
            #expect(error.field == field, "\(name)")
        }
    }

    @Test("Admin input: openid is always asked for, duplicates go, domains are lower-cased")
    func providerInputDefaults() throws {
        let input = try IdentityProvider.input(["id": .string("entra"), "display_name": .string("Contoso"), "issuer": .string("https://idp.example"),
                                                "client_id": .string("client"), "client_secret": .string("secret"),
                                                "scopes": .array([.string("email"), .string("email"), .string("offline_access")]),
                                                "allowed_email_domains": .array([.string("Contoso.COM")])])
        #expect(input.scopes == ["openid", "email", "offline_access"])
        #expect(input.allowedEmailDomains == ["contoso.com"])
        let provider = IdentityProvider(tenantID: UUID(), id: "x", displayName: "X", issuer: "https://x", clientID: "c", sealedSecret: Data(),
                                        scopes: ["openid"], allowedEmailDomains: input.allowedEmailDomains, createdAt: Date())
        #expect(provider.allows(email: "ada@CONTOSO.com") && !provider.allows(email: "ada@evil.example") && !provider.allows(email: "nobody"))
        #expect(provider.json.objectValue?["client_secret"] == nil)
    }
}
