import Foundation
import JWTKit

/// Checks an ID token an upstream provider issued to Registrar (OpenID Connect Core 1.0
/// §3.1.3.7): signed by a key of the provider's JWK Set with an asymmetric algorithm, from the
/// provider's issuer, for Registrar's client id, not expired, and carrying the nonce of the
/// sign-in that asked for it. Microsoft Entra ID's multi-tenant discovery names its issuer with
/// a `{tenantid}` placeholder; there the token's `tid` claim fills it in.
public struct IDTokenVerifier: Sendable {
    public struct Rejected: Error, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// How far the provider's clock may be off from ours.
    public static let allowedSkew: TimeInterval = 120
    /// How old an ID token may be when it arrives: the code was just exchanged.
    public static let maximumAge: TimeInterval = 600
    static let tenantPlaceholder = "{tenantid}"

    let issuer: String
    let clientID: String

    public init(issuer: String, clientID: String) {
        self.issuer = issuer
        self.clientID = clientID
    }

    /// The verified claims; throws `Rejected` naming the first rule that failed.
    public func verify(_ token: String, keys jwks: JSONValue, nonce: String, now: Date) async throws(Rejected) -> [String: JSONValue] {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard token.utf8.count <= 16_384, parts.count == 3, let header = SoftwareStatementVerifier.decodeSegment(parts[0]) else {
            throw Rejected("not a signed JWT")
        }
        // OIDC Core §3.1.3.7 item 7 / RFC 8725 §3.1: only asymmetric algorithms, never `none`
        // nor a MAC keyed with something public.
        guard let algorithm = header["alg"]?.stringValue, SoftwareStatementVerifier.acceptedAlgorithms.contains(algorithm) else {
            throw Rejected("the signing algorithm is not accepted")
        }
        guard header["crit"] == nil else { throw Rejected("crit is not understood") }
        let claims: [String: JSONValue]
        do {
            let collection = JWTKeyCollection()
            try await collection.add(jwksJSON: SoftwareStatementVerifier.keysWithIdentifiers(jwks).encodedString())
            claims = try await collection.verify(token, as: SoftwareStatementVerifier.ClaimSet.self, iteratingKeys: header["kid"] == nil).claims
        } catch {
            throw Rejected("the signature does not verify with the provider's keys")
        }
        // Item 2: `iss` is the provider's issuer, exactly.
        guard let tokenIssuer = claims["iss"]?.stringValue, tokenIssuer == expectedIssuer(tenant: claims["tid"]?.stringValue) else {
            throw Rejected("iss is not the provider's issuer")
        }
        // Item 3: `aud` contains our client id; items 4–5: with several audiences `azp` is ours,
        // and an `azp` that is present is ours in any case.
        let audiences = claims["aud"].flatMap { $0.stringValue.map { [$0] } ?? $0.arrayValue?.compactMap(\.stringValue) } ?? []
        guard audiences.contains(clientID) else { throw Rejected("aud does not name this client") }
        if let azp = claims["azp"] {
            guard azp.stringValue == clientID else { throw Rejected("azp is another client") }
        } else if audiences.count > 1 {
            throw Rejected("azp is required with several audiences")
        }
        // Items 9–10: not expired; `iat` neither in the future nor too old.
        let clock = now.timeIntervalSince1970
        guard case .number(let exp)? = claims["exp"], exp > clock - Self.allowedSkew else { throw Rejected("expired") }
        guard case .number(let iat)? = claims["iat"], iat <= clock + Self.allowedSkew, iat >= clock - Self.maximumAge - Self.allowedSkew else {
            throw Rejected("iat is missing, in the future or too old")
        }
        // Item 11: the nonce of this sign-in.
        guard let presented = claims["nonce"]?.stringValue, PKCE.constantTimeEquals(presented, nonce) else {
            throw Rejected("nonce does not match")
        }
        guard let subject = claims["sub"]?.stringValue, !subject.isEmpty else { throw Rejected("sub is required") }
        return claims
    }

    /// The issuer the token must name: the configured one, with `{tenantid}` replaced by the
    /// token's `tid` where discovery uses the placeholder (and nothing matches without a `tid`).
    func expectedIssuer(tenant: String?) -> String? {
        guard issuer.contains(Self.tenantPlaceholder) else { return issuer }
        guard let tenant, !tenant.isEmpty, tenant.utf8.allSatisfy({ $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "-") }) else { return nil }
        return issuer.replacingOccurrences(of: Self.tenantPlaceholder, with: tenant)
    }
}

extension UInt8 {
    var isASCIIAlphanumeric: Bool { (0x30...0x39).contains(self) || (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self) }
}
