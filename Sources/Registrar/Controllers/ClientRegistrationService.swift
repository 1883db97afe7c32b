import Foundation
import Logging

/// Issues credentials for validated metadata and stores the client: shared by dynamic
/// registration and (later) the admin API, so both produce the same kind of client.
public struct ClientRegistrationService: Sendable {
    let hasher: Argon2Hasher
    let clients: any ClientRepository
    let now: @Sendable () -> Date

    /// The plaintext credentials, returned once to the caller and never stored or logged.
    public struct IssuedCredentials: Sendable {
        public let clientSecret: String?
        public let registrationAccessToken: String
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
            if let existing = try await clients.findDuplicate(tenantID: tenant.id, dedupKey: key, since: since),
               let reissued = try await reissue(existing, policy: policy, requester: requester) {
                return reissued
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
        stored.dedupKey = dedupKey
        let audit = AuditEvent(
            action: "client.registered", actorType: requester.actorType, actorID: requester.actorID, clientID: clientID,
            sourceAddress: requester.sourceAddress, requestID: requester.requestID,
            details: ["registered_via": .string(origin.rawValue), "client_name": metadata.clientName.map(JSONValue.string) ?? .null]
                .filter { $0.value != .null })
        do {
            try await clients.insert(stored, audit: audit, consumingInitialAccessToken: initialAccessTokenID, at: issuedAt, maxClients: policy.maxClients)
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

    /// A duplicate registration: the existing client, with a fresh registration access token
    /// (the previous one keeps its grace, as after any rotation).
    /// Nil when the client vanished meanwhile (a new one is registered instead).
    func reissue(_ client: RegisteredClient, policy: RegistrationPolicy, requester: Requester) async throws -> (RegisteredClient, IssuedCredentials)? {
        let token = SecretGenerator.registrationAccessToken()
        let hash = try await hasher.hash(token, tenant: client.tenantID)
        let now = now()
        let audit = AuditEvent(
            action: "client.deduplicated", actorType: requester.actorType, actorID: requester.actorID, clientID: client.clientID,
            sourceAddress: requester.sourceAddress, requestID: requester.requestID)
        let stored = try await clients.modify(tenantID: client.tenantID, clientID: client.clientID, audit: { _ in audit }) {
            $0.rotatingRegistrationAccessToken(to: hash, at: now, grace: policy.registrationAccessTokenGraceSeconds)
        }
        return stored.map { ($0, IssuedCredentials(clientSecret: nil, registrationAccessToken: token)) }
    }
}

/// The client information response of RFC 7591 §3.2.1 (and RFC 7592 §3): the metadata plus what
/// the server issued. No null, no empty string; the secret only when it was just issued.
enum ClientInformationResponse {
    static func body(for client: RegisteredClient, in resolved: ResolvedTenant, clientSecret: String?, registrationAccessToken: String?) -> JSONValue {
        var object = client.metadata.json
        object["client_id"] = .string(client.clientID)
        object["client_id_issued_at"] = .number(client.createdAt.timeIntervalSince1970.rounded(.down))
        object["registration_client_uri"] = .string(resolved.clientConfigurationURI(client.clientID))
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
