import Foundation
import Testing
@testable import Registrar

/// Keys a client or a trusted issuer submits are checked for a usable shape and loaded when they
/// are submitted (RFC 7517, RFC 7518 §6, RFC 8037), so a key that cannot be used is a 400 there.
@Suite("JWK shapes and loading")
struct PublicJWKTests {
    typealias Keys = ClientMetadataValidatorTests

    static func ec(_ curve: String, _ x: String, _ y: String) -> JSONValue {
        .object(["kty": .string("EC"), "crv": .string(curve), "x": .string(x), "y": .string(y)])
    }

    /// The generator points of the NIST curves: valid public keys anyone can write down.
    static let p256 = ec("P-256", "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY", "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU")
    static let p384 = ec("P-384", "qofKIr6LBTeOscce8yCtdG4dO2KLp5uYWfdB4IJUKjhVAvJdv1UpbDpUXjhydgq3",
                         "NhfeSpYmLG9dnpi_kpLcKfj0Hb0omhR86doxE7XwuMAKYLHOHX6BnXpDHXyQ6g5f")
    static let p521 = ec("P-521", "AMaFjga3BATpzZ4-y2YjlbRCnGSBOQU_tSH4KK9ga009uqFLXnfv51ko_h3BJ6L_qN4zSLPBhWpCm_l-fjHC5b1m",
                         "ARg5KWp4mjvABFyKX7QsfRvZmPVESVebRGgXr70XJz5mLJfucple9CZAxVC5AT-tB2E1PHCGonLCQIi-lHaf0WZQ")

    static func rsa(n: String, e: String = "AQAB") -> JSONValue {
        .object(["kty": .string("RSA"), "n": .string(n), "e": .string(e)])
    }

    static func registration(_ keys: JSONValue...) -> [String: JSONValue] {
        Fixture.request(["token_endpoint_auth_method": .string("private_key_jwt"), "jwks": .object(["keys": .array(keys)])])
    }

    @Test("Keys of every supported shape load", arguments: [Keys.rsaKey, Keys.ecKey, Keys.okpKey, p256, p384, p521])
    func supportedKeysLoad(_ key: JSONValue) throws {
        _ = try PublicJWK(key)
        #expect(Fixture.error(Self.registration(key)) == nil)
    }

    @Test("Unusable keys are refused at registration with invalid_client_metadata", arguments: [
        // RSA modulus of 1032 and of 10272 bits; an even exponent; exponent 1; n not base64url.
        rsa(n: String(repeating: "_", count: 172)),
        rsa(n: String(repeating: "_", count: 1712)),
        rsa(n: String(repeating: "_", count: 344), e: "AQAA"),
        rsa(n: String(repeating: "_", count: 344), e: "AQ"),
        rsa(n: "not base64url!"),
        // An EC point off its curve; P-256 coordinates under P-384; an unsupported curve.
        ec("P-256", "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY", "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY"),
        ec("P-384", "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY", "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"),
        ec("secp256k1", "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY", "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"),
        // Ed448 and X25519 are not signature keys this server verifies; a short Ed25519 key.
        .object(["kty": .string("OKP"), "crv": .string("Ed448"), "x": .string("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")]),
        .object(["kty": .string("OKP"), "crv": .string("X25519"), "x": .string("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")]),
        .object(["kty": .string("OKP"), "crv": .string("Ed25519"), "x": .string("11qYAYKxCrfVS_7TyWQHOg")]),
        .object(["kty": .string("RSA")]),
    ])
    func unusableKeysRefused(_ key: JSONValue) throws {
        let error = try #require(Fixture.error(Self.registration(key)))
        #expect(error.code == .invalidClientMetadata)
        #expect(error.errorDescription?.hasPrefix("jwks") == true)
    }

    @Test("Two keys with the same kid are refused")
    func duplicateKeyIDsRefused() {
        guard case .object(var first) = Self.p256, case .object(var second) = Self.p384 else { return }
        first["kid"] = .string("k")
        second["kid"] = .string("k")
        #expect(Fixture.error(Self.registration(.object(first), .object(second)))?.code == .invalidClientMetadata)
        second["kid"] = .string("k2")
        #expect(Fixture.error(Self.registration(.object(first), .object(second))) == nil)
    }

    @Test("The stored metadata of one client is capped in bytes")
    func metadataCapped() {
        // 20 contacts of 900 bytes each pass every per-member rule but not the whole-client cap.
        let contacts = (0..<20).map { JSONValue.string("\($0)" + String(repeating: "a", count: 900) + "@example.com") }
        let error = Fixture.error(Fixture.request(["contacts": .array(contacts)]))
        #expect(error?.code == .invalidClientMetadata)
        #expect(error?.errorDescription?.contains("\(ClientMetadataValidator.maximumMetadataBytes)") == true)
        #expect(Fixture.error(Fixture.request(["contacts": .array(Array(contacts.prefix(5)))])) == nil)
    }
}
