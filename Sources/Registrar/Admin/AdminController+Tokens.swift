import Foundation
import Hummingbird

/// Initial access tokens and admin keys: minted here, shown once, listed without secrets, revoked.
extension AdminController {
    func addTokenRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("/tenants/:tenant/initial-access-tokens", use: mintInitialAccessToken)
        group.get("/tenants/:tenant/initial-access-tokens", use: listInitialAccessTokens)
        group.delete("/tenants/:tenant/initial-access-tokens/:id", use: revokeInitialAccessToken)
        group.post("/keys", use: createPlatformKey)
        group.get("/keys", use: listPlatformKeys)
        group.delete("/keys/:id", use: revokeKey)
        group.post("/tenants/:tenant/keys", use: createTenantKey)
        group.get("/tenants/:tenant/keys", use: listTenantKeys)
    }

    static func json(_ token: InitialAccessToken) -> JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(token.id),
            "created_at": timestamp(token.createdAt)!,
            "uses": .number(Double(token.uses)),
            "revoked": .bool(token.revokedAt != nil),
        ]
        if !token.label.isEmpty { object["label"] = .string(token.label) }
        if let expires = timestamp(token.expiresAt) { object["expires_at"] = expires }
        if let maxUses = token.maxUses { object["max_uses"] = .number(Double(maxUses)) }
        if let revoked = timestamp(token.revokedAt) { object["revoked_at"] = revoked }
        if !token.constraints.isEmpty { object["constraints"] = token.constraints.json }
        return .object(object)
    }

    @Sendable func mintInitialAccessToken(request: Request, context: AppRequestContext) async throws -> Response {
        let (principal, record) = try await tenant(request, context, .write)
        let body = try await body(request, allowed: ["label", "expires_in", "max_uses", "constraints"])
        var mint = InitialAccessTokenService.Request(label: try Self.string(body, "label") ?? "")
        if let value = body["expires_in"], value != .null {
            guard let seconds = value.intValue, (1...RegistrationPolicy.maximumLifetimeSeconds).contains(seconds) else {
                throw Problem.invalid("expires_in", "must be a number of seconds from 1 to \(RegistrationPolicy.maximumLifetimeSeconds) (10 years)")
            }
            mint.lifetime = TimeInterval(seconds)
        }
        if let value = body["max_uses"], value != .null {
            guard let uses = value.intValue, (1...1_000_000_000).contains(uses) else { throw Problem.invalid("max_uses", "must be a whole number from 1 to 1000000000") }
            mint.maxUses = uses
        }
        if let value = body["constraints"], value != .null {
            do { mint.constraints = try InitialAccessToken.Constraints(json: value) } catch {
                throw Problem.invalid(error.field.isEmpty ? "constraints" : "constraints.\(error.field)", error.reason)
            }
        }
        let (token, presented) = try await minting { try await tokenService.mint(for: record.tenant, mint, actor: principal.actor("", context)) }
        guard case .object(var object) = Self.json(token) else { throw Problem(.internalError) }
        object["token"] = .string(presented)
        return .json(.object(object), status: .created, headers: [.cacheControl: "no-store"])
    }

    func minting<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as InitialAccessTokenService.Refused { throw Problem.invalid(error.field, error.reason) }
    }

    @Sendable func listInitialAccessTokens(request: Request, context: AppRequestContext) async throws -> Response {
        let (_, record) = try await tenant(request, context, .read)
        let tokens = try await initialAccessTokens.list(tenantID: record.tenant.id)
        return Self.listResponse(tokens.map(Self.json), nextCursor: nil)
    }

    @Sendable func revokeInitialAccessToken(request: Request, context: AppRequestContext) async throws -> Response {
        let (principal, record) = try await tenant(request, context, .write)
        let id = try context.parameters.require("id")
        let audit = principal.actor("initial_access_token.revoked", context, details: ["token_id": .string(id)])
        guard try await initialAccessTokens.revoke(tenantID: record.tenant.id, id: id, at: now(), audit: audit) else { throw Problem.notFound }
        return Response(status: .noContent)
    }

    // MARK: - Admin keys

    static func json(_ key: AdminKey, tenantSlug: String?) -> JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(key.id),
            "role": .string(key.role.rawValue),
            "created_at": timestamp(key.createdAt)!,
            "revoked": .bool(key.revokedAt != nil),
        ]
        if let tenantSlug { object["tenant"] = .string(tenantSlug) }
        if !key.label.isEmpty { object["label"] = .string(key.label) }
        if let used = timestamp(key.lastUsedAt) { object["last_used_at"] = used }
        if let revoked = timestamp(key.revokedAt) { object["revoked_at"] = revoked }
        return .object(object)
    }

    func createKey(_ request: Request, _ context: AppRequestContext, tenant: TenantRecord?, principal: AdminPrincipal) async throws -> Response {
        let body = try await body(request, allowed: ["role", "label"])
        let roleName = try Self.string(body, "role", required: true)!
        guard let role = AdminKey.Role(rawValue: roleName), (role == .platform) == (tenant == nil) else {
            throw Problem.invalid("role", tenant == nil ? "must be platform" : "must be admin, viewer or service")
        }
        let (key, presented) = try await AdminKeyService(hasher: hasher, keys: keys, tags: verifier.tags, now: now).create(
            role: role, tenantID: tenant?.tenant.id, label: try Self.string(body, "label") ?? "",
            audit: principal.actor("admin_key.created", context))
        guard case .object(var object) = Self.json(key, tenantSlug: tenant?.tenant.slug) else { throw Problem(.internalError) }
        object["key"] = .string(presented)
        return .json(.object(object), status: .created, headers: [.cacheControl: "no-store"])
    }

    @Sendable func createPlatformKey(request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try await requirePlatform(request, context)
        return try await createKey(request, context, tenant: nil, principal: principal)
    }

    @Sendable func listPlatformKeys(request: Request, context: AppRequestContext) async throws -> Response {
        _ = try await requirePlatform(request, context)
        return Self.listResponse(try await keys.list(tenantID: nil).map { Self.json($0, tenantSlug: nil) }, nextCursor: nil)
    }

    @Sendable func createTenantKey(request: Request, context: AppRequestContext) async throws -> Response {
        let (principal, record) = try await tenant(request, context, .write)
        return try await createKey(request, context, tenant: record, principal: principal)
    }

    @Sendable func listTenantKeys(request: Request, context: AppRequestContext) async throws -> Response {
        let (_, record) = try await tenant(request, context, .read)
        return Self.listResponse(try await keys.list(tenantID: record.tenant.id).map { Self.json($0, tenantSlug: record.tenant.slug) }, nextCursor: nil)
    }

    /// A platform key may revoke any key; a tenant admin only its own tenant's keys.
    @Sendable func revokeKey(request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try await principal(request, context)
        let id = try context.parameters.require("id")
        guard let key = try await keys.find(id: id), principal.isPlatform || (key.tenantID != nil && key.tenantID == principal.key.tenantID)
        else { throw Problem.notFound }
        guard principal.isPlatform || principal.key.role == .admin else { throw Problem(.forbidden, "only admin keys may revoke keys") }
        guard try await keys.revoke(key, at: now(), audit: principal.actor("admin_key.revoked", context, details: ["key_id": .string(id)])) else {
            throw Problem.notFound
        }
        return Response(status: .noContent)
    }
}

