import Foundation
import Logging

/// Issues credentials for validated metadata and stores the client: shared by dynamic
/// registration and (later) the admin API, so both produce the same kind of client.
public struct ClientRegistrationService: Sendable {
    let hasher: Argon2Hasher
    /// Every issued token is stored with its pre-check tag (design §4).
    let tags: TokenTagKey
    let clients: any ClientRepository
    let now: @Sendable () -> Date

    /// The plaintext credentials, returned once to the caller and never stored or logged.
    public struct IssuedCredentials: Sendable {
        public let clientSecret: String?
        /// Nil for a deduplicated registration: the caller gets the shared client's id only.
        public let registrationAccessToken: String?
        /// The registration is an existing client that others may share: it carries no RFC 7592
        /// credentials, so the response names no configuration endpoint either.
        public var isShared: Bool { registrationAccessToken == nil }
    }

    /// Who asked, for the audit log and for limits.
    public struct Requester: Sendable {
        public var sourceAddress: String?
        public var requestID: String?
        public var actorType: AuditEvent.ActorType = .anonymous
        public var actorID: String?
    }

    public func register(_ metadata: ClientMetadata, tenant: Tenant, via origin: RegisteredClient.Origin,
                         initialAccessTokenID: String? = nil, softwareStatement: JSONValue? = nil,
                         requester: Requester) async throws -> (RegisteredClient, IssuedCredentials) {
        let policy = tenant.policy
        var dedupKey: String?
        if origin == .dcr, policy.deduplicationWindowSeconds > 0, !metadata.isConfidential, initialAccessTokenID == nil {
            let key = Self.fingerprint(metadata, source: requester.sourceAddress)
            dedupKey = key
            let since = now().addingTimeInterval(-TimeInterval(policy.deduplicationWindowSeconds))
            if let existing = try await clients.findDuplicate(tenantID: tenant.id, dedupKey: key, since: since) {
                return try await shared(existing, requester: requester)
            }
        }
        let clientID = SecretGenerator.clientID()
        let registrationAccessToken = SecretGenerator.registrationAccessToken()
        let clientSecret = metadata.isConfidential ? SecretGenerator.clientSecret() : nil
        // Both hashes go to the pool together: the pool bounds throughput, this halves latency.
        async let ratHash = hasher.hash(registrationAccessToken, tenant: tenant.id)
        async let secretHash: String? = clientSecret == nil ? nil : hasher.hash(clientSecret!, tenant: tenant.id)
        let hashes = try await (rat: ratHash, secret: secretHash)

        let issuedAt = now()
        let lifetime = tenant.policy.clientSecretLifetimeSeconds
        let client = RegisteredClient(
            tenantID: tenant.id, clientID: clientID, metadata: metadata, clientSecretHash: hashes.secret,
            clientSecretExpiresAt: clientSecret != nil && lifetime > 0 ? issuedAt.addingTimeInterval(TimeInterval(lifetime)) : nil,
            registrationAccessTokenHash: hashes.rat, registeredVia: origin, initialAccessTokenID: initialAccessTokenID,
            sourceAddress: requester.sourceAddress, createdAt: issuedAt, softwareStatement: softwareStatement)
        var stored = client
        stored.registrationAccessTokenTag = tags.tag(registrationAccessToken)
        stored.clientSecretTag = clientSecret.map(tags.tag)
        stored.dedupKey = dedupKey
        let audit = AuditEvent(
            action: "client.registered", actorType: requester.actorType, actorID: requester.actorID, clientID: clientID,
            sourceAddress: requester.sourceAddress, requestID: requester.requestID,
            details: ["registered_via": .string(origin.rawValue), "client_name": metadata.clientName.map(JSONValue.string) ?? .null]
                .filter { $0.value != .null })
        do {
            // The commit point is shielded from the request's cancellation: once the insert runs
            // it finishes (bounded by the database timeout and statement_timeout), and what it
            // committed is answered, so credentials are never stored unseen and a single-use
            // initial access token is never burned for nothing.
            let clients = clients
            let maxClients = policy.maxClients
            try await Task {
                try await clients.insert(stored, audit: audit, consumingInitialAccessToken: initialAccessTokenID, at: issuedAt, maxClients: maxClients)
            }.value
        } catch ClientRepositoryError.initialAccessTokenUnusable {
            // Revoked, expired or used up since it was checked (a concurrent registration took the last use).
            throw OAuthError.invalidToken
        } catch ClientRepositoryError.quotaReached {
            try await clients.record(AuditEvent(
                action: "client.registration_refused", actorType: requester.actorType, actorID: requester.actorID,
                sourceAddress: requester.sourceAddress, requestID: requester.requestID,
                details: ["reason": .string("max_clients"), "max_clients": .number(Double(policy.maxClients))]), tenantID: tenant.id)
            throw Self.quotaReached
        }
        RegistrarMetrics.clientRegistered(via: origin.rawValue, tenant: tenant.slug)
        return (client, IssuedCredentials(clientSecret: clientSecret, registrationAccessToken: registrationAccessToken))
    }
}

