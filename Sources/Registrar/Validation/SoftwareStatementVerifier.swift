import Foundation
import JWTKit

/// RFC 7591 §2.3 software statements: a JWT about the client software, signed by an issuer the
/// tenant trusts. Verified against that issuer's keys; `none` and shared-secret (HMAC)
/// algorithms are refused outright, since anyone holding a shared key could mint statements.
public enum SoftwareStatementVerifier {
    /// Asymmetric JWS algorithms only (RFC 7518 §3.1).
    public static let acceptedAlgorithms: Set<String> = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
    /// JWT claims about the statement itself (RFC 7519 §4.1), not client metadata.
    public static let registeredClaims: Set<String> = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"]
    /// Clock difference tolerated on `exp`, `nbf` and `iat`.
    public static let allowedSkew: TimeInterval = 60
    /// How old a statement without `exp` may be, by its `iat`: a statement that never expires
    /// would stay usable for as long as it is kept anywhere, after its issuer stopped vouching.
    public static let maximumAgeWithoutExpiry: TimeInterval = 86_400

    /// The statement's claims, to be merged over the request body.
    public struct Verified: Sendable, Equatable {
        /// Every claim, as stored with the client.
        public let claims: [String: JSONValue]
        /// The client metadata members it asserts (RFC 7591 §2.3: these take precedence).
        public var metadata: [String: JSONValue] { claims.filter { !registeredClaims.contains($0.key) } }
    }

    public static func verify(_ statement: String, trustedIssuers: [RegistrationPolicy.TrustedIssuer],
                              audience: String, now: Date) async throws -> Verified {
        let invalid = { (reason: String) in OAuthError(.invalidSoftwareStatement, "software_statement: \(reason)") }
        let parts = statement.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let header = decodeSegment(parts[0]), let payload = decodeSegment(parts[1]) else {
            throw invalid("must be a signed JWT (header.payload.signature)")
        }
        guard let algorithm = header["alg"]?.stringValue, acceptedAlgorithms.contains(algorithm) else {
            throw invalid("the signing algorithm must be one of \(acceptedAlgorithms.sorted().joined(separator: ", "))")
        }
        // RFC 7515 §4.1.11: a recipient that does not understand an extension listed in `crit`
        // MUST reject the JWS. This verifier understands none.
        if header["crit"] != nil {
            throw invalid("the header lists critical extensions ('crit') this server does not understand (RFC 7515 §4.1.11)")
        }
        guard let issuerName = payload["iss"]?.stringValue else { throw invalid("the 'iss' claim is missing") }
        guard let issuer = trustedIssuers.first(where: { $0.issuer == issuerName }) else {
            throw OAuthError(.unapprovedSoftwareStatement, "software_statement: the issuer is not trusted by this server")
        }
        let keys = JWTKeyCollection()
        do {
            try await keys.add(jwksJSON: keysWithIdentifiers(issuer.jwks).encodedString())
        } catch {
            throw OAuthError(.serverError, "the trusted issuer's keys cannot be used")
        }
        let claims: [String: JSONValue]
        do {
            claims = try await keys.verify(statement, as: ClaimSet.self, iteratingKeys: true).claims
        } catch {
            throw invalid("the signature does not verify with the issuer's keys")
        }
        let clock = now.timeIntervalSince1970
        if let exp = claims["exp"] {
            guard case .number(let value) = exp else { throw invalid("'exp' must be a number") }
            guard value > clock - allowedSkew else { throw invalid("the statement has expired") }
        } else {
            // Without `exp`, the statement must say when it was issued, and that must be recent.
            guard case .number(let issuedAt) = claims["iat"] else {
                throw invalid("the statement must carry 'exp', or 'iat' no older than \(Int(maximumAgeWithoutExpiry)) seconds")
            }
            guard issuedAt >= clock - maximumAgeWithoutExpiry - allowedSkew else {
                throw invalid("the statement has no 'exp' and was issued more than \(Int(maximumAgeWithoutExpiry)) seconds ago")
            }
        }
        for name in ["nbf", "iat"] {
            if let claim = claims[name] {
                guard case .number(let value) = claim else { throw invalid("'\(name)' must be a number") }
                guard value <= clock + allowedSkew else { throw invalid("the statement is not valid yet ('\(name)' is in the future)") }
            }
        }
        if let aud = claims["aud"] {
            let audiences = aud.stringValue.map { [$0] } ?? aud.arrayValue?.compactMap(\.stringValue) ?? []
            guard audiences.contains(audience) else { throw invalid("the 'aud' claim does not name this issuer") }
        }
        return Verified(claims: claims)
    }

    /// JWK Sets in policies may omit `kid`; the key collection needs one per key.
    static func keysWithIdentifiers(_ jwks: JSONValue) -> JSONValue {
        guard let keys = jwks["keys"]?.arrayValue else { return jwks }
        return .object(["keys": .array(keys.enumerated().map { index, key in
            guard var object = key.objectValue, object["kid"] == nil else { return key }
            object["kid"] = .string("key-\(index)")
            return .object(object)
        })])
    }

    static func decodeSegment(_ segment: Substring) -> [String: JSONValue]? {
        guard let bytes = Base64URL.decode(segment) else { return nil }
        return try? JSONValue.parseObject(bytes)
    }

    /// Every claim of the statement; the time and audience checks above are done against the
    /// request's clock, not the library's.
    struct ClaimSet: JWTPayload {
        let claims: [String: JSONValue]

        init(from decoder: any Decoder) throws {
            claims = try [String: JSONValue](from: decoder)
        }

        func encode(to encoder: any Encoder) throws {
            try claims.encode(to: encoder)
        }

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }
}
