import Foundation

/// Mints initial access tokens for tenant admins (the CLI now, the admin API later).
public struct InitialAccessTokenService: Sendable {
    let hasher: Argon2Hasher
    let tokens: any InitialAccessTokenRepository
    /// The pre-check key (design §4); without one (tools that do not know it) tokens are stored
    /// untagged and get their tag at their first successful use.
    let tags: TokenTagKey?
    let now: @Sendable () -> Date

    public init(hasher: Argon2Hasher, tokens: any InitialAccessTokenRepository, tags: TokenTagKey? = nil,
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.hasher = hasher
        self.tokens = tokens
        self.tags = tags
        self.now = now
    }

    public struct Request: Sendable {
        public var label: String
        public var lifetime: TimeInterval?
        public var maxUses: Int?
        public var constraints: InitialAccessToken.Constraints

        public init(label: String = "", lifetime: TimeInterval? = nil, maxUses: Int? = nil, constraints: InitialAccessToken.Constraints = .init()) {
            self.label = label
            self.lifetime = lifetime
            self.maxUses = maxUses
            self.constraints = constraints
        }
    }

    /// Why a mint request was refused, naming the field.
    public struct Refused: Error, Equatable, CustomStringConvertible {
        public let field: String
        public let reason: String
        public var description: String { "\(field): \(reason)" }
    }

    /// Returns the stored token and its one-time presentation `iat_{id}.{secret}`.
    public func mint(for tenant: Tenant, _ request: Request, actor: AuditEvent) async throws -> (InitialAccessToken, String) {
        do { try Label.check(request.label) } catch { throw Refused(field: error.field, reason: error.reason) }
        if let lifetime = request.lifetime, !(1...TimeInterval(RegistrationPolicy.maximumLifetimeSeconds)).contains(lifetime) {
            throw Refused(field: "expires_in", reason: "must be from 1 second to 10 years")
        }
        if let maxUses = request.maxUses, !(1...1_000_000_000).contains(maxUses) {
            throw Refused(field: "max_uses", reason: "must be from 1 to 1000000000")
        }
        if let scopes = request.constraints.allowedScopes, !tenant.policy.allowedScopes.isEmpty,
           let outside = scopes.first(where: { !tenant.policy.allowedScopes.contains($0) }) {
            throw Refused(field: "constraints.allowed_scopes", reason: "'\(outside)' is not allowed by the tenant's policy")
        }
        let id = SecretGenerator.shortID()
        let secret = SecretGenerator.randomToken()
        let presented = "iat_\(id).\(secret)"
        let created = now()
        let token = InitialAccessToken(
            tenantID: tenant.id, id: id, label: request.label, secretHash: try await hasher.hash(presented, tenant: tenant.id), createdAt: created,
            expiresAt: request.lifetime.map { created.addingTimeInterval($0) }, maxUses: request.maxUses, constraints: request.constraints,
            secretTag: tags?.tag(presented))
        var audit = actor
        audit.action = "initial_access_token.minted"
        audit.details["token_id"] = .string(id)
        if !request.label.isEmpty { audit.details["label"] = .string(request.label) }
        try await tokens.insert(token, audit: audit)
        return (token, presented)
    }
}
