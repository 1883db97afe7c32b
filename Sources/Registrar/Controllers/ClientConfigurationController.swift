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
    /// Reads are audited coalesced, per client per minute; writes keep their own audited transaction.
    let readAudit: ReadAuditCoalescer
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
        let matchedHash: String
    }

    func authorize(_ request: Request, _ context: AppRequestContext) async throws -> Authorized {
        let resolved = try await resolver.resolve(context)
        let clientID = try context.parameters.require("client_id")
        let authenticated = try await authenticator.authenticate(request, tenantID: resolved.tenant.id, clientID: clientID,
                                                                 source: context.sourceAddress, limitAddress: context.limitAddress,
                                                                 limits: resolved.tenant.policy.rateLimits,
                                                                 requestID: context.requestID)
        return Authorized(tenant: resolved, client: authenticated.client, matchedHash: authenticated.matchedHash)
    }

    func audit(_ action: String, _ client: RegisteredClient, _ context: AppRequestContext, details: [String: JSONValue] = [:]) -> AuditEvent {
        AuditEvent(action: action, actorType: .client, actorID: client.clientID, clientID: client.clientID,
                   sourceAddress: context.sourceAddress, requestID: context.requestID, details: details)
    }

    /// Applies `change` to the locked row, after checking that the token this request presented
    /// still authorises it (a concurrent rotation may have retired it meanwhile).
    func modify(_ authorized: Authorized, audit: @escaping @Sendable (RegisteredClient) -> AuditEvent,
                _ change: @escaping @Sendable (RegisteredClient) throws -> RegisteredClient) async throws -> RegisteredClient {
        let (matched, now) = (authorized.matchedHash, now())
        let stored = try await clients.modify(tenantID: authorized.client.tenantID, clientID: authorized.client.clientID, audit: audit) { current in
            guard current.acceptsRegistrationAccessToken(matching: matched, at: now) else { throw OAuthError.invalidToken }
            return try change(current)
        }
        guard let stored else { throw OAuthError.invalidToken }
        return stored
    }

    /// RFC 7592 §2.1: the current registration. The secret is never in it: only its hash exists.
    @Sendable func read(request: Request, context: AppRequestContext) async throws -> Response {
        let authorized = try await authorize(request, context)
        let policy = authorized.tenant.tenant.policy
        var client = authorized.client
        var newToken: String?
        if policy.registrationAccessTokenRotation == .everyUse {
            let token = SecretGenerator.registrationAccessToken()
            let protected = try await authenticator.verifier.protect(token, tenant: authorized.client.tenantID)
            let now = now()
            client = try await modify(authorized, audit: { audit("client.read", $0, context, details: ["registration_access_token_rotated": .bool(true)]) }) {
                $0.rotatingRegistrationAccessToken(to: protected, at: now, grace: policy.registrationAccessTokenGraceSeconds)
            }
            newToken = token
        } else {
            // A read changes nothing, so it writes nothing: it is counted, and written with the
            // other reads of this client in the window's one `client.read` event.
            readAudit.noteRead(tenantID: client.tenantID, clientID: client.clientID,
                               sourceAddress: context.sourceAddress, requestID: context.requestID)
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
                  try await hasher.verify(secret, against: hash, tenant: existing.tenantID)
            else { throw OAuthError.invalidMetadata("client_secret does not match the client's current secret") }
        }
        let token = try await existing.initialAccessTokenID.asyncFlatMap {
            try await initialAccessTokens.find(tenantID: existing.tenantID, id: $0)
        }
        let accepted = try await intake.process(body, tenant: authorized.tenant, initialAccessToken: token)
        // The access rule concerns redirect URIs this client did not have: keeping its own is always allowed.
        let added = accepted.redirectURIs.filter { !existing.metadata.redirectURIs.contains($0.value) }
        if token == nil && !added.isEmpty && policy.requiresInitialAccessToken(for: added) {
            throw OAuthError.invalidRedirect("redirect_uris: these redirect URIs can only be registered with an initial access token")
        }

        // Hashing happens before the row is locked; the change itself is then instantaneous.
        let now = now()
        let secretExpired = existing.clientSecretExpiresAt.map { $0 <= now } ?? false
        var prepared: (secret: String, hash: String, tag: String)?
        if accepted.metadata.isConfidential && (!existing.metadata.isConfidential || secretExpired) {
            let secret = SecretGenerator.clientSecret()
            let protected = try await authenticator.verifier.protect(secret, tenant: existing.tenantID)
            prepared = (secret, protected.hash, protected.tag)
        }
        var newToken: (token: String, protected: ProtectedToken)?
        if policy.registrationAccessTokenRotation != .never {
            let token = SecretGenerator.registrationAccessToken()
            newToken = (token, try await authenticator.verifier.protect(token, tenant: authorized.client.tenantID))
        }
        let lifetime = policy.clientSecretLifetimeSeconds
        let (secretOffer, tokenOffer) = (prepared, newToken)
        let updated = try await modify(authorized, audit: { updated in
            audit("client.updated", updated, context, details: [
                "changed": .array(Set(existing.metadata.json.keys).union(updated.metadata.json.keys)
                    .filter { existing.metadata.json[$0] != updated.metadata.json[$0] }.sorted().map(JSONValue.string)),
                "client_secret_issued": .bool(secretOffer != nil && updated.clientSecretHash == secretOffer?.hash),
                "registration_access_token_rotated": .bool(tokenOffer != nil),
            ])
        }) { current in
            var updated = current
            updated.metadata = accepted.metadata
            updated.softwareStatement = accepted.softwareStatement
            updated.updatedAt = now
            let currentExpired = current.clientSecretExpiresAt.map { $0 <= now } ?? false
            if !accepted.metadata.isConfidential {
                updated.clientSecretHash = nil
                updated.clientSecretTag = nil
                updated.clientSecretExpiresAt = nil
            } else if current.clientSecretHash == nil || currentExpired {
                guard let secretOffer else {
                    throw OAuthError(.invalidRequest, "the client changed while this request ran; retry", status: .conflict)
                }
                updated.clientSecretHash = secretOffer.hash
                updated.clientSecretTag = secretOffer.tag
                updated.clientSecretExpiresAt = lifetime > 0 ? now.addingTimeInterval(TimeInterval(lifetime)) : nil
            }
            if let tokenOffer {
                updated = updated.rotatingRegistrationAccessToken(to: tokenOffer.protected, at: now, grace: policy.registrationAccessTokenGraceSeconds)
            }
            return updated
        }
        let issuedSecret = prepared.flatMap { updated.clientSecretHash == $0.hash ? $0.secret : nil }
        return Response.json(ClientInformationResponse.body(for: updated, in: authorized.tenant, clientSecret: issuedSecret,
                                                            registrationAccessToken: newToken?.token),
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
}

extension Optional {
    func asyncFlatMap<T>(_ transform: (Wrapped) async throws -> T?) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
