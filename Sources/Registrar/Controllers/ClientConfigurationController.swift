import Foundation
import Hummingbird

/// `GET / PUT / DELETE {issuer}/register/{client_id}`: RFC 7592 client configuration, with the
/// registration access token as the only credential.
struct ClientConfigurationController: Sendable {
    let resolver: TenantResolver
    let clients: any ClientRepository
    let initialAccessTokens: any InitialAccessTokenRepository
    let authenticator: RegistrationAccessTokenAuthenticator
    let intake: RegistrationIntake
    let hasher: Argon2Hasher
    let maximumBodyBytes: Int
    let now: @Sendable () -> Date

    /// RFC 7592 §2.2: members a client must not send in a replacement; they are the server's.
    static let serverOwnedMembers = ["registration_access_token", "registration_client_uri", "client_secret_expires_at", "client_id_issued_at"]

    func addRoutes(to router: Router<AppRequestContext>) {
        for prefix in ["", "/t/:tenant"] {
            router.get("\(prefix)/register/:client_id", use: read)
            router.put("\(prefix)/register/:client_id", use: replace)
            router.delete("\(prefix)/register/:client_id", use: delete)
        }
    }

    struct Authorized {
        let tenant: ResolvedTenant
        let client: RegisteredClient
    }

    func authorize(_ request: Request, _ context: AppRequestContext) async throws -> Authorized {
        let resolved = try await resolver.resolve(context)
        let clientID = try context.parameters.require("client_id")
        let client = try await authenticator.authenticate(request, tenantID: resolved.tenant.id, clientID: clientID,
                                                          source: context.sourceAddress, limits: resolved.tenant.policy.rateLimits)
        return Authorized(tenant: resolved, client: client)
    }

    func audit(_ action: String, _ client: RegisteredClient, _ context: AppRequestContext, details: [String: JSONValue] = [:]) -> AuditEvent {
        AuditEvent(action: action, actorType: .client, actorID: client.clientID, clientID: client.clientID,
                   sourceAddress: context.sourceAddress, requestID: context.requestID, details: details)
    }

    /// RFC 7592 §2.1: the current registration. The secret is never in it: only its hash exists.
    @Sendable func read(request: Request, context: AppRequestContext) async throws -> Response {
        let authorized = try await authorize(request, context)
        var client = authorized.client
        var newToken: String?
        if authorized.tenant.tenant.policy.registrationAccessTokenRotation == .everyUse {
            newToken = try await rotateRegistrationAccessToken(of: &client, policy: authorized.tenant.tenant.policy)
            try await clients.update(client, audit: audit("client.read", client, context, details: ["registration_access_token_rotated": .bool(true)]))
        } else {
            try await clients.record(audit("client.read", client, context), tenantID: client.tenantID)
        }
        return Response.json(ClientInformationResponse.body(for: client, in: authorized.tenant, clientSecret: nil, registrationAccessToken: newToken),
                             headers: RegistrationController.noStore)
    }

    /// RFC 7592 §2.2: full replacement. Every check of registration runs again; a refused request
    /// changes nothing, because nothing is written until all of them passed.
    @Sendable func replace(request: Request, context: AppRequestContext) async throws -> Response {
        let authorized = try await authorize(request, context)
        let existing = authorized.client
        let policy = authorized.tenant.tenant.policy
        var body = try await JSONRequestBody.readObject(request, limit: maximumBodyBytes)
        guard body["client_id"] == .string(existing.clientID) else {
            throw OAuthError.invalidMetadata("client_id must be present and equal to the client's identifier (RFC 7592 §2.2)")
        }
        if let member = Self.serverOwnedMembers.first(where: { body[$0] != nil }) {
            throw OAuthError.invalidMetadata("\(member) must not be sent in an update (RFC 7592 §2.2)")
        }
        if let presented = body.removeValue(forKey: "client_secret"), presented != .null {
            // RFC 7592 §2.2: a client_secret in the request must be the current one.
            guard let secret = presented.stringValue, let hash = existing.clientSecretHash,
                  try await hasher.verify(secret, against: hash)
            else { throw OAuthError.invalidMetadata("client_secret does not match the client's current secret") }
        }
        let token = try await existing.initialAccessTokenID.asyncFlatMap {
            try await initialAccessTokens.find(tenantID: existing.tenantID, id: $0)
        }
        let accepted = try await intake.process(body, tenant: authorized.tenant, initialAccessToken: token)
        if token == nil && policy.requiresInitialAccessToken(for: accepted.redirectURIs) {
            throw OAuthError.invalidRedirect("redirect_uris: these redirect URIs can only be registered with an initial access token")
        }

        var updated = existing
        updated.metadata = accepted.metadata
        updated.softwareStatement = accepted.softwareStatement
        updated.updatedAt = now()
        var newSecret: String?
        switch (existing.metadata.isConfidential, accepted.metadata.isConfidential) {
        case (false, true):
            let secret = SecretGenerator.clientSecret()
            updated.clientSecretHash = try await hasher.hash(secret)
            let lifetime = policy.clientSecretLifetimeSeconds
            updated.clientSecretExpiresAt = lifetime > 0 ? updated.updatedAt.addingTimeInterval(TimeInterval(lifetime)) : nil
            newSecret = secret
        case (true, false):
            updated.clientSecretHash = nil
            updated.clientSecretExpiresAt = nil
        default:
            break
        }
        var newToken: String?
        if policy.registrationAccessTokenRotation != .never {
            newToken = try await rotateRegistrationAccessToken(of: &updated, policy: policy)
        }
        let changed = Set(existing.metadata.json.keys).union(updated.metadata.json.keys)
            .filter { existing.metadata.json[$0] != updated.metadata.json[$0] }.sorted()
        try await clients.update(updated, audit: audit("client.updated", updated, context, details: [
            "changed": .array(changed.map(JSONValue.string)),
            "client_secret_issued": .bool(newSecret != nil),
            "registration_access_token_rotated": .bool(newToken != nil),
        ]))
        return Response.json(ClientInformationResponse.body(for: updated, in: authorized.tenant, clientSecret: newSecret, registrationAccessToken: newToken),
                             headers: RegistrationController.noStore)
    }

    /// RFC 7592 §2.3: deprovisioning; afterwards the client and its token are dead.
    @Sendable func delete(request: Request, context: AppRequestContext) async throws -> Response {
        let authorized = try await authorize(request, context)
        let client = authorized.client
        guard try await clients.delete(tenantID: client.tenantID, clientID: client.clientID, audit: audit("client.deleted", client, context)) else {
            throw OAuthError.invalidToken
        }
        return Response(status: .noContent, headers: RegistrationController.noStore)
    }

    /// Issues a new registration access token; the old one is accepted for the tenant's grace.
    func rotateRegistrationAccessToken(of client: inout RegisteredClient, policy: RegistrationPolicy) async throws -> String {
        let token = SecretGenerator.registrationAccessToken()
        let hash = try await hasher.hash(token)
        let now = now()
        client.previousRegistrationAccessTokenHash = client.registrationAccessTokenHash
        client.previousRegistrationAccessTokenValidUntil = now.addingTimeInterval(TimeInterval(policy.registrationAccessTokenGraceSeconds))
        client.registrationAccessTokenHash = hash
        client.updatedAt = now
        return token
    }
}

extension Optional {
    func asyncFlatMap<T>(_ transform: (Wrapped) async throws -> T?) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
