import Foundation
import HTTPTypes
import Hummingbird

/// `POST {issuer}/token` (RFC 6749 §3.2, §4.1.3, §4.4, §6), `POST {issuer}/revoke` (RFC 7009)
/// and `POST {issuer}/introspect` (RFC 7662). Form bodies only; every answer, errors included,
/// carries `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
struct TokenController: Sendable {
    let resolver: TenantResolver
    let authenticator: ClientAuthenticator
    let grants: TokenGrants
    let repository: any TokenGrantRepository
    let validator: AccessTokenValidator
    let resourceServers: ResourceServerAuthenticator
    let limiter: any RateLimiter
    let failures: FailedAuthenticationRecorder
    let platform: PlatformRateLimits
    let usage: UsageRecorder
    /// Where reuse of a code or refresh token is audited.
    let audit: any ClientRepository
    let maximumBodyBytes: Int
    /// The vault behind RFC 8693 token exchange.
    let vault: TokenVault?
    let now: @Sendable () -> Date

    func addRoutes(to router: Router<AppRequestContext>) {
        for prefix in ["", "/t/:tenant"] {
            router.post("\(prefix)/token", use: token)
            router.post("\(prefix)/revoke", use: revoke)
            router.post("\(prefix)/introspect", use: introspect)
        }
    }

    /// RFC 6749 §5.1: "The authorization server MUST include the HTTP Cache-Control response
    /// header field with a value of no-store in any response containing tokens …".
    static let noStore: HTTPFields = [.cacheControl: "no-store", .pragma: "no-cache"]

    // MARK: - /token

    @Sendable func token(request: Request, context: AppRequestContext) async throws -> Response {
        let tenant = try await resolver.resolve(context)
        let form = try await FormBody.read(request, limit: maximumBodyBytes)
        guard let grantTypeName = form["grant_type"] else { throw OAuthError(.invalidRequest, "grant_type is required") }
        // RFC 8693: a resource server's request, authenticated as one, not a client's grant.
        if grantTypeName == TokenVault.grantType { return try await exchange(request, form: form, tenant: tenant, context: context) }
        // RFC 6749 §5.2: a grant this server does not implement (implicit and password never are).
        guard let grantType = GrantType(rawValue: grantTypeName) else {
            throw OAuthError(.unsupportedGrantType, "grant_type '\(ClientMetadataValidator.printable(grantTypeName))' is not supported")
        }
        let client = try await authenticator.authenticate(request, form: form, tenant: tenant, endpoint: tenant.issuer + "/token", context: context,
                                                          alongWith: await grants.credential(of: grantType, in: form, tenant: tenant))
        // RFC 6749 §5.2 `unauthorized_client`: the client did not register this grant (RFC 7591
        // §2 `grant_types`), or the tenant no longer allows it.
        guard client.client.metadata.grantTypes.contains(grantType), tenant.tenant.policy.grantTypes.contains(grantType) else {
            throw OAuthError(.unauthorizedClient, "the client is not allowed to use the \(grantType.rawValue) grant")
        }
        let response: TokenResponse
        do {
            switch grantType {
            case .authorizationCode: response = try await grants.authorizationCode(form, client: client, tenant: tenant)
            case .refreshToken: response = try await grants.refreshToken(form, client: client, tenant: tenant)
            case .clientCredentials: response = try await grants.clientCredentials(form, client: client, tenant: tenant)
            }
        } catch let reuse as TokenGrants.ReuseDetected {
            // A replayed code or refresh token means a copy was stolen: operators should know.
            context.logger.warning("token reuse detected; family revoked", metadata: ["credential": .string(reuse.credential.rawValue)])
            try? await audit.record(AuditEvent(action: "token.reuse_detected", actorType: .client, actorID: client.client.clientID,
                                               clientID: client.client.clientID, sourceAddress: context.sourceAddress, requestID: context.requestID,
                                               details: ["credential": .string(reuse.credential.rawValue)]), tenantID: tenant.tenant.id)
            throw reuse.answer
        }
        // Bookkeeping: a failed write must not take the tokens back.
        try? await usage.recordUse(tenantID: tenant.tenant.id, clientID: client.client.clientID)
        return Response.json(response.json, status: .ok, headers: Self.noStore)
    }

    // MARK: - /revoke

