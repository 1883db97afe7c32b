import Foundation
import Hummingbird

/// RFC 8693 token exchange at `/token`: a resource server of the tenant trades an access token
/// Registrar issued it for the upstream provider's access token of the same user.
extension TokenController {
    /// RFC 8693 §2.1: `subject_token` (an access token of this issuer, `subject_token_type`
    /// access_token), `requested_token_type` access_token if given, `audience` the provider's
    /// id. §2.2.1: the answer carries `issued_token_type`.
    func exchange(_ request: Request, form: FormBody, tenant: ResolvedTenant, context: AppRequestContext) async throws -> Response {
        let parsed = form["subject_token"].flatMap(CompactJWS.parse)
        let caller = try await authenticateCaller(request, form: form, tenant: tenant, context: context,
                                                  checkingRevocationOf: parsed?.claims["jti"]?.stringValue)
        guard case .resourceServer(let server, let revoked) = caller else {
            throw OAuthError(.unauthorizedClient, "only the tenant's resource servers may exchange tokens")
        }
        guard form["subject_token"] != nil else { throw OAuthError(.invalidRequest, "subject_token is required (RFC 8693 §2.1)") }
        guard form["subject_token_type"] == TokenVault.accessTokenType else {
            throw OAuthError(.invalidRequest, "subject_token_type must be \(TokenVault.accessTokenType)")
        }
        if let requested = form["requested_token_type"], requested != TokenVault.accessTokenType {
            throw OAuthError(.invalidRequest, "only \(TokenVault.accessTokenType) is issued here")
        }
        guard let audience = form["audience"], !audience.isEmpty else {
            throw OAuthError(.invalidRequest, "audience is required: the identity provider whose token is wanted")
        }
        guard let vault, let provider = try await vault.providers.find(id: audience, tenant: tenant.tenant.id) else {
            throw OAuthError(.invalidTarget, "audience is not an identity provider of this tenant")
        }
        let invalidSubject = OAuthError(.invalidRequest, "subject_token is not a valid access token of this issuer")
        guard let parsed else { throw invalidSubject }
        let verified: VerifiedAccessToken
        do {
            verified = try await validator.validate(parsed, tenant: tenant)
        } catch is AccessTokenValidator.Rejected {
            throw invalidSubject
        }
        guard !revoked else { throw invalidSubject }
        // Only a resource server the token was issued for may trade it.
        guard verified.audiences.contains(where: { Self.names(server, $0) }) else {
            throw OAuthError(.invalidGrant, "the subject token was not issued for this resource server")
        }
        guard let user = UUID(uuidString: verified.subject) else { throw OAuthError(.invalidGrant, "the subject token is not a user's") }
        let token: (token: String, expiresAt: Date?)
        do {
            token = try await vault.accessToken(user: user, provider: provider, tenant: tenant.tenant.id)
        } catch let unavailable as TokenVault.Unavailable {
            // The detail (an upstream error) is for the operator's log, not for the caller.
            context.logger.info("token exchange refused", metadata: ["provider": .string(provider.id), "reason": .string(unavailable.description)])
            throw OAuthError(.invalidGrant, "no token of this provider can be issued for the user")
        }
        try await audit.record(AuditEvent(action: "token.exchanged", actorType: .resourceServer, actorID: server.id,
                                          clientID: verified.clientID, sourceAddress: context.sourceAddress, requestID: context.requestID,
                                          details: ["provider": .string(provider.id), "user_id": .string(verified.subject),
                                                    "subject_jti": .string(verified.jti)]),
                               tenantID: tenant.tenant.id)
        var body: [String: JSONValue] = [
            "access_token": .string(token.token), "issued_token_type": .string(TokenVault.accessTokenType), "token_type": .string("Bearer"),
        ]
        if let expiresAt = token.expiresAt { body["expires_in"] = .number(max(0, expiresAt.timeIntervalSince(now()).rounded(.down))) }
        return Response.json(.object(body), status: .ok, headers: Self.noStore)
    }
}
