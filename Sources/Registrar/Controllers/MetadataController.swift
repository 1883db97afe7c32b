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
            let openID = document == "openid-configuration"
            let handler: @Sendable (Request, AppRequestContext) async throws -> Response = { request, context in
                try await metadata(request: request, context: context, openID: openID)
            }
            router.get("/.well-known/\(document)", use: handler)
            router.get("/.well-known/\(document)/t/:tenant", use: handler)
            router.get("/t/:tenant/.well-known/\(document)", use: handler)
        }
    }

    /// `openID`: the `openid-configuration` document, a superset of the RFC 8414 one.
    @Sendable func metadata(request: Request, context: AppRequestContext, openID: Bool) async throws -> Response {
        let resolved = try await resolver.resolve(context)
        let key = PreparedDocumentCache.Key(document: openID ? "openid-configuration" : "authorization-server-metadata", tenantID: resolved.tenant.id,
                                            policyVersion: resolved.tenant.policyVersion, issuer: resolved.issuer)
        let bytes = prepared.bytes(for: key) {
            .object(openID ? Self.openIDDocument(for: resolved, serviceDocumentation: serviceDocumentation)
                           : Self.document(for: resolved, serviceDocumentation: serviceDocumentation))
        }
        return Response(status: .ok, headers: Self.headers, body: .init(byteBuffer: bytes))
    }

    static let headers: HTTPFields = [.contentType: "application/json", .cacheControl: "public, max-age=60"]

    /// RFC 8414 §2: MUST be present whenever `private_key_jwt` (or `client_secret_jwt`) is among
    /// the auth methods; asymmetric algorithms only, "none" never, RS256 among them.
    static let clientAssertionSigningAlgorithms = SoftwareStatementVerifier.acceptedAlgorithms.sorted()

    /// The claims an ID token or `/userinfo` may carry (OIDC Discovery §3 `claims_supported`).
    static let supportedClaims = ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "email", "email_verified", "name"]

    /// The client authentication methods of `/introspect`: the tenant's own, without `none`
    /// (RFC 7662 §2.1: the endpoint MUST require authorization), and always the secret methods
    /// its resource servers use.
    static func introspectionAuthMethods(_ policy: RegistrationPolicy) -> [String] {
        var methods = policy.tokenEndpointAuthMethods.filter { $0 != TokenEndpointAuthMethod.none }.map(\.rawValue)
        for method in [TokenEndpointAuthMethod.clientSecretBasic, .clientSecretPost] where !methods.contains(method.rawValue) {
            methods.append(method.rawValue)
        }
        return methods
    }

    /// Only what the server really does, and no member without a value (RFC 8414 §2).
    static func document(for resolved: ResolvedTenant, serviceDocumentation: String?) -> [String: JSONValue] {
        let policy = resolved.tenant.policy
        let issuer = resolved.issuer
        let authMethods = policy.tokenEndpointAuthMethods.map { JSONValue.string($0.rawValue) }
        let introspectionMethods = introspectionAuthMethods(policy)
        var document: [String: JSONValue] = [
            "issuer": .string(issuer),
            "registration_endpoint": .string(resolved.registrationEndpoint),
            // RFC 8414 §2: REQUIRED unless no grant type uses the authorization endpoint.
            "authorization_endpoint": .string(issuer + "/authorize"),
            "token_endpoint": .string(issuer + "/token"),
            "revocation_endpoint": .string(issuer + "/revoke"),
            "introspection_endpoint": .string(issuer + "/introspect"),
            "jwks_uri": .string(issuer + "/jwks.json"),
            "userinfo_endpoint": .string(issuer + "/userinfo"),
            "response_types_supported": .array([.string(ResponseType.code.rawValue)]),
            // Authorization responses are query parameters of the redirect (RFC 6749 §4.1.2).
            "response_modes_supported": .array([.string("query")]),
            "grant_types_supported": .array(policy.grantTypes.map { .string($0.rawValue) }),
            "token_endpoint_auth_methods_supported": .array(authMethods),
            // RFC 7009 §2.1: public clients revoke with their client_id alone, so `none` stays.
            "revocation_endpoint_auth_methods_supported": .array(authMethods),
            "introspection_endpoint_auth_methods_supported": .array(introspectionMethods.map(JSONValue.string)),
            "code_challenge_methods_supported": .array([.string("S256")]),
            // RFC 9207 §3: every authorization response, errors included, carries `iss`.
            "authorization_response_iss_parameter_supported": .bool(true),
            // OIDC Discovery §3: access and ID tokens are signed with the tenant's ES256 key, and
            // `sub` is the same for every client.
            "id_token_signing_alg_values_supported": .array([.string(AccessTokenIssuer.algorithm)]),
            "subject_types_supported": .array([.string("public")]),
        ]
        // draft-ietf-oauth-client-id-metadata-document-01 §5: said only where the tenant accepts
        // documents; `none` stays among the methods, which is when Claude chooses a document.
        if policy.metadataDocuments.enabled {
            document["client_id_metadata_document_supported"] = .bool(true)
        }
        if policy.tokenEndpointAuthMethods.contains(.privateKeyJWT) {
            let algorithms = JSONValue.array(clientAssertionSigningAlgorithms.map(JSONValue.string))
            document["token_endpoint_auth_signing_alg_values_supported"] = algorithms
            document["revocation_endpoint_auth_signing_alg_values_supported"] = algorithms
            document["introspection_endpoint_auth_signing_alg_values_supported"] = algorithms
        }
        if !policy.allowedScopes.isEmpty {
            document["scopes_supported"] = .array(policy.allowedScopes.map(JSONValue.string))
        }
        if let serviceDocumentation, !serviceDocumentation.isEmpty {
            document["service_documentation"] = .string(serviceDocumentation)
        }
        return document
    }

    /// The OpenID Provider metadata: the same document, plus what OIDC Discovery §3 adds.
    /// `request_uri_parameter_supported` defaults to true there, so it is said to be false: no
    /// request objects are accepted.
    static func openIDDocument(for resolved: ResolvedTenant, serviceDocumentation: String?) -> [String: JSONValue] {
        var document = document(for: resolved, serviceDocumentation: serviceDocumentation)
        document["claims_supported"] = .array(supportedClaims.map(JSONValue.string))
        document["request_uri_parameter_supported"] = .bool(false)
        return document
    }
}
