import Foundation

/// An initial access token (RFC 7591 §3): minted by a tenant admin, shown once as
/// `iat_{id}.{secret}`, stored as an argon2id hash, limited by expiry, use count and revocation,
/// and optionally narrowing the tenant policy for the clients it creates.
public struct InitialAccessToken: Sendable, Equatable {
    public let tenantID: UUID
    public let id: String
    public var label: String
    public var secretHash: String
    /// The keyed pre-check tag of the secret (design §4); nil for rows stored before tags.
    public var secretTag: String?
    public var createdAt: Date
    public var expiresAt: Date?
    public var maxUses: Int?
    public var uses: Int
    public var revokedAt: Date?
    public var constraints: Constraints

    public init(tenantID: UUID, id: String, label: String, secretHash: String, createdAt: Date, expiresAt: Date?,
                maxUses: Int?, uses: Int = 0, revokedAt: Date? = nil, constraints: Constraints = .init(), secretTag: String? = nil) {
        self.tenantID = tenantID
        self.secretTag = secretTag
        self.id = id
        self.label = label
        self.secretHash = secretHash
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.maxUses = maxUses
        self.uses = uses
        self.revokedAt = revokedAt
        self.constraints = constraints
    }

    /// Whether the token may still create a client at `now`.
    public func isUsable(at now: Date) -> Bool {
        revokedAt == nil && (expiresAt.map { $0 > now } ?? true) && (maxUses.map { uses < $0 } ?? true)
    }

    /// The presented form, `iat_{id}.{secret}`, split; nil when it is not of that shape.
    public static func parse(_ presented: String) -> (id: String, secret: String)? {
        guard presented.hasPrefix("iat_"), let dot = presented.firstIndex(of: ".") else { return nil }
        let id = presented[presented.index(presented.startIndex, offsetBy: 4)..<dot]
        let secret = presented[presented.index(after: dot)...]
        guard id.count == 16, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }),
              secret.count == 43, secret.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        else { return nil }
        return (String(id), String(secret))
    }

    /// What an initial access token may narrow: never widen, only narrow, the tenant's policy.
    public struct Constraints: Sendable, Equatable {
        /// Every redirect URI's host must match one of these (exact or `*.domain`).
        public var allowedRedirectHosts: [String]?
        /// Scopes the client may have; intersected with the tenant's allowed scopes.
        public var allowedScopes: [String]?
        /// The `software_id` every client created with this token carries.
        public var softwareID: String?

        public init(allowedRedirectHosts: [String]? = nil, allowedScopes: [String]? = nil, softwareID: String? = nil) {
            self.allowedRedirectHosts = allowedRedirectHosts
            self.allowedScopes = allowedScopes
            self.softwareID = softwareID
        }

        public var isEmpty: Bool { allowedRedirectHosts == nil && allowedScopes == nil && softwareID == nil }

        public var json: JSONValue {
            var object: [String: JSONValue] = [:]
            if let allowedRedirectHosts { object["allowed_redirect_hosts"] = .array(allowedRedirectHosts.map(JSONValue.string)) }
            if let allowedScopes { object["allowed_scopes"] = .array(allowedScopes.map(JSONValue.string)) }
            if let softwareID { object["software_id"] = .string(softwareID) }
            return .object(object)
        }

        /// Strict: unknown fields and malformed values are refused, naming the field.
        public init(json: JSONValue) throws(PolicyError) {
            guard let object = json.objectValue else { throw PolicyError(field: "", reason: "constraints must be a JSON object") }
            let known = ["allowed_redirect_hosts", "allowed_scopes", "software_id"]
            if let unknown = object.keys.first(where: { !known.contains($0) }) { throw PolicyError(field: unknown, reason: "unknown constraint") }
            func strings(_ key: String) throws(PolicyError) -> [String]? {
                guard let value = object[key], value != .null else { return nil }
                guard let array = value.arrayValue, !array.isEmpty else { throw PolicyError(field: key, reason: "must be a non-empty array of strings") }
                var result: [String] = []
                for element in array {
                    guard let string = element.stringValue else { throw PolicyError(field: key, reason: "must be a non-empty array of strings") }
                    result.append(string)
                }
                return result
            }
            self.init()
            allowedRedirectHosts = try strings("allowed_redirect_hosts")?.map { $0.lowercased() }
            for host in allowedRedirectHosts ?? [] where !RegistrationPolicy.isValidHostPattern(host) && host != "[::1]" {
                throw PolicyError(field: "allowed_redirect_hosts", reason: "'\(host)' is not a host name or a '*.domain' pattern")
            }
            allowedScopes = try strings("allowed_scopes")
            if let allowedScopes { try RegistrationPolicy.checkScopeTokens(allowedScopes, field: "allowed_scopes") }
            if let value = object["software_id"], value != .null {
                guard let string = value.stringValue, !string.isEmpty, string.count <= 255 else {
                    throw PolicyError(field: "software_id", reason: "must be a non-empty string of at most 255 characters")
                }
                softwareID = string
            }
        }
    }
}

extension RegistrationPolicy {
    /// The policy as seen by a registration made with an initial access token carrying
    /// `constraints`: the token's scope list narrows the tenant's; nothing is widened. When the
    /// two lists no longer share a scope (the tenant's changed since the token was minted), the
    /// registration is refused rather than given scopes the token did not allow.
    public func narrowed(by constraints: InitialAccessToken.Constraints) throws(OAuthError) -> RegistrationPolicy {
        var policy = self
        if let scopes = constraints.allowedScopes {
            policy.allowedScopes = allowedScopes.isEmpty ? scopes : allowedScopes.filter(scopes.contains)
            guard !policy.allowedScopes.isEmpty else {
                throw .invalidMetadata("scope: the initial access token allows no scope this server allows")
            }
            policy.defaultScopes = defaultScopes.filter(policy.allowedScopes.contains)
        }
        return policy
    }

    /// Checks the token's redirect-host constraint, after the ordinary redirect rules passed.
    public static func checkRedirectHosts(_ uris: [RedirectURI], against constraints: InitialAccessToken.Constraints) throws(OAuthError) {
        guard let hosts = constraints.allowedRedirectHosts else { return }
        var probe = RegistrationPolicy()
        probe.trustedRedirectHosts = hosts
        for uri in uris where !(uri.host.map(probe.isTrustedRedirectHost) ?? false) {
            throw .invalidRedirect("redirect_uris: '\(uri.value)' is not allowed by the initial access token used")
        }
    }
}
