import Foundation
import Hummingbird

/// `POST {issuer}/register`: RFC 7591 dynamic client registration.
struct RegistrationController: Sendable {
    let resolver: TenantResolver
    let registration: ClientRegistrationService
    let initialAccessTokens: InitialAccessTokenAuthenticator
    let intake: RegistrationIntake
    let limiter: any RateLimiter
    let failures: FailedAuthenticationRecorder
    let platform: PlatformRateLimits
    let maximumBodyBytes: Int

    func addRoutes(to router: Router<AppRequestContext>) {
        router.post("/register", use: register)
        router.post("/t/:tenant/register", use: register)
    }

    /// Cheap checks run first and argon2 last, so that refused requests cost no hashing.
    @Sendable func register(request: Request, context: AppRequestContext) async throws -> Response {
        let resolved = try await resolver.resolve(context)
        let limits = resolved.tenant.policy.rateLimits
        let tenantID = resolved.tenant.id
        // Limits first, hashing last: a flood is refused before it can buy CPU. In order, in one
        // round trip, stopping at the first refusal: an address blocked for failed
        // authentications (when it presents a token) spends nothing; the address's own budgets
        // (the tenant's, then the platform's) come before the budget every caller shares.
        let address = context.limitAddress
        var checks: [RateLimitCheck] = []
        if request.headers[.authorization] != nil {
            checks += [.platformFailures(from: address, limits: platform),
                       .failures(from: address, tenantID: tenantID, limit: limits.failedAuthenticationsPerAddress)]
        }
        checks += RateLimitCheck.registration(from: address, tenantID: tenantID, limits: limits, platform: platform)
        try await limiter.check(checks)
        let presented: InitialAccessTokenAuthenticator.Presented?
        do {
            presented = try await initialAccessTokens.lookUp(request, tenantID: tenantID, limits: limits)
        } catch let error as OAuthError where error.code == .invalidToken {
            await failures.record(tenantID: tenantID, source: context.sourceAddress, limitAddress: address, limit: limits.failedAuthenticationsPerAddress,
                                  credential: "initial_access_token", requestID: context.requestID)
            throw error
        }
        let body = try await JSONRequestBody.readObject(request, limit: maximumBodyBytes)
        let accepted = try await intake.process(body, tenant: resolved, initialAccessToken: presented?.token)
        if let presented {
            do {
                try await initialAccessTokens.verify(presented)
            } catch let error as OAuthError where error.code == .invalidToken {
                await failures.record(tenantID: tenantID, source: context.sourceAddress, limitAddress: address,
                                      limit: limits.failedAuthenticationsPerAddress, credential: "initial_access_token", requestID: context.requestID)
                throw error
            }
        } else if resolved.tenant.policy.requiresInitialAccessToken(for: accepted.redirectURIs) {
            // RFC 7591 §3: this tenant registers such clients only with an initial access token.
            throw Self.initialAccessTokenRequired
        }
        var requester = ClientRegistrationService.Requester(sourceAddress: context.sourceAddress, requestID: context.requestID)
        if let presented {
            requester.actorType = .initialAccessToken
            requester.actorID = presented.token.id
        }
        let (client, credentials) = try await registration.register(
            accepted.metadata, tenant: resolved.tenant, via: .dcr, initialAccessTokenID: presented?.token.id,
            softwareStatement: accepted.softwareStatement, requester: requester)
        context.logger.info("client registered", metadata: ["tenant": .string(resolved.tenant.slug), "client_id": .string(client.clientID)])
        return Response.json(
            ClientInformationResponse.body(for: client, in: resolved, clientSecret: credentials.clientSecret,
                                           registrationAccessToken: credentials.registrationAccessToken, shared: credentials.isShared),
            status: .created, headers: Self.noStore)
    }

    static let initialAccessTokenRequired = OAuthError(.invalidToken, "an initial access token is required to register a client with these redirect URIs")

    /// RFC 7591 §3.2.1: responses carrying credentials are not cached.
    static let noStore: HTTPFields = [.cacheControl: "no-store", .pragma: "no-cache"]
}