/// Creates admin keys for the API, the CLI and the bootstrap option alike.
public struct AdminKeyService: Sendable {
    let hasher: Argon2Hasher
    let keys: any AdminKeyRepository
    /// The pre-check key (design §4); without one (tools that do not know it) keys are stored
    /// untagged and get their tag at their first successful use.
    let tags: TokenTagKey?
    let now: @Sendable () -> Date

    public init(hasher: Argon2Hasher, keys: any AdminKeyRepository, tags: TokenTagKey? = nil, now: @escaping @Sendable () -> Date = { Date() }) {
        self.hasher = hasher
        self.keys = keys
        self.tags = tags
        self.now = now
    }

    /// Returns the stored key and its one-time presentation `rk_{id}.{secret}`.
    public func create(role: AdminKey.Role, tenantID: UUID?, label: String, audit: AuditEvent?) async throws -> (AdminKey, String) {
        try Label.check(label)
        let (id, presented) = AdminKey.generate()
        let key = AdminKey(id: id, tenantID: tenantID, role: role, label: label, secretHash: try await hasher.hash(presented, tenant: tenantID), createdAt: now(),
                           secretTag: tags?.tag(presented))
        var event = audit
        event?.details["key_id"] = .string(id)
        event?.details["role"] = .string(role.rawValue)
        try await keys.insert(key, audit: event)
        return (key, presented)
    }

    /// Stores an operator-supplied platform key (`REGISTRAR_BOOTSTRAP_KEY`) once, so a new
    /// container has a first key without a shell. Returns false when it already exists.
    public func bootstrap(_ presented: String) async throws -> Bool {
        guard let id = AdminKey.parse(presented) else {
            throw ConfigError("the bootstrap key must look like rk_{16 letters or digits}.{43 base64url characters}")
        }
        if try await keys.find(id: id) != nil { return false }
        let key = AdminKey(id: id, tenantID: nil, role: .platform, label: "bootstrap", secretHash: try await hasher.hash(presented), createdAt: now(),
                           secretTag: tags?.tag(presented))
        try await keys.insert(key, audit: nil)
        return true
    }
}
