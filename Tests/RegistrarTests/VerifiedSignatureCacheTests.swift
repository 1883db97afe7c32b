import Crypto
import Foundation
import Testing
@testable import Registrar

/// The cache that lets a token introspected again skip its ECDSA verification: it must never
/// let through what verification would refuse.
@Suite("Verified signature cache")
struct VerifiedSignatureCacheTests {
    static let pair = ES256KeyPair.generate()
    static let name = "tenant/\(pair.kid)"

    static func token(_ subject: String = "alice") throws -> CompactJWS.Parsed {
        let token = try CompactJWS.sign(header: ["alg": .string("ES256"), "kid": .string(pair.kid)], claims: ["sub": .string(subject)], with: pair)
        return try #require(CompactJWS.parse(token))
    }

    @Test("A valid signature is verified and remembered once, however often it is asked about")
    func rememberedOnce() throws {
        let cache = VerifiedSignatureCache()
        let parsed = try Self.token()
        for _ in 0..<3 { #expect(cache.verify(parsed, with: Self.pair.privateKey.publicKey, named: Self.name)) }
        #expect(cache.count == 1)
    }

    @Test("A tampered signature is refused, and refused again, and never remembered")
    func tamperedSignature() throws {
        let cache = VerifiedSignatureCache()
        let good = try Self.token()
        #expect(cache.verify(good, with: Self.pair.privateKey.publicKey, named: Self.name))
        var bytes = [UInt8](good.signature)
        bytes[10] ^= 0x01
        let forged = CompactJWS.Parsed(header: good.header, claims: good.claims, signingInput: good.signingInput, signature: Data(bytes))
        #expect(!cache.verify(forged, with: Self.pair.privateKey.publicKey, named: Self.name))
        #expect(!cache.verify(forged, with: Self.pair.privateKey.publicKey, named: Self.name))
        #expect(cache.count == 1)
    }

    @Test("A remembered signature on other claims is refused (the signing input is part of the entry)")
    func otherSigningInput() throws {
        let cache = VerifiedSignatureCache()
        let good = try Self.token("alice")
        let other = try Self.token("mallory")
        #expect(cache.verify(good, with: Self.pair.privateKey.publicKey, named: Self.name))
        let spliced = CompactJWS.Parsed(header: other.header, claims: other.claims, signingInput: other.signingInput, signature: good.signature)
        #expect(!cache.verify(spliced, with: Self.pair.privateKey.publicKey, named: Self.name))
    }

    @Test("A signature remembered under one key is refused under another")
    func otherKey() throws {
        let cache = VerifiedSignatureCache()
        let parsed = try Self.token()
        #expect(cache.verify(parsed, with: Self.pair.privateKey.publicKey, named: Self.name))
        let other = ES256KeyPair.generate()
        #expect(!cache.verify(parsed, with: other.privateKey.publicKey, named: "tenant/\(other.kid)"))
    }

    @Test("The cache holds at most its capacity")
    func bounded() throws {
        let cache = VerifiedSignatureCache(capacity: 2)
        for subject in ["a", "b", "c", "d"] {
            #expect(cache.verify(try Self.token(subject), with: Self.pair.privateKey.publicKey, named: Self.name))
        }
        #expect(cache.count == 2)
    }
}