    /// RFC 7009 §2.1: the client authenticates as at the token endpoint; a refresh token's
    /// revocation ends its family (and so the access tokens issued with it), an access token's
    /// puts its jti on the revocation list until it expires. §2.2: 200 whether or not the token
    /// was known, valid or the client's — a token of another client is left alone, silently.
    @Sendable func revoke(request: Request, context: AppRequestContext) async throws -> Response {
        let tenant = try await resolver.resolve(context)
        let form = try await FormBody.read(request, limit: maximumBodyBytes)
        let client = try await authenticator.authenticate(request, form: form, tenant: tenant, endpoint: tenant.issuer + "/revoke", context: context)
        guard let token = form["token"] else { throw OAuthError(.invalidRequest, "token is required (RFC 7009 §2.1)") }
        // `token_type_hint` is only a hint (§2.1): the token's own shape says what it is.
        if OpaqueToken.isWellFormed(token, prefix: OpaqueToken.refreshTokenPrefix) {
            _ = try await repository.revokeRefreshToken(hash: OpaqueToken.hash(token), clientID: client.client.clientID,
                                                        tenantID: tenant.tenant.id, now: now())
        } else if let verified = try await verifiedAccessToken(token, tenant: tenant), verified.clientID == client.client.clientID {
            try await repository.revokeAccessToken(RecordedAccessToken(jti: verified.jti, expiresAt: verified.expiresAt), tenantID: tenant.tenant.id)
        }
        try? await usage.recordUse(tenantID: tenant.tenant.id, clientID: client.client.clientID)
        return Response(status: .ok, headers: Self.noStore)
    }

    /// The access token if it is a valid JWT of this tenant; nil for anything else.
    func verifiedAccessToken(_ token: String, tenant: ResolvedTenant) async throws -> VerifiedAccessToken? {
        guard token.utf8.count <= 16_384, token.split(separator: ".", omittingEmptySubsequences: false).count == 3 else { return nil }
        do {
            return try await validator.validate(token, tenant: tenant)
        } catch is AccessTokenValidator.Rejected {
            return nil
        }
    }

    // MARK: - /introspect

    /// Who asks: one of the tenant's resource servers, or a confidential client about its own tokens.
    enum Caller: Sendable {
        /// With whether the token's jti is on the revocation list (asked in the same lookup).
        case resourceServer(ResourceServer, jtiRevoked: Bool)
        case client(RegisteredClient)
    }

    /// RFC 7662 §2.1: "the endpoint MUST also require some form of authorization"; a caller
    /// without credentials is 401. §2.2: `active` is false for anything expired, revoked, not of
    /// this tenant, malformed, or that this caller may not learn about (§4: a resource server
    /// only about tokens meant for it, a client only about its own).
    @Sendable func introspect(request: Request, context: AppRequestContext) async throws -> Response {
        let tenant = try await resolver.resolve(context)
        let form = try await FormBody.read(request, limit: maximumBodyBytes)
        // Split and decoded once, before the caller is known: a resource server's lookup also
        // answers whether this jti is revoked, in the same round trip.
        let parsed = form["token"].flatMap { token in
            OpaqueToken.isWellFormed(token, prefix: OpaqueToken.refreshTokenPrefix) ? nil : CompactJWS.parse(token)
        }
        let caller = try await authenticateCaller(request, form: form, tenant: tenant, context: context,
                                                  checkingRevocationOf: parsed?.claims["jti"]?.stringValue)
        guard let token = form["token"] else { throw OAuthError(.invalidRequest, "token is required (RFC 7662 §2.1)") }
        let answer = try await introspection(of: token, parsed: parsed, for: caller, tenant: tenant)
        return Response.json(answer, status: .ok, headers: Self.noStore)
    }

    func authenticateCaller(_ request: Request, form: FormBody, tenant: ResolvedTenant, context: AppRequestContext,
                            checkingRevocationOf jti: String?) async throws -> Caller {
        let tenantID = tenant.tenant.id
        let limits = tenant.tenant.policy.rateLimits
        let address = context.limitAddress
        // An address that failed too often is refused before any credential is looked at: by the
        // resource server's lookup here, or by client authentication below.
        let checks: [RateLimitCheck] = [
            .platformFailures(from: address, limits: platform),
            .failures(from: address, tenantID: tenantID, limit: limits.failedAuthenticationsPerAddress),
        ]
        let server: ResourceServerAuthenticator.Authenticated?
        do {
            server = try await resourceServers.authenticate(request, tenant: tenant, form: form.singleValued, checkingRevocationOf: jti,
                                                            limiter: limiter, checks: checks)
        } catch let error as OAuthError where error.code == .invalidClient {
            await failures.record(tenantID: tenantID, source: context.sourceAddress, limitAddress: address,
                                  limit: limits.failedAuthenticationsPerAddress, credential: "resource_server", requestID: context.requestID)
            let usedBasic = request.headers[.authorization].map { $0.prefix { $0 != " " }.lowercased() == "basic" } ?? false
            throw InvalidClient(basicRealm: usedBasic ? tenant.issuer : nil)
        }
        if let server { return .resourceServer(server.server, jtiRevoked: server.jtiRevoked) }
        let client = try await authenticator.authenticate(request, form: form, tenant: tenant, endpoint: tenant.issuer + "/introspect", context: context)
        // RFC 7662 §2.1: the endpoint "MUST also require some form of authorization"; a client_id
        // alone proves nothing (anyone may send a public client's id), so public clients are
        // refused here, while they may still revoke their own tokens (RFC 7009 §2.1).
        guard client.isConfidential else { throw InvalidClient(basicRealm: nil) }
        return .client(client.client)
    }

