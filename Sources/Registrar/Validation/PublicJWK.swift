import Foundation
import JWTKit

/// One public key of a JWK Set (RFC 7517 §4), checked for a usable shape and loaded with jwt-kit,
/// so that a key nobody can verify with is refused where it is submitted (client registration,
/// a trusted issuer in a policy) rather than failing later with a 500.
///
/// Shapes (RFC 7518 §6): RSA with a 2048–8192-bit modulus (RFC 7518 §3.3: "A key of size 2048
/// bits or larger MUST be used"); EC on P-256, P-384 or P-521 with coordinates of the curve's
/// length (§6.2.1.2); OKP on Ed25519 (RFC 8037 §2). Private members are refused.
public struct PublicJWK: Sendable {
    public enum Key: Sendable {
        case rsa(Insecure.RSA.PublicKey)
        case p256(ES256PublicKey)
        case p384(ES384PublicKey)
        case p521(ES512PublicKey)
        case ed25519(EdDSA.PublicKey)
    }

    public let key: Key
    public let keyID: String?

    public static let minimumRSABits = 2048
    public static let maximumRSABits = 8192
    /// The most bytes any one member of a key may have: an 8192-bit modulus is 1366 base64url characters.
    public static let maximumMemberBytes = 2048
    /// Members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
    public static let privateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]

    /// Checks and loads one key; the error says what is wrong, for the caller to wrap.
    public init(_ value: JSONValue) throws(Refusal) {
        guard let object = value.objectValue, let kty = object["kty"]?.stringValue else {
            throw Refusal("every key must be an object with a 'kty' member (RFC 7517 §4.1)")
        }
        for (name, member) in object {
            if let string = member.stringValue, string.utf8.count > Self.maximumMemberBytes {
                throw Refusal("the key member '\(ClientMetadataValidator.printable(name))' is longer than \(Self.maximumMemberBytes) bytes")
            }
        }
        if let member = Self.privateMembers.first(where: { object[$0] != nil }) {
            throw Refusal("must contain public keys only; found private member '\(member)'")
        }
        if let kid = object["kid"], kid.stringValue == nil { throw Refusal("'kid' must be a string (RFC 7517 §4.5)") }
        keyID = object["kid"]?.stringValue
        func member(_ name: String) throws(Refusal) -> (text: String, bytes: [UInt8]) {
            guard let text = object[name]?.stringValue, let bytes = Self.base64URLDecode(text), !bytes.isEmpty else {
                throw Refusal("a \(kty) key needs '\(name)' as a base64url string (RFC 7518 §6)")
            }
            return (text, bytes)
        }
        switch kty {
        case "RSA":
            let n = try member("n")
            let e = try member("e")
            let modulus = n.bytes.drop { $0 == 0 }
            let bits = modulus.isEmpty ? 0 : (modulus.count - 1) * 8 + (8 - modulus.first!.leadingZeroBitCount)
            guard (Self.minimumRSABits...Self.maximumRSABits).contains(bits) else {
                throw Refusal("an RSA modulus must have \(Self.minimumRSABits) to \(Self.maximumRSABits) bits (RFC 7518 §3.3); this one has \(bits)")
            }
            let exponent = e.bytes.drop { $0 == 0 }
            guard (1...8).contains(exponent.count), exponent.last! & 1 == 1, exponent.count > 1 || exponent.first! >= 3 else {
                throw Refusal("an RSA public exponent must be an odd number of at most 64 bits, 3 or more")
            }
            do { key = .rsa(try Insecure.RSA.PublicKey(modulus: n.text, exponent: e.text)) } catch { throw Refusal("the RSA key cannot be loaded") }
        case "EC":
            let curve = object["crv"]?.stringValue ?? ""
            let length: Int
            switch curve {
            case "P-256": length = 32
            case "P-384": length = 48
            case "P-521": length = 66
            default: throw Refusal("EC keys must use the curve P-256, P-384 or P-521")
            }
            let x = try member("x")
            let y = try member("y")
            guard x.bytes.count == length, y.bytes.count == length else {
                throw Refusal("the coordinates of a \(curve) key must be \(length) bytes each (RFC 7518 §6.2.1.2)")
            }
            do {
                switch curve {
                case "P-256": key = .p256(try ES256PublicKey(parameters: (x.text, y.text)))
                case "P-384": key = .p384(try ES384PublicKey(parameters: (x.text, y.text)))
                default: key = .p521(try ES512PublicKey(parameters: (x.text, y.text)))
                }
            } catch {
                throw Refusal("the \(curve) key is not a point on its curve")
            }
        case "OKP":
            guard object["crv"]?.stringValue == "Ed25519" else { throw Refusal("OKP keys must use the curve Ed25519 (RFC 8037 §2)") }
            let x = try member("x")
            guard x.bytes.count == 32 else { throw Refusal("an Ed25519 key's 'x' must be 32 bytes (RFC 8037 §2)") }
            do { key = .ed25519(try EdDSA.PublicKey(x: x.text, curve: .ed25519)) } catch { throw Refusal("the Ed25519 key cannot be loaded") }
        default:
            throw Refusal("key type '\(ClientMetadataValidator.printable(kty))' is not supported; use RSA, EC or OKP")
        }
    }

    /// Checks a whole JWK Set (RFC 7517 §5): a non-empty `keys` array of at most `maximumKeys`
    /// loadable public keys whose `kid`s are distinct (RFC 7517 §4.5: keys in a set SHOULD have
    /// distinct ids; a key collection keyed by `kid` would otherwise silently keep only one).
    /// The set must also decode as jwt-kit's own `JWKS`, the form it is later used in.
    @discardableResult
    public static func loadSet(_ value: JSONValue, maximumKeys: Int) throws(Refusal) -> [PublicJWK] {
        guard let keys = value["keys"]?.arrayValue else { throw Refusal("must be a JWK Set: an object with a 'keys' array (RFC 7517 §5)") }
        guard !keys.isEmpty else { throw Refusal("must contain at least one key") }
        guard keys.count <= maximumKeys else { throw Refusal("may contain at most \(maximumKeys) keys") }
        var loaded: [PublicJWK] = []
        var identifiers = Set<String>()
        for key in keys {
            let jwk = try PublicJWK(key)
            if let id = jwk.keyID, !identifiers.insert(id).inserted {
                throw Refusal("the key id '\(ClientMetadataValidator.printable(id))' is used by more than one key")
            }
            loaded.append(jwk)
        }
        do {
            _ = try JSONDecoder().decode(JWKS.self, from: value.encoded())
        } catch {
            throw Refusal("is not a JWK Set the server can use")
        }
        return loaded
    }

    /// RFC 7515 §2 base64url without padding; nil for any other character.
    static func base64URLDecode(_ text: String) -> [UInt8]? {
        Base64URL.decode(text)
    }

    /// Why a key or key set was refused.
    public struct Refusal: Error, Equatable, Sendable {
        public let reason: String
        init(_ reason: String) { self.reason = reason }
    }
}
