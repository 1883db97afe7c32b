import Hummingbird

/// `GET {issuer}/jwks.json` (RFC 7517 §5): the public keys a resource server verifies the
/// tenant's access tokens and ID tokens with: the signing key and every retired key whose tokens
/// may still be alive. CORS is open on it (browser-based MCP clients fetch it).
struct JWKSController: Sendable {
    let resolver: TenantResolver
    let keys: SigningKeyStore
    let prepared: PreparedDocumentCache

    init(resolver: TenantResolver, keys: SigningKeyStore, prepared: PreparedDocumentCache = PreparedDocumentCache()) {
        self.resolver = resolver
        self.keys = keys
        self.prepared = prepared
    }

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/jwks.json", use: jwks)
        router.get("/t/:tenant/jwks.json", use: jwks)
    }

    /// Short enough that a verifier that caches for as long as told still sees a rotation soon
    /// (and verifiers refetch on an unknown kid anyway); long enough that resource servers do not
    /// fetch it on every request. A retired key stays published far longer than this
    /// (`SigningKeyStore.retirementMargin` past its last token), so no cached copy ever lacks a
    /// key that a live token needs, except the newest one for at most this long.
    static let headers: HTTPFields = [.contentType: "application/json", .cacheControl: "public, max-age=300"]

    @Sendable func jwks(request: Request, context: AppRequestContext) async throws -> Response {
        let resolved = try await resolver.resolve(context)
        let members = try await keys.publishedJWKs(tenantID: resolved.tenant.id)
        // The document depends only on which keys are published: prepared once per key set.
        let kids = members.compactMap { $0.objectValue?["kid"]?.stringValue }.joined(separator: ",")
        let key = PreparedDocumentCache.Key(document: "jwks:" + kids, tenantID: resolved.tenant.id, policyVersion: 0, issuer: "")
        let bytes = prepared.bytes(for: key) { .object(["keys": .array(members)]) }
        return Response(status: .ok, headers: Self.headers, body: .init(byteBuffer: bytes))
    }
}
