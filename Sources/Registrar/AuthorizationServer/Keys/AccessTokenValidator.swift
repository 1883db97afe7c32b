import Foundation

/// Checks an access token this server issued for a tenant (RFC 9068 §4): the signature by one
/// of the keys the tenant publishes, `typ`, `iss` and `exp`. Revocation is not its business:
/// introspection and `/userinfo` check the revocation list themselves.
public struct AccessTokenValidator: Sendable {
    let keys: SigningKeyStore
    let now: @Sendable () -> Date
    /// Signatures already verified, so that the same token introspected again costs a hash.
    let signatures = VerifiedSignatureCache()

    public init(keys: SigningKeyStore, now: @escaping @Sendable () -> Date = { Date() }) {
        self.keys = keys
        self.now = now
    }

    /// Why a token was refused (for logs and tests; callers answer one generic error).
    public struct Rejected: Error, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public func validate(_ token: String, tenant: ResolvedTenant) async throws -> VerifiedAccessToken {
        guard let parsed = CompactJWS.parse(token) else { throw Rejected("not a signed JWT") }
        return try await validate(parsed, tenant: tenant)
    }

    /// The same for a token already split and decoded (introspection reads its `jti` before
    /// it knows who asks).
    func validate(_ parsed: CompactJWS.Parsed, tenant: ResolvedTenant) async throws -> VerifiedAccessToken {
        // RFC 9068 §4: the `typ` header MUST be `at+jwt` (or `application/at+jwt`, RFC 7515 §4.1.9),
        // so that an ID token or any other JWT signed with the same key is never taken for one.
        guard let type = parsed.header["typ"]?.stringValue?.lowercased(), type == "at+jwt" || type == "application/at+jwt" else {
            throw Rejected("typ is not at+jwt")
        }
        // RFC 9068 §4 / RFC 8725 §3.1: only the algorithm the tenant signs with; never `none`.
        guard parsed.header["alg"]?.stringValue == AccessTokenIssuer.algorithm else { throw Rejected("alg is not ES256") }
        // RFC 7515 §4.1.11: no extension is understood here, so any `crit` is refused.
        guard parsed.header["crit"] == nil else { throw Rejected("crit is not understood") }
        guard let kid = parsed.header["kid"]?.stringValue, !kid.isEmpty,
              let key = try await keys.verificationKey(tenantID: tenant.tenant.id, kid: kid)
        else { throw Rejected("kid is not a key of this tenant") }
        guard signatures.verify(parsed, with: key, named: "\(tenant.tenant.id)/\(kid)") else { throw Rejected("signature does not verify") }
        let claims = parsed.claims
        // RFC 9068 §4: `iss` MUST exactly match this issuer.
        guard claims["iss"]?.stringValue == tenant.issuer else { throw Rejected("iss is another issuer") }
        guard case .number(let exp)? = claims["exp"], case .number(let iat)? = claims["iat"] else { throw Rejected("exp and iat are required") }
        // RFC 9068 §4: the current time MUST be before `exp`.
        guard now().timeIntervalSince1970 < exp else { throw Rejected("expired") }
        guard let subject = claims["sub"]?.stringValue, let clientID = claims["client_id"]?.stringValue,
              let jti = claims["jti"]?.stringValue
        else { throw Rejected("sub, client_id and jti are required") }
        let audiences = claims["aud"].flatMap { $0.stringValue.map { [$0] } ?? $0.arrayValue?.compactMap(\.stringValue) } ?? []
        let scopes = claims["scope"]?.stringValue?.split(separator: " ").map(String.init) ?? []
        let authTime: Date? = if case .number(let value)? = claims["auth_time"] { Date(timeIntervalSince1970: value) } else { nil }
        return VerifiedAccessToken(subject: subject, clientID: clientID, audiences: audiences, scopes: scopes, jti: jti,
                                   issuedAt: Date(timeIntervalSince1970: iat), expiresAt: Date(timeIntervalSince1970: exp),
                                   authTime: authTime, kid: kid, claims: claims)
    }
}