extension ClientRegistrationService {
    /// RFC 6749 §4.1.2.1's `access_denied` with 403: the request is well-formed, the server
    /// declines it, and retrying will not help until an admin makes room.
    static let quotaReached = OAuthError(.accessDenied, "this tenant has reached its maximum number of registered clients", status: .forbidden)

    /// SHA-256 of the normalised metadata (loopback ports dropped, RFC 8252 §7.3) and the source.
    static func fingerprint(_ metadata: ClientMetadata, source: String?) -> String {
        var normalised = metadata
        normalised.redirectURIs = metadata.redirectURIs.map { RedirectURIMatcher.loopbackWithoutPort($0) ?? $0 }
        return SecretGenerator.sha256Hex(JSONValue.object(normalised.json).encodedString() + "|" + (source ?? "-"))
    }

    /// A duplicate registration: the existing client's id, with no registration access token.
    ///
    /// The same metadata from the same address is often another person behind one NAT or load
    /// balancer, so holding the fingerprint proves nothing: handing out (or rotating) the RFC 7592
    /// token here would give the client's management to a stranger and lock its holder out.
    /// Deduplicated public clients are therefore shared: whoever registered first manages it,
    /// everyone else may only use its `client_id` (RFC 7591 §3.2.1 makes the token optional).
    func shared(_ client: RegisteredClient, requester: Requester) async throws -> (RegisteredClient, IssuedCredentials) {
        try await clients.record(AuditEvent(
            action: "client.deduplicated", actorType: requester.actorType, actorID: requester.actorID, clientID: client.clientID,
            sourceAddress: requester.sourceAddress, requestID: requester.requestID), tenantID: client.tenantID)
        return (client, IssuedCredentials(clientSecret: nil, registrationAccessToken: nil))
    }
}

/// The client information response of RFC 7591 §3.2.1 (and RFC 7592 §3): the metadata plus what
/// the server issued. No null, no empty string; the secret only when it was just issued.
enum ClientInformationResponse {
    /// `shared`: a deduplicated registration, answered without the RFC 7592 endpoint (the caller
    /// holds no token for it).
    static func body(for client: RegisteredClient, in resolved: ResolvedTenant, clientSecret: String?, registrationAccessToken: String?,
                     shared: Bool = false) -> JSONValue {
        var object = client.metadata.json
        object["client_id"] = .string(client.clientID)
        object["client_id_issued_at"] = .number(client.createdAt.timeIntervalSince1970.rounded(.down))
        if !shared {
            object["registration_client_uri"] = .string(resolved.clientConfigurationURI(client.clientID))
        }
        if let registrationAccessToken {
            object["registration_access_token"] = .string(registrationAccessToken)
        }
        if let clientSecret {
            object["client_secret"] = .string(clientSecret)
        }
        if client.metadata.isConfidential {
            // RFC 7591 §3.2.1: REQUIRED with a secret; 0 means it does not expire.
            object["client_secret_expires_at"] = .number(client.clientSecretExpiresAt.map { $0.timeIntervalSince1970.rounded(.down) } ?? 0)
        }
        return .object(object)
    }
}
