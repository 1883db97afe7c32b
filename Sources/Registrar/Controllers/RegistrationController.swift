import Foundation
import Hummingbird

/// `POST {issuer}/register`: RFC 7591 dynamic client registration.
struct RegistrationController: Sendable {
    let resolver: TenantResolver
    let registration: ClientRegistrationService
    let maximumBodyBytes: Int

    func addRoutes(to router: Router<AppRequestContext>) {
        router.post("/register", use: register)
        router.post("/t/:tenant/register", use: register)
    }

    @Sendable func register(request: Request, context: AppRequestContext) async throws -> Response {
        let resolved = try await resolver.resolve(context)
        let body = try await JSONRequestBody.readObject(request, limit: maximumBodyBytes)
        let validated = try ClientMetadataValidator.validate(body, policy: resolved.tenant.policy)
        if resolved.tenant.policy.requiresInitialAccessToken(for: validated.redirectURIs) {
            // RFC 7591 §3: this tenant only registers such clients with an initial access token.
            throw OAuthError.invalidToken
        }
        let requester = ClientRegistrationService.Requester(sourceAddress: context.sourceAddress, requestID: context.requestID)
        let (client, credentials) = try await registration.register(validated.metadata, tenant: resolved.tenant, via: .dcr, requester: requester)
        context.logger.info("client registered", metadata: ["tenant": .string(resolved.tenant.slug), "client_id": .string(client.clientID)])
        return Response.json(
            ClientInformationResponse.body(for: client, in: resolved, clientSecret: credentials.clientSecret,
                                           registrationAccessToken: credentials.registrationAccessToken),
            status: .created, headers: Self.noStore)
    }

    /// RFC 7591 §3.2.1: responses carrying credentials are not cached.
    static let noStore: HTTPFields = [.cacheControl: "no-store", .pragma: "no-cache"]
}
