import Foundation

/// Registers resource servers and issues their credentials, with the same rules and the same
/// output for the admin API and the CLI.
public struct ResourceServerService: Sendable {
    let servers: any ResourceServerRepository
    let hasher: Argon2Hasher
    /// The pre-check key (design §4); tools that do not know it store the credential untagged,
    /// and it gets its tag at its first successful use.
    let tags: TokenTagKey?
    let now: @Sendable () -> Date

    public init(servers: any ResourceServerRepository, hasher: Argon2Hasher, tags: TokenTagKey?, now: @escaping @Sendable () -> Date = { Date() }) {
        self.servers = servers
        self.hasher = hasher
        self.tags = tags
        self.now = now
    }

    public static let maximumScopes = 100
    public static let maximumDisplayName = 200

    /// A refused input: which field, and why, in words an admin can act on.
    public struct Refused: Error, Equatable {
        public let field: String
        public let reason: String
    }

    // MARK: - Rules

    public static func resource(_ raw: String) throws(Refused) -> ResourceIndicator {
        do {
            return try ResourceIndicator.registrable(raw)
        } catch {
            throw Refused(field: "resource", reason: error.reason)
        }
    }

    public static func displayName(_ name: String) throws(Refused) -> String {
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty else { throw Refused(field: "display_name", reason: "must not be empty") }
        guard name.unicodeScalars.count <= maximumDisplayName else {
            throw Refused(field: "display_name", reason: "must be at most \(maximumDisplayName) characters")
        }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw Refused(field: "display_name", reason: "must not contain control characters")
        }
        return name
    }

    /// RFC 6749 §3.3 scope tokens, each once, and each one the tenant's policy lets clients ask
    /// for: a scope the authorization server never grants would only make the MCP server's
    /// clients fail later, far from the cause.
    public static func scopes(_ scopes: [String], policy: RegistrationPolicy) throws(Refused) -> [String] {
        guard scopes.count <= maximumScopes else { throw Refused(field: "scopes", reason: "must name at most \(maximumScopes) scopes") }
        var seen: Set<String> = []
        for scope in scopes {
            guard scope.utf8.count <= 200, ScopeSyntax.isValidToken(scope) else {
                throw Refused(field: "scopes", reason: "every scope must be a scope token of at most 200 characters (RFC 6749 §3.3)")
            }
            guard seen.insert(scope).inserted else { throw Refused(field: "scopes", reason: "'\(scope)' is listed twice") }
            if !policy.allowedScopes.isEmpty && !policy.allowedScopes.contains(scope) {
                throw Refused(field: "scopes", reason: "'\(scope)' is not in the tenant policy's allowed_scopes; add it there first")
            }
        }
        return scopes
    }

    /// Every issuer the tenant is reached under (design §3), the preferred first: its own host
    /// (a custom domain, else `{slug}.{base domain}`), then the path issuer on the platform host.
    /// Its own origin is preferred because the browser then keeps its sessions apart from every
    /// other tenant's.
    public static func issuers(slug: String, domains: [String], publicBaseURL: String, baseDomain: String?) -> [String] {
        var issuers = domains.sorted().map { "https://\($0)" }
        if let baseDomain { issuers.append("https://\(slug).\(baseDomain)") }
        issuers.append("\(publicBaseURL)/t/\(slug)")
        return issuers
    }

    // MARK: - Changes

    /// Stores a new resource server; returns it with its credential, which exists nowhere else.
    public func create(tenantID: UUID, resource: ResourceIndicator, displayName: String, scopes: [String], isDefault: Bool,
                       audit: AuditEvent) async throws -> (ResourceServer, String) {
        let credential = ResourceServer.generateCredential()
        let hash = try await hasher.hash(credential, tenant: tenantID)
        let now = now()
        let server = ResourceServer(tenantID: tenantID, id: ResourceServer.generateID(), uri: resource, displayName: displayName, scopes: scopes,
                                    isDefault: isDefault, credentialHash: hash, credentialTag: tags?.tag(credential), createdAt: now, updatedAt: now)
        var event = audit
        event.details.merge(Self.auditDetails(server)) { $1 }
        try await servers.create(server, audit: event)
        return (server, credential)
    }

    /// A new credential; the old one stops working at once (its hash is gone, so the
    /// verified-token cache cannot accept it either). Nil when there is no such resource server.
    public func rotateCredential(id: String, tenantID: UUID, audit: AuditEvent) async throws -> (ResourceServer, String)? {
        guard ResourceServer.isIssuedID(id) else { return nil }
        let credential = ResourceServer.generateCredential()
        let hash = try await hasher.hash(credential, tenant: tenantID)
        let tag = tags?.tag(credential)
        let now = now()
        let rotated = try await servers.modify(id: id, tenant: tenantID, audit: { server in
            var event = audit
            event.details.merge(Self.auditDetails(server)) { $1 }
            return event
        }) { current in
            var server = current
            server.credentialHash = hash
            server.credentialTag = tag
            server.updatedAt = now
            return server
        }
        return rotated.map { ($0, credential) }
    }

    public static func auditDetails(_ server: ResourceServer) -> [String: JSONValue] {
        ["resource_server_id": .string(server.id), "resource": .string(server.audience)]
    }

    // MARK: - Output

    /// What an admin sees of a resource server: never its credential or hash; with what the MCP
    /// server must publish for clients of `issuer` (RFC 9728 document, its URL, the 401 challenge).
    public static func json(_ server: ResourceServer, issuer: String) -> JSONValue {
        let metadata = ProtectedResourceMetadata(server: server, issuer: issuer)
        var object: [String: JSONValue] = [
            "id": .string(server.id),
            "resource": .string(server.audience),
            "display_name": .string(server.displayName),
            "default": .bool(server.isDefault),
            "created_at": .string(server.createdAt.formatted(.iso8601)),
            "updated_at": .string(server.updatedAt.formatted(.iso8601)),
            "issuer": .string(issuer),
            "jwks_uri": .string(issuer + "/jwks.json"),
            "introspection_endpoint": .string(issuer + "/introspect"),
            "protected_resource_metadata": metadata.document,
            "protected_resource_metadata_url": .string(metadata.url),
            "www_authenticate": .string(metadata.wwwAuthenticate),
        ]
        if !server.scopes.isEmpty { object["scopes"] = .array(server.scopes.map(JSONValue.string)) }
        if let used = server.lastUsedAt { object["last_used_at"] = .string(used.formatted(.iso8601)) }
        return .object(object)
    }
}
