import Foundation

/// What registration (RFC 7591) and replacement (RFC 7592 PUT) do with a metadata request before
/// anything is stored: verify a software statement and let its claims win (RFC 7591 §2.3), narrow
/// the tenant policy by the initial access token's constraints, run the one validator, and apply
/// the token's remaining constraints.
struct RegistrationIntake: Sendable {
    struct Result: Sendable {
        var metadata: ClientMetadata
        var redirectURIs: [RedirectURI]
        var softwareStatement: JSONValue?
    }

    let now: @Sendable () -> Date

    func process(_ body: [String: JSONValue], tenant: ResolvedTenant, initialAccessToken: InitialAccessToken?) async throws -> Result {
        let policy = tenant.tenant.policy
        var request = body
        let statement = request.removeValue(forKey: "software_statement").flatMap { $0 == .null ? nil : $0 }
        var verifiedClaims: JSONValue?
        switch policy.softwareStatementMode {
        case .ignore:
            break
        case .optional, .required:
            if let statement {
                guard let jwt = statement.stringValue else { throw OAuthError(.invalidSoftwareStatement, "software_statement must be a string") }
                let verified = try await SoftwareStatementVerifier.verify(
                    jwt, trustedIssuers: policy.trustedSoftwareStatementIssuers, audience: tenant.issuer, now: now())
                request.merge(verified.metadata) { _, claim in claim }
                verifiedClaims = .object(verified.claims)
            } else if policy.softwareStatementMode == .required {
                throw OAuthError(.invalidSoftwareStatement, "software_statement is required by this server")
            }
        }
        let effectivePolicy = try initialAccessToken.map { try policy.narrowed(by: $0.constraints) } ?? policy
        let validated = try ClientMetadataValidator.validate(request, policy: effectivePolicy)
        var metadata = validated.metadata
        if let constraints = initialAccessToken?.constraints {
            try RegistrationPolicy.checkRedirectHosts(validated.redirectURIs, against: constraints)
            if let softwareID = constraints.softwareID { metadata.softwareID = softwareID }
        }
        return Result(metadata: metadata, redirectURIs: validated.redirectURIs, softwareStatement: verifiedClaims)
    }
}
