import Foundation
import HTTPTypes
import Hummingbird

/// `GET` and `POST {issuer}/userinfo` (OpenID Connect Core §5.3): the signed-in user's claims,
/// for an access token of this tenant that carries the `openid` scope. The token is a Bearer
/// token (RFC 6750); it must verify (`AccessTokenValidator`) and must not be on the revocation
/// list, since a revoked token must stop working at once.
struct UserinfoController: Sendable {
    let resolver: TenantResolver
    let validator: AccessTokenValidator
    let revocations: any TokenGrantRepository
    let users: any UserRepository
    let maximumBodyBytes: Int

    func addRoutes(to router: Router<AppRequestContext>) {
        for path in ["/userinfo", "/t/:tenant/userinfo"] {
            router.get(RouterPath(path), use: userinfo)
            router.post(RouterPath(path), use: userinfo)
        }
    }

    /// RFC 6750 §3: every refusal carries a `Bearer` challenge naming the realm (the issuer);
    /// §3.1: `invalid_request` 400, `invalid_token` 401, `insufficient_scope` 403 with the scope
    /// needed; a request with no credential at all gets the challenge without an error code.
    struct Refusal: Error, HTTPResponseError {
        enum Kind { case noToken, invalidRequest, invalidToken, insufficientScope }
        let kind: Kind
        let realm: String
        let detail: String

        var status: HTTPResponse.Status {
            switch kind {
            case .noToken, .invalidToken: .unauthorized
            case .invalidRequest: .badRequest
            case .insufficientScope: .forbidden
            }
        }

        var oauthError: OAuthError {
            switch kind {
            case .noToken: OAuthError(.invalidToken, detail)
            case .invalidRequest: OAuthError(.invalidRequest, detail)
            case .invalidToken: OAuthError(.invalidToken, detail)
            case .insufficientScope: OAuthError(.insufficientScope, detail)
            }
        }

        var challenge: String {
            let realm = "Bearer realm=\"\(Self.quoted(realm))\""
            switch kind {
            case .noToken: return realm
            case .invalidRequest: return realm + ", error=\"invalid_request\", error_description=\"\(Self.quoted(detail))\""
            case .invalidToken: return realm + ", error=\"invalid_token\", error_description=\"\(Self.quoted(detail))\""
            case .insufficientScope:
                return realm + ", error=\"insufficient_scope\", error_description=\"\(Self.quoted(detail))\", scope=\"openid\""
            }
        }

        /// RFC 6750 §3: quoted-string values; nothing here contains a quote or backslash, but
        /// the issuer comes from configuration, so escape anyway.
        static func quoted(_ value: String) -> String {
            value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        }

        func response(from request: Request, context: some RequestContext) throws -> Response {
            Response.json(oauthError.jsonBody, status: status,
                          headers: [.cacheControl: "no-store", .pragma: "no-cache", .wwwAuthenticate: challenge])
        }
    }

    @Sendable func userinfo(request: Request, context: AppRequestContext) async throws -> Response {
        let tenant = try await resolver.resolve(context)
        let token = try await bearerToken(request, realm: tenant.issuer)
        func invalid(_ detail: String) -> Refusal { Refusal(kind: .invalidToken, realm: tenant.issuer, detail: detail) }
        let verified: VerifiedAccessToken
        do {
            verified = try await validator.validate(token, tenant: tenant)
        } catch is AccessTokenValidator.Rejected {
            throw invalid("the access token is malformed, expired or not issued here")
        }
        guard try await !revocations.isAccessTokenRevoked(jti: verified.jti, tenantID: tenant.tenant.id) else {
            throw invalid("the access token has been revoked")
        }
        // OIDC Core §5.3.1: the UserInfo endpoint serves tokens granted with `openid` only.
        guard verified.scopes.contains("openid") else {
            throw Refusal(kind: .insufficientScope, realm: tenant.issuer, detail: "the access token was not granted the openid scope")
        }
        // A token of a client alone (client_credentials) or of a user since deleted or
        // disabled has no one to describe.
        guard let userID = UUID(uuidString: verified.subject),
              let user = try await users.find(id: userID, tenant: tenant.tenant.id), user.status == .active
        else { throw invalid("the access token's user is not known here") }
        return .json(.object(Self.claims(of: user, subject: verified.subject, scopes: Set(verified.scopes))),
                     headers: [.cacheControl: "no-store", .pragma: "no-cache"])
    }

    /// OIDC Core §5.3.2: `sub` always, exactly as in the tokens; §5.4: `email` and
    /// `email_verified` for the `email` scope, `name` for `profile` (when the user has one).
    static func claims(of user: User, subject: String, scopes: Set<String>) -> [String: JSONValue] {
        var claims: [String: JSONValue] = ["sub": .string(subject)]
        if scopes.contains("email") {
            claims["email"] = .string(user.email)
            claims["email_verified"] = .bool(user.emailVerified)
        }
        if scopes.contains("profile"), !user.displayName.isEmpty {
            claims["name"] = .string(user.displayName)
        }
        return claims
    }

    /// RFC 6750 §2.1 (header) and, on POST, §2.2 (form body `access_token`); §2.3 (query) is not
    /// offered, since URLs end up in logs. RFC 6750 §2: a client MUST NOT use more than one method
    /// in one request, so a token in both places is a malformed request.
    func bearerToken(_ request: Request, realm: String) async throws -> String {
        var header: String?
        if let authorization = request.headers[.authorization] {
            let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                header = parts[1].trimmingCharacters(in: .whitespaces)
            } else {
                throw Refusal(kind: .invalidRequest, realm: realm, detail: "the Authorization header must carry a Bearer token")
            }
        }
        var body: String?
        if request.method == .post, let contentType = request.headers[.contentType], FormBody.isFormContentType(contentType) {
            let form: FormBody
            do {
                form = try await FormBody.read(request, limit: maximumBodyBytes)
            } catch let error as OAuthError {
                throw Refusal(kind: .invalidRequest, realm: realm, detail: error.errorDescription ?? "the form body is malformed")
            }
            body = form["access_token"]
        }
        switch (header, body) {
        case (let token?, nil), (nil, let token?):
            guard !token.isEmpty, token.utf8.count <= CompactJWS.maximumLength else {
                throw Refusal(kind: .invalidToken, realm: realm, detail: "the access token is malformed")
            }
            return token
        case (.some, .some):
            throw Refusal(kind: .invalidRequest, realm: realm, detail: "the access token must be sent in one place only (RFC 6750 §2)")
        case (nil, nil):
            throw Refusal(kind: .noToken, realm: realm, detail: "a Bearer access token is required")
        }
    }
}
