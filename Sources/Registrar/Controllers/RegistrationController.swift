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
        // Limits first, hashing last: a flood is refused before it can buy CPU.
        // One after the other: a request refused per address must not spend the tenant's budget.
        try await limiter.hit("register_per_address", key: "register:\(context.sourceAddress ?? "-")", tenantID: tenantID, limit: limits.registerPerAddress)
        try await limiter.hit("register_per_tenant", key: "register", tenantID: tenantID, limit: limits.registerPerTenant)
        let presented: InitialAccessTokenAuthenticator.Presented?
        do {
            presented = try await initialAccessTokens.lookUp(request, tenantID: tenantID, source: context.sourceAddress, limits: limits)
        } catch let error as OAuthError where error.code == .invalidToken {
            await failures.record(tenantID: tenantID, source: context.sourceAddress, limit: limits.failedAuthenticationsPerAddress,
                                  credential: "initial_access_token", requestID: context.requestID)
            throw error
        }
        let body = try await JSONRequestBody.readObject(request, limit: maximumBodyBytes)
        let accepted = try await intake.process(body, tenant: resolved, initialAccessToken: presented?.token)
        if let presented {
            do {
                try await initialAccessTokens.verify(presented)
            } catch let error as OAuthError where error.code == .invalidToken {
                await failures.record(tenantID: tenantID, source: context.sourceAddress, limit: limits.failedAuthenticationsPerAddress,
                                  credential: "initial_access_token", requestID: context.requestID)
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
