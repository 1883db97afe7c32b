import Crypto
import Foundation
import Testing
@testable import Registrar

/// The ES256 compact JWS the access and ID tokens are made of, and the ID token's `at_hash`.
@Suite("Compact JWS and at_hash")
struct CompactJWSTests {
    @Test("OIDC Core §3.1.3.6: at_hash is the base64url left half of SHA-256 of the access token (the spec's example)")
    func atHashExample() {
        // OpenID Connect Core 1.0, Appendix A.3.
        #expect(AccessTokenIssuer.atHash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y") == "77QmUPtjPfzWtF2AnpK9RQ")
    }

    @Test("A signed token verifies with its key's public half and not with another key")
    func signAndVerify() throws {
        let pair = ES256KeyPair.generate()
        let token = try CompactJWS.sign(header: ["alg": .string("ES256"), "kid": .string(pair.kid)], claims: ["sub": .string("u")], with: pair)
        let parsed = try #require(CompactJWS.parse(token))
        #expect(parsed.header["kid"]?.stringValue == pair.kid)
        #expect(parsed.claims["sub"]?.stringValue == "u")
        #expect(parsed.signature.count == 64)
        #expect(CompactJWS.verify(parsed, with: pair.privateKey.publicKey))
        #expect(!CompactJWS.verify(parsed, with: ES256KeyPair.generate().privateKey.publicKey))
    }

    @Test("Changing any part of a signed token breaks its signature", arguments: [0, 1, 2])
    func tamperedPart(_ part: Int) throws {
        let pair = ES256KeyPair.generate()
        let token = try CompactJWS.sign(header: ["alg": .string("ES256")], claims: ["sub": .string("alice"), "scope": .string("read")], with: pair)
        var parts = token.split(separator: ".").map(String.init)
        let replacement = [
            SecretGenerator.base64URL(Data(#"{"alg":"ES256","x":1}"#.utf8)),
            SecretGenerator.base64URL(Data(#"{"scope":"admin","sub":"alice"}"#.utf8)),
            SecretGenerator.base64URL((try pair.privateKey.signature(for: Data("other".utf8))).rawRepresentation),
        ]
        parts[part] = replacement[part]
        let parsed = try #require(CompactJWS.parse(parts.joined(separator: ".")))
        #expect(!CompactJWS.verify(parsed, with: pair.privateKey.publicKey))
    }

    @Test("Anything that is not a compact JWS does not parse", arguments: [
        "", "a.b", "a.b.c.d", "e30.e30", "e30.e30.!!!", "e30.bm90IGpzb24.AA", "W10.e30.AA", String(repeating: "a", count: 9000),
    ])
    func malformed(_ token: String) {
        #expect(CompactJWS.parse(token) == nil)
    }

    @Test("RFC 7638: the kid is the JWK thumbprint of the public key, and the published JWK carries it")
    func thumbprint() throws {
        let pair = ES256KeyPair.generate()
        let jwk = try #require(pair.publicJWK.objectValue)
        #expect(jwk["kid"]?.stringValue == pair.kid)
        #expect(pair.kid.count == 43)
        #expect(jwk["d"] == nil)
        let canonical = #"{"crv":"P-256","kty":"EC","x":"\#(jwk["x"]!.stringValue!)","y":"\#(jwk["y"]!.stringValue!)"}"#
        #expect(pair.kid == SecretGenerator.base64URL(SHA256.hash(data: Data(canonical.utf8))))
        #expect(SigningKeyStore.publicKey(pair.publicJWK)?.rawRepresentation == pair.privateKey.publicKey.rawRepresentation)
    }
}
