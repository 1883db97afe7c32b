import Foundation

/// A client as stored: validated metadata plus what the server issued for it. Secrets exist
/// here only as argon2id PHC strings.
public struct RegisteredClient: Sendable, Equatable {
    public enum Origin: String, Sendable, CaseIterable {
        case dcr
        case admin
        case cimd
    }

    public enum Status: String, Sendable, CaseIterable {
        case active
        case disabled
    }

    public let tenantID: UUID
    public let clientID: String
    public var metadata: ClientMetadata
    public var clientSecretHash: String?
    /// nil: the secret never expires (RFC 7591 §3.2.1 `client_secret_expires_at` = 0).
    public var clientSecretExpiresAt: Date?
    /// nil for a client of a metadata document: it never registered, so nothing manages it
    /// through RFC 7592.
    public var registrationAccessTokenHash: String?
    /// The token replaced by the last rotation, accepted until `previousRegistrationAccessTokenValidUntil`.
    public var previousRegistrationAccessTokenHash: String?
    public var previousRegistrationAccessTokenValidUntil: Date?
    public var registeredVia: Origin
    public var initialAccessTokenID: String?
    public var sourceAddress: String?
    public var status: Status
    public var createdAt: Date
    public var updatedAt: Date
    public var lastUsedAt: Date?
    /// Keyed pre-check tags beside the hashes above (design §4); nil for rows stored before tags.
    public var clientSecretTag: String?
    public var registrationAccessTokenTag: String?
    public var previousRegistrationAccessTokenTag: String?
    /// Fingerprint of metadata and source, for deduplicating identical public registrations.
    public var dedupKey: String?
    /// The verified claims of the software statement the client registered with (RFC 7591 §2.3).
    public var softwareStatement: JSONValue?
    /// For a client of a metadata document: its last fetch and how long that is believed.
    public var document: MetadataDocumentFetch?

    public init(
        tenantID: UUID, clientID: String, metadata: ClientMetadata, clientSecretHash: String?, clientSecretExpiresAt: Date?,
        registrationAccessTokenHash: String?, registeredVia: Origin, initialAccessTokenID: String? = nil,
        sourceAddress: String?, status: Status = .active, createdAt: Date, updatedAt: Date? = nil,
        previousRegistrationAccessTokenHash: String? = nil, previousRegistrationAccessTokenValidUntil: Date? = nil,
        softwareStatement: JSONValue? = nil, lastUsedAt: Date? = nil
    ) {
        self.tenantID = tenantID
        self.clientID = clientID
        self.metadata = metadata
        self.clientSecretHash = clientSecretHash
        self.clientSecretExpiresAt = clientSecretExpiresAt
        self.registrationAccessTokenHash = registrationAccessTokenHash
        self.registeredVia = registeredVia
        self.initialAccessTokenID = initialAccessTokenID
        self.sourceAddress = sourceAddress
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
        self.previousRegistrationAccessTokenHash = previousRegistrationAccessTokenHash
        self.previousRegistrationAccessTokenValidUntil = previousRegistrationAccessTokenValidUntil
        self.softwareStatement = softwareStatement
        self.lastUsedAt = lastUsedAt
    }
}

/// One fetch of a client ID metadata document, as its client row keeps it.
public struct MetadataDocumentFetch: Sendable, Equatable {
    public var fetchedAt: Date
    /// Until when the document is used without asking its host again.
    public var expiresAt: Date
    /// The validators of a conditional revalidation (RFC 9111 §4.3.1).
    public var etag: String?
    public var lastModified: String?

    public init(fetchedAt: Date, expiresAt: Date, etag: String? = nil, lastModified: String? = nil) {
        self.fetchedAt = fetchedAt
        self.expiresAt = expiresAt
        self.etag = etag
        self.lastModified = lastModified
    }
}

extension RegisteredClient {
    /// Whether a token that matched `hash` still authorises this client at `now`: the current
    /// token, or the previous one inside its grace.
    public func acceptsRegistrationAccessToken(matching hash: String, at now: Date) -> Bool {
        status == .active && ((registrationAccessTokenHash != nil && registrationAccessTokenHash == hash)
            || (previousRegistrationAccessTokenHash == hash && (previousRegistrationAccessTokenValidUntil ?? .distantPast) > now))
    }

    /// The client after a rotation to `new`; the replaced token stays valid for `grace` seconds.
    public func rotatingRegistrationAccessToken(to new: ProtectedToken, at now: Date, grace: Int) -> RegisteredClient {
        var client = self
        client.previousRegistrationAccessTokenHash = registrationAccessTokenHash
        client.previousRegistrationAccessTokenTag = registrationAccessTokenTag
        client.previousRegistrationAccessTokenValidUntil = now.addingTimeInterval(TimeInterval(grace))
        client.registrationAccessTokenHash = new.hash
        client.registrationAccessTokenTag = new.tag
        client.updatedAt = now
        return client
    }
}

/// One row of the append-only audit log. `details` never holds a secret.
public struct AuditEvent: Sendable, Equatable {
    public enum ActorType: String, Sendable {
        case anonymous
        case client
        case initialAccessToken = "initial_access_token"
        case adminKey = "admin_key"
        case system
        /// A tenant's local user, at the sign-in page (sign-in, sign-out).
        case user
        /// A tenant's resource server, at the token endpoint (token exchange).
        case resourceServer = "resource_server"
    }

    public var action: String
    public var actorType: ActorType
    public var actorID: String?
    public var clientID: String?
    public var sourceAddress: String?
    public var requestID: String?
    public var details: [String: JSONValue]

    public init(action: String, actorType: ActorType, actorID: String? = nil, clientID: String? = nil,
                sourceAddress: String? = nil, requestID: String? = nil, details: [String: JSONValue] = [:]) {
        self.action = action
        self.actorType = actorType
        self.actorID = actorID
        self.clientID = clientID
        self.sourceAddress = sourceAddress
        self.requestID = requestID
        self.details = details
    }
}