    static let inactive: JSONValue = .object(["active": .bool(false)])

    /// - Parameter parsed: `token` split and decoded, when it is a compact JWS.
    func introspection(of token: String, parsed: CompactJWS.Parsed?, for caller: Caller, tenant: ResolvedTenant) async throws -> JSONValue {
        if OpaqueToken.isWellFormed(token, prefix: OpaqueToken.refreshTokenPrefix) {
            return try await refreshTokenIntrospection(token, for: caller, tenant: tenant)
        }
        guard let parsed else { return Self.inactive }
        let verified: VerifiedAccessToken
        do {
            verified = try await validator.validate(parsed, tenant: tenant)
        } catch is AccessTokenValidator.Rejected {
            return Self.inactive
        }
        // RFC 7009 §2.1 / RFC 7662 §2.2: a revoked token is inactive at once.
        let revoked: Bool
        switch caller {
        case .resourceServer(let server, let jtiRevoked):
            guard verified.audiences.contains(where: { Self.names(server, $0) }) else { return Self.inactive }
            revoked = jtiRevoked
        case .client(let client):
            guard verified.clientID == client.clientID else { return Self.inactive }
            revoked = try await repository.isAccessTokenRevoked(jti: verified.jti, tenantID: tenant.tenant.id)
        }
        guard !revoked else { return Self.inactive }
        var object: [String: JSONValue] = [
            "active": .bool(true),
            "client_id": .string(verified.clientID),
            "sub": .string(verified.subject),
            "aud": Self.audience(verified.audiences),
            "iss": .string(tenant.issuer),
            "exp": .number(verified.expiresAt.timeIntervalSince1970.rounded(.down)),
            "iat": .number(verified.issuedAt.timeIntervalSince1970.rounded(.down)),
            "jti": .string(verified.jti),
            "token_type": .string("Bearer"),
        ]
        if !verified.scopes.isEmpty { object["scope"] = .string(verified.scopes.joined(separator: " ")) }
        if let authTime = verified.authTime { object["auth_time"] = .number(authTime.timeIntervalSince1970.rounded(.down)) }
        return .object(object)
    }

    /// A refresh token is introspected only by the client that holds it (resource servers never
    /// see refresh tokens).
    func refreshTokenIntrospection(_ token: String, for caller: Caller, tenant: ResolvedTenant) async throws -> JSONValue {
        guard case .client(let client) = caller,
              let stored = try await repository.findRefreshToken(hash: OpaqueToken.hash(token), tenantID: tenant.tenant.id),
              stored.clientID == client.clientID else { return Self.inactive }
        let at = now()
        guard stored.rotatedAt == nil, stored.revokedAt == nil, stored.expiresAt > at, stored.absoluteExpiresAt > at,
              stored.user?.isActive ?? true else { return Self.inactive }
        var object: [String: JSONValue] = [
            "active": .bool(true),
            "client_id": .string(stored.clientID),
            "sub": .string(stored.user.map { TokenGrants.subject($0.userID) } ?? stored.clientID),
            "iss": .string(tenant.issuer),
            "exp": .number(min(stored.expiresAt, stored.absoluteExpiresAt).timeIntervalSince1970.rounded(.down)),
            "iat": .number(stored.createdAt.timeIntervalSince1970.rounded(.down)),
            "token_type": .string("refresh_token"),
        ]
        if !stored.resources.isEmpty { object["aud"] = Self.audience(stored.resources) }
        if !stored.scopes.isEmpty { object["scope"] = .string(stored.scopes.joined(separator: " ")) }
        return .object(object)
    }

    /// Whether a token audience names this resource server (RFC 8707 §2: compared in canonical
    /// form). Tokens carry the registered URL, so the exact comparison settles almost every case.
    static func names(_ server: ResourceServer, _ audience: String) -> Bool {
        audience == server.uri.normalized || (try? ResourceIndicator(parsing: audience))?.canonical == server.uri.canonical
    }

    /// RFC 7662 §2.2 / RFC 7519 §4.1.3: one audience as a string, several as an array.
    static func audience(_ audiences: [String]) -> JSONValue {
        audiences.count == 1 ? .string(audiences[0]) : .array(audiences.map(JSONValue.string))
    }
}
