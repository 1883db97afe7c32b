import Foundation
import Hummingbird

/// A tenant's clients: list and inspect, disable and enable, delete, rotate the secret, reissue
/// the registration access token; and the client authentication API for a tenant's own
/// authorization server.
extension AdminController {
    func addClientRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("/tenants/:tenant/clients", use: listClients)
        group.post("/tenants/:tenant/clients/authenticate", use: authenticateClient)
        group.get("/tenants/:tenant/clients/:client_id", use: getClient)
        group.delete("/tenants/:tenant/clients/:client_id", use: deleteClient)
        group.post("/tenants/:tenant/clients/:client_id/disable", use: disableClient)
        group.post("/tenants/:tenant/clients/:client_id/enable", use: enableClient)
        group.post("/tenants/:tenant/clients/:client_id/secret", use: rotateSecret)
        group.post("/tenants/:tenant/clients/:client_id/registration-access-token", use: reissueRegistrationAccessToken)
        group.get("/tenants/:tenant/reaping", use: reapingReport)
    }

    /// A dry run of the reaper for this tenant: which clients it would disable and delete now.
    @Sendable func reapingReport(request: Request, context: AppRequestContext) async throws -> Response {
        let (_, record) = try await tenant(request, context, .read)
        let policy = record.tenant.policy
        let rule = ReapingRule(policy: policy, now: now())
        let result = try await reaper.candidates(tenantID: record.tenant.id, rule: rule, limit: Self.maximumPageSize)
        return .json(.object([
            "enabled": .bool(rule.isActive),
            "would_disable": .array(result.disabled.map(JSONValue.string)),
            "would_delete": .array(result.deleted.map(JSONValue.string)),
        ]), headers: [.cacheControl: "no-store"])
    }

    /// What an admin sees of a client: its metadata and lifecycle, never a hash.
    static func json(_ client: RegisteredClient) -> JSONValue {
        var object = client.metadata.json
        object["client_id"] = .string(client.clientID)
        object["status"] = .string(client.status.rawValue)
        object["registered_via"] = .string(client.registeredVia.rawValue)
        object["created_at"] = timestamp(client.createdAt)
        object["updated_at"] = timestamp(client.updatedAt)
        if let used = timestamp(client.lastUsedAt) { object["last_used_at"] = used }
        if let iat = client.initialAccessTokenID { object["initial_access_token_id"] = .string(iat) }
        if client.metadata.isConfidential {
            object["client_secret_expires_at"] = .number(client.clientSecretExpiresAt.map { $0.timeIntervalSince1970.rounded(.down) } ?? 0)
        }
        if let statement = client.softwareStatement { object["software_statement_claims"] = statement }
        return .object(object)
    }

    func client(_ record: TenantRecord, _ context: AppRequestContext) async throws -> RegisteredClient {
        // A metadata document's client is named by its URL, percent-encoded into one path segment.
        let raw = try context.parameters.require("client_id")
        let clientID = raw.contains("%") ? (raw.removingPercentEncoding ?? raw) : raw
        guard let client = try await clients.find(tenantID: record.tenant.id, clientID: clientID) else { throw Problem.notFound }
        return client
    }

    @Sendable func listClients(request: Request, context: AppRequestContext) async throws -> Response {
        let (_, record) = try await tenant(request, context, .read)
        let (limit, cursorText) = try page(request)
        var cursor: Cursor?
        if let cursorText {
            guard let decoded = Cursor(encoded: cursorText) else { throw Problem.invalid("cursor", "is not a cursor this API returned") }
            cursor = decoded
        }
        let parameters = request.uri.queryParameters
        var filter = ClientFilter()
        if let name = parameters["name_contains"] {
            guard name.count <= 200 else { throw Problem.invalid("name_contains", "must be at most 200 characters") }
            filter.nameContains = String(name)
        }
        if let via = parameters["registered_via"] {
            guard let origin = RegisteredClient.Origin(rawValue: String(via)) else { throw Problem.invalid("registered_via", "must be dcr, admin or cimd") }
            filter.registeredVia = origin
        }
        if let status = parameters["status"] {
            guard let value = RegisteredClient.Status(rawValue: String(status)) else { throw Problem.invalid("status", "must be active or disabled") }
            filter.status = value
        }
        filter.createdBefore = try dateParameter(request, "created_before")
        filter.createdAfter = try dateParameter(request, "created_after")
        filter.lastUsedBefore = try dateParameter(request, "last_used_before")
        let page = try await clients.list(tenantID: record.tenant.id, filter: filter, after: cursor, limit: limit)
        return Self.listResponse(page.items.map(Self.json), nextCursor: page.nextCursor)
    }

    @Sendable func getClient(request: Request, context: AppRequestContext) async throws -> Response {
        let (_, record) = try await tenant(request, context, .read)
        return .json(Self.json(try await client(record, context)), headers: [.cacheControl: "no-store"])
    }

    @Sendable func deleteClient(request: Request, context: AppRequestContext) async throws -> Response {
        let (principal, record) = try await tenant(request, context, .write)
        let client = try await client(record, context)
        let audit = principal.actor("client.deleted", context, clientID: client.clientID)
        guard try await clients.delete(tenantID: record.tenant.id, clientID: client.clientID, audit: audit) else { throw Problem.notFound }
        return Response(status: .noContent)
    }

    func setStatus(_ status: RegisteredClient.Status, _ request: Request, _ context: AppRequestContext) async throws -> Response {
        let (principal, record) = try await tenant(request, context, .write)
        var client = try await client(record, context)
        let audit = principal.actor(status == .disabled ? "client.disabled" : "client.enabled", context, clientID: client.clientID)
        guard try await clients.setStatus(tenantID: record.tenant.id, clientID: client.clientID, status: status, at: now(), audit: audit) else {
            throw Problem.notFound
        }
        client.status = status
        return .json(Self.json(client), headers: [.cacheControl: "no-store"])
    }

    @Sendable func disableClient(request: Request, context: AppRequestContext) async throws -> Response {
        try await setStatus(.disabled, request, context)
    }

    @Sendable func enableClient(request: Request, context: AppRequestContext) async throws -> Response {
        try await setStatus(.active, request, context)
    }

    /// A new secret, returned once; the old one stops working at once.
    @Sendable func rotateSecret(request: Request, context: AppRequestContext) async throws -> Response {
        let (principal, record) = try await tenant(request, context, .write)
        let found = try await client(record, context)
        guard found.metadata.isConfidential else {
            throw Problem(.conflict, "the client authenticates with \(found.metadata.tokenEndpointAuthMethod.rawValue) and has no secret")
        }
        let secret = SecretGenerator.clientSecret()
        let protected = try await verifier.protect(secret, tenant: record.tenant.id)
        let (now, lifetime) = (now(), record.tenant.policy.clientSecretLifetimeSeconds)
        let audit = principal.actor("client.secret_rotated", context, clientID: found.clientID)
        guard let client = try await clients.modify(tenantID: record.tenant.id, clientID: found.clientID, audit: { _ in audit }, { current in
            guard current.metadata.isConfidential else { throw Problem(.conflict, "the client no longer has a secret") }
            var updated = current
            updated.clientSecretHash = protected.hash
            updated.clientSecretTag = protected.tag
            updated.updatedAt = now
            updated.clientSecretExpiresAt = lifetime > 0 ? now.addingTimeInterval(TimeInterval(lifetime)) : nil
            return updated
        }) else { throw Problem.notFound }
        return .json(.object([
            "client_id": .string(client.clientID),
            "client_secret": .string(secret),
            "client_secret_expires_at": .number(client.clientSecretExpiresAt.map { $0.timeIntervalSince1970.rounded(.down) } ?? 0),
        ]), headers: [.cacheControl: "no-store"])
    }

    /// For a client that lost its registration access token: a new one, and the old one (and any
    /// rotated-out one in its grace) dies at once.
    @Sendable func reissueRegistrationAccessToken(request: Request, context: AppRequestContext) async throws -> Response {
        let (principal, record) = try await tenant(request, context, .write)
        let found = try await client(record, context)
        guard found.registeredVia != .cimd else {
            throw Problem(.conflict, "the client is described by its metadata document and has no registration access token")
        }
        let token = SecretGenerator.registrationAccessToken()
        let protected = try await verifier.protect(token, tenant: record.tenant.id)
        let now = now()
        let audit = principal.actor("client.registration_access_token_reissued", context, clientID: found.clientID)
        guard let client = try await clients.modify(tenantID: record.tenant.id, clientID: found.clientID, audit: { _ in audit }, { current in
            var updated = current
            updated.registrationAccessTokenHash = protected.hash
            updated.registrationAccessTokenTag = protected.tag
            updated.previousRegistrationAccessTokenHash = nil
            updated.previousRegistrationAccessTokenTag = nil
            updated.previousRegistrationAccessTokenValidUntil = nil
            updated.updatedAt = now
            return updated
        }) else { throw Problem.notFound }
        return .json(.object([
            "client_id": .string(client.clientID),
            "registration_access_token": .string(token),
            "registration_client_uri": .string(resolved(record).clientConfigurationURI(client.clientID)),
        ]), headers: [.cacheControl: "no-store"])
    }

    /// A presented RFC 7523 client assertion (`client_assertion` + `client_assertion_type`).
    struct PresentedAssertion: Sendable {
        let assertion: String
        let type: String?
    }

    func authenticatedClient(tenantID: UUID, clientID: String, secret: String?, redirect: String?,
                             assertion: PresentedAssertion? = nil, audiences: Set<String> = []) async throws -> RegisteredClient {
        let rejected = Problem(.unauthorized, "the client could not be authenticated")
        guard let client = try await clients.find(tenantID: tenantID, clientID: clientID), client.status == .active else { throw rejected }
        if client.metadata.tokenEndpointAuthMethod == .privateKeyJWT {
            // RFC 7523 §2.2: the client proves itself with a signed assertion, never by its id alone.
            guard secret == nil, let assertion, assertion.type == ClientAssertionVerifier.assertionType else { throw rejected }
            do {
                try await assertions.verify(assertion.assertion, for: client, audiences: audiences, now: now())
            } catch is ClientAssertionVerifier.Rejected {
                throw rejected
            }
        } else if assertion != nil {
            throw rejected
        } else if client.metadata.isConfidential {
            guard let secret, let hash = client.clientSecretHash, client.clientSecretExpiresAt.map({ $0 > now() }) ?? true,
                  case .verified(_, let untagged) = try await verifier.verify(secret, against: hash, tag: client.clientSecretTag, tenant: tenantID)
            else { throw rejected }
            if untagged {
                try await clients.storeTag(tenantID: tenantID, clientID: clientID, .clientSecret, hash: hash, tag: verifier.tags.tag(secret))
            }
        } else if secret != nil {
            throw rejected
        }
        if let redirect, !RedirectURIMatcher.matches(redirect, registered: client.metadata.redirectURIs) { throw rejected }
        return client
    }

    /// Limiter keys of the authenticate API's failure counts. The caller is a platform's token
    /// endpoint that speaks for all of the tenant's clients, so its own address says nothing about
    /// who is guessing: failures count per client, and per end user when the caller names one.
    static func authenticationFailureKeys(clientID: String, endUserAddress: String?) -> [String] {
        ["failed-client:\(clientID)"] + (endUserAddress.map { ["failed-end-user:\($0)"] } ?? [])
    }

    /// For a platform that keeps its own token endpoint: is this client, with this secret and this
    /// redirect URI, one we registered and enabled? Every "no" is the same 401.
    @Sendable func authenticateClient(request: Request, context: AppRequestContext) async throws -> Response {
        let (_, record) = try await tenant(request, context, .authenticateClients)
        let body = try await body(request, allowed: ["client_id", "client_secret", "redirect_uri", "end_user_address",
                                                     "client_assertion", "client_assertion_type"])
        let clientID = try Self.string(body, "client_id", required: true, maxLength: 2000)!
        let secret = try Self.string(body, "client_secret", maxLength: 512)
        let redirect = try Self.string(body, "redirect_uri", maxLength: URIParser.maximumLength)
        let endUserAddress = try Self.string(body, "end_user_address", maxLength: 64)
        let assertion = try Self.string(body, "client_assertion", maxLength: 16_384).map {
            PresentedAssertion(assertion: $0, type: try Self.string(body, "client_assertion_type", maxLength: 200))
        }
        if let endUserAddress, endUserAddress.contains("/") || (try? IPRange(endUserAddress))?.isSingleAddress != true {
            throw Problem.invalid("end_user_address", "must be an IPv4 or IPv6 address")
        }
        let limits = record.tenant.policy.rateLimits
        // An id this server never issues names no client: refused before the limiter or the database.
        guard RegistrationAccessTokenAuthenticator.isIssuedClientID(clientID) else {
            throw Problem(.unauthorized, "the client could not be authenticated")
        }
        let tenantID = record.tenant.id
        // Failures count per client (and per end user when the caller names one), never against
        // the calling server's address: one client's bad secrets must not refuse the others.
        let failureKeys = Self.authenticationFailureKeys(clientID: clientID, endUserAddress: endUserAddress)
        // In order, stopping at the first refusal; the client's budget is spent only once its
        // credential verified, so that callers with a wrong one cannot use it up.
        let budget = RateLimitCheck("authenticate_per_client", key: "authenticate:\(clientID)", tenantID: tenantID, limit: limits.authenticatePerClient)
        try await limiter.check(failureKeys.map {
            RateLimitCheck("failed_authentications", key: $0, tenantID: tenantID, limit: limits.failedAuthenticationsPerAddress, consume: false)
        } + [RateLimitCheck(budget.name, key: budget.key, tenantID: tenantID, limit: budget.limit, consume: false)])
        let client: RegisteredClient
        do {
            // RFC 7523 §3 item 3: `aud` is the tenant's issuer or its token endpoint.
            let issuer = resolved(record).issuer
            client = try await authenticatedClient(tenantID: tenantID, clientID: clientID, secret: secret, redirect: redirect,
                                                   assertion: assertion, audiences: [issuer, issuer + "/token"])
        } catch let problem as Problem where problem.kind == .unauthorized {
            for key in failureKeys {
                await failures.record(tenantID: tenantID, key: key, source: endUserAddress, clientID: clientID,
                                      limit: limits.failedAuthenticationsPerAddress, credential: "client_secret", requestID: context.requestID)
            }
            throw problem
        }
        try await limiter.check([budget])
        try await usage.recordUse(tenantID: record.tenant.id, clientID: client.clientID)
        guard case .object(var object) = Self.json(client) else { throw Problem(.internalError) }
        object["active"] = .bool(true)
        return .json(.object(object), headers: [.cacheControl: "no-store"])
    }
}
