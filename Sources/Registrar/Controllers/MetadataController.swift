import Hummingbird

/// RFC 8414 authorization server metadata for each tenant, at every URL clients try:
/// host-based (`/.well-known/…`), path-inserted (`/.well-known/…/t/{slug}`, RFC 8414 §3.1) and
/// path-appended (`/t/{slug}/.well-known/…`, what OIDC discovery and some SDKs do).
/// `openid-configuration` serves the same document.
struct MetadataController: Sendable {
    let resolver: TenantResolver
    let serviceDocumentation: String?
    let prepared: PreparedDocumentCache

    init(resolver: TenantResolver, serviceDocumentation: String?, prepared: PreparedDocumentCache = PreparedDocumentCache()) {
        self.resolver = resolver
        self.serviceDocumentation = serviceDocumentation
        self.prepared = prepared
    }

    static let documents = ["oauth-authorization-server", "openid-configuration"]

    func addRoutes(to router: Router<AppRequestContext>) {
        for document in Self.documents {
            router.get("/.well-known/\(document)", use: metadata)
            router.get("/.well-known/\(document)/t/:tenant", use: metadata)
            router.get("/t/:tenant/.well-known/\(document)", use: metadata)
        }
    }

    @Sendable func metadata(request: Request, context: AppRequestContext) async throws -> Response {
        let resolved = try await resolver.resolve(context)
        let key = PreparedDocumentCache.Key(document: "authorization-server-metadata", tenantID: resolved.tenant.id,
                                            policyVersion: resolved.tenant.policyVersion, issuer: resolved.issuer)
        let bytes = prepared.bytes(for: key) { .object(Self.document(for: resolved, serviceDocumentation: serviceDocumentation)) }
        return Response(status: .ok, headers: Self.headers, body: .init(byteBuffer: bytes))
    }

    static let headers: HTTPFields = [.contentType: "application/json", .cacheControl: "public, max-age=60"]

    /// RFC 8414 §2: MUST be present whenever `private_key_jwt` (or `client_secret_jwt`) is among
    /// the auth methods; asymmetric algorithms only, "none" never, RS256 among them.
    static let clientAssertionSigningAlgorithms = SoftwareStatementVerifier.acceptedAlgorithms.sorted()

    /// Only what the server really does, and no member without a value (RFC 8414 §2).
    static func document(for resolved: ResolvedTenant, serviceDocumentation: String?) -> [String: JSONValue] {
        let policy = resolved.tenant.policy
        var document: [String: JSONValue] = [
            "issuer": .string(resolved.issuer),
            "registration_endpoint": .string(resolved.registrationEndpoint),
            "response_types_supported": .array([.string(ResponseType.code.rawValue)]),
            "grant_types_supported": .array(policy.grantTypes.map { .string($0.rawValue) }),
            "token_endpoint_auth_methods_supported": .array(policy.tokenEndpointAuthMethods.map { .string($0.rawValue) }),
            "code_challenge_methods_supported": .array([.string("S256")]),
        ]
        if policy.tokenEndpointAuthMethods.contains(.privateKeyJWT) {
            document["token_endpoint_auth_signing_alg_values_supported"] = .array(clientAssertionSigningAlgorithms.map(JSONValue.string))
        }
        if !policy.allowedScopes.isEmpty {
            document["scopes_supported"] = .array(policy.allowedScopes.map(JSONValue.string))
        }
        if let serviceDocumentation, !serviceDocumentation.isEmpty {
            document["service_documentation"] = .string(serviceDocumentation)
        }
        return document
    }
}
