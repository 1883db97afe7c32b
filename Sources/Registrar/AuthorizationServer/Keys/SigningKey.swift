import Crypto
import Foundation

/// One row of `signing_keys` as stored: the private half sealed, the public half as a JWK.
public struct StoredSigningKey: Sendable, Equatable {
    public let tenantID: UUID
    public let kid: String
    public let algorithm: String
    public let sealedPrivateKey: Data
    public let publicJWK: JSONValue
    public let createdAt: Date
    public let retiredAt: Date?
    /// When a retired key leaves `/jwks.json`.
    public let publishUntil: Date?

    /// The one key that signs, or a retired one still published at `now`.
    public func isPublished(at now: Date) -> Bool {
        retiredAt == nil || (publishUntil.map { $0 > now } ?? false)
    }
}

/// What the admin API and the CLI show of a key: never any private material.
public struct SigningKeySummary: Sendable, Equatable {
    public enum Status: String, Sendable {
        /// Signs new tokens.
        case active
        /// No longer signs; still in the JWKS so its tokens verify until they expire.
        case retired
        /// Out of the JWKS: every token it signed has expired.
        case expired
    }

    public let kid: String
    public let algorithm: String
    public let createdAt: Date
    public let retiredAt: Date?
    public let publishUntil: Date?
    public let status: Status

    init(_ key: StoredSigningKey, now: Date) {
        kid = key.kid
        algorithm = key.algorithm
        createdAt = key.createdAt
        retiredAt = key.retiredAt
        publishUntil = key.publishUntil
        status = key.retiredAt == nil ? .active : (key.isPublished(at: now) ? .retired : .expired)
    }
}

/// A tenant's ES256 key pair, parsed once and reused for every token (parsing per token would
/// cost more than the signature).
public struct ES256KeyPair: Sendable {
    public let kid: String
    let privateKey: P256.Signing.PrivateKey

    /// A fresh key; its kid is the RFC 7638 thumbprint of its public JWK, so a kid names one key.
    static func generate() -> ES256KeyPair {
        let privateKey = P256.Signing.PrivateKey()
        return ES256KeyPair(kid: Self.thumbprint(privateKey.publicKey), privateKey: privateKey)
    }

    init(kid: String, privateKey: P256.Signing.PrivateKey) {
        self.kid = kid
        self.privateKey = privateKey
    }

    /// The 32-byte private scalar, the form that is sealed.
    var rawPrivateKey: Data { privateKey.rawRepresentation }

    var publicJWK: JSONValue { Self.publicJWK(privateKey.publicKey, kid: kid) }

    /// RFC 7517 §4 / RFC 7518 §6.2.1: an EC public key with `use` and `alg`, so that a verifier
    /// never tries it for anything but ES256 signatures.
    static func publicJWK(_ key: P256.Signing.PublicKey, kid: String) -> JSONValue {
        let (x, y) = coordinates(key)
        return .object([
            "kty": .string("EC"), "crv": .string("P-256"), "x": .string(x), "y": .string(y),
            "kid": .string(kid), "use": .string("sig"), "alg": .string("ES256"),
        ])
    }

    /// RFC 7638 §3.2: SHA-256 over the required members in lexicographic order, no whitespace.
    static func thumbprint(_ key: P256.Signing.PublicKey) -> String {
        let (x, y) = coordinates(key)
        let canonical = #"{"crv":"P-256","kty":"EC","x":"\#(x)","y":"\#(y)"}"#
        return SecretGenerator.base64URL(SHA256.hash(data: Data(canonical.utf8)))
    }

    static func coordinates(_ key: P256.Signing.PublicKey) -> (x: String, y: String) {
        let raw = key.rawRepresentation
        return (SecretGenerator.base64URL(raw.prefix(32)), SecretGenerator.base64URL(raw.suffix(32)))
    }
}
