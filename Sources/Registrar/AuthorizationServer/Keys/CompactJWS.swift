import Crypto
import Foundation

/// ES256 JWS in compact serialization (RFC 7515 §7.1), signed and checked with swift-crypto
/// directly: the key is parsed once per tenant, not once per token, and a signature costs one
/// P-256 operation and two small JSON encodings.
enum CompactJWS {
    /// `base64url(header).base64url(claims).base64url(r ‖ s)` (RFC 7518 §3.4: the signature is
    /// the 64-byte concatenation of R and S, not DER).
    static func sign(header: [String: JSONValue], claims: [String: JSONValue], with key: ES256KeyPair) throws -> String {
        let input = SecretGenerator.base64URL(JSONValue.object(header).encoded()) + "." + SecretGenerator.base64URL(JSONValue.object(claims).encoded())
        let signature = try key.privateKey.signature(for: Data(input.utf8))
        return input + "." + SecretGenerator.base64URL(signature.rawRepresentation)
    }

    struct Parsed {
        let header: [String: JSONValue]
        let claims: [String: JSONValue]
        let signingInput: Data
        let signature: Data
    }

    /// Largest token looked at; ours are well under 2 KiB.
    static let maximumLength = 8_192

    /// Splits and decodes a compact JWS; nil for anything that is not one.
    static func parse(_ token: String) -> Parsed? {
        guard token.utf8.count <= maximumLength else { return nil }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              let headerBytes = base64URLDecode(parts[0]), let claimBytes = base64URLDecode(parts[1]),
              let signature = base64URLDecode(parts[2]),
              let header = try? JSONValue.parseObject(headerBytes), let claims = try? JSONValue.parseObject(claimBytes)
        else { return nil }
        return Parsed(header: header, claims: claims, signingInput: Data((parts[0] + "." + parts[1]).utf8), signature: signature)
    }

    /// Whether `parsed` carries a valid ES256 signature by `key`.
    static func verify(_ parsed: Parsed, with key: P256.Signing.PublicKey) -> Bool {
        guard parsed.signature.count == 64, let signature = try? P256.Signing.ECDSASignature(rawRepresentation: parsed.signature) else {
            return false
        }
        return key.isValidSignature(signature, for: parsed.signingInput)
    }

    /// Unpadded base64url (RFC 7515 §2); nil on any other character.
    static func base64URLDecode(_ text: some StringProtocol) -> Data? {
        Base64URL.decode(text).map { Data($0) }
    }
}
