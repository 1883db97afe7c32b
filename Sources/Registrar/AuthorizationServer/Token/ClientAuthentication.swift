import Foundation
import HTTPTypes
import Hummingbird

/// RFC 6749 §5.2 `invalid_client`: one answer for every client authentication failure (unknown
/// client, wrong or expired secret, wrong method, bad assertion, disabled client), so nothing can
/// be learnt about which clients exist. RFC 6749 §5.2: when the client tried HTTP Basic the
/// answer MUST be 401 with a `WWW-Authenticate` challenge for the scheme it used.
struct InvalidClient: Error, HTTPResponseError, Equatable {
    /// The realm of the Basic challenge, when Basic was used.
    let basicRealm: String?

    var status: HTTPResponse.Status { .unauthorized }

    var oauthError: OAuthError { OAuthError(.invalidClient, "client authentication failed") }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try oauthError.response(from: request, context: context)
        if let basicRealm {
            response.headers[.wwwAuthenticate] = "Basic realm=\"\(basicRealm)\", charset=\"UTF-8\""
        }
        return response
    }
}

/// How a client presented itself at the token, revocation or introspection endpoint.
struct ClientPresentation: Sendable, Equatable {
    let clientID: String
    let method: TokenEndpointAuthMethod
    let secret: String?
    let assertion: String?

    var usedBasic: Bool { method == .clientSecretBasic }

    /// Reads the credentials of one request, without touching the database. RFC 6749 §2.3: "The
    /// client MUST NOT use more than one authentication method in each request", so a request
    /// that carries two is malformed. Returns nil when the request names no client at all.
    static func read(form: FormBody, authorization: String?) throws -> ClientPresentation? {
        var basic: BasicCredentials?
        if let authorization { basic = try BasicCredentials.parse(authorization: authorization) }
        let formSecret = form["client_secret"]
        let assertion = form["client_assertion"]
        let methods = [basic != nil, formSecret != nil, assertion != nil].filter { $0 }.count
        guard methods <= 1 else {
            throw OAuthError(.invalidRequest, "the request uses more than one client authentication method (RFC 6749 §2.3)")
        }
        if let basic {
            // RFC 6749 §2.3.1: a client_id in the body beside Basic must name the same client.
            if let named = form["client_id"], named != basic.clientID { throw InvalidClient(basicRealm: "") }
            return ClientPresentation(clientID: basic.clientID, method: .clientSecretBasic, secret: basic.secret, assertion: nil)
        }
        if let assertion {
            // RFC 7523 §2.2: the type names the assertion format; only JWTs are accepted.
            guard form["client_assertion_type"] == ClientAssertionVerifier.assertionType else {
                throw OAuthError(.invalidRequest, "client_assertion_type must be \(ClientAssertionVerifier.assertionType)")
            }
            // RFC 7523 §3 item 2: the subject is the client_id; `client_id` in the body is optional.
            guard let clientID = form["client_id"] ?? unverifiedSubject(of: assertion) else { return nil }
            return ClientPresentation(clientID: clientID, method: .privateKeyJWT, secret: nil, assertion: assertion)
        }
        guard let clientID = form["client_id"] else { return nil }
        if let formSecret {
            return ClientPresentation(clientID: clientID, method: .clientSecretPost, secret: formSecret, assertion: nil)
        }
        return ClientPresentation(clientID: clientID, method: .none, secret: nil, assertion: nil)
    }

    /// The `sub` of an assertion, read only to find the client whose keys then verify it.
    static func unverifiedSubject(of assertion: String) -> String? {
        let parts = assertion.split(separator: ".", omittingEmptySubsequences: false)
        guard assertion.utf8.count <= 16_384, parts.count == 3 else { return nil }
        return SoftwareStatementVerifier.decodeSegment(parts[1])?["sub"]?.stringValue
    }

    /// Whether `clientID` could name a client of this server: an issued `cl_…` id, or an https
    /// URL (a client ID metadata document). Anything else is refused before any lookup.
    static func isPlausibleClientID(_ clientID: String) -> Bool {
        RegistrationAccessTokenAuthenticator.isIssuedClientID(clientID)
            || (clientID.hasPrefix("https://") && clientID.utf8.count <= URIParser.maximumLength)
    }
}

/// Authenticates the client of a token, revocation or introspection request with the method it
/// registered and only that one (RFC 6749 §2.3, OAuth 2.1 §2.4; RFC 7591 §2
/// `token_endpoint_auth_method`). Secrets go through `TokenVerifier`: the keyed tag first, then
/// the verified-token cache, argon2 only for a secret not seen in the last minute, so a client
/// that refreshes every few minutes does not pay argon2 each time.
struct ClientAuthenticator: Sendable {
    let clients: any ClientRepository
    /// Where a grant's credential is read beside the client.
    let credentials: any TokenGrantRepository
    /// Clients whose `client_id` is the URL of their metadata document.
    let documents: MetadataDocumentClients
    let verifier: TokenVerifier
    let assertions: ClientAssertionVerifier
    let limiter: any RateLimiter
    let failures: FailedAuthenticationRecorder
    let platform: PlatformRateLimits
    let now: @Sendable () -> Date

    struct Authenticated: Sendable {
        let client: RegisteredClient
        let method: TokenEndpointAuthMethod
        /// The grant's credential, when it was read in the client's lookup; nil when it was not read.
        var credential: GrantCredentialRead? = nil

        /// RFC 6749 §2.1: a client that can keep a credential.
        var isConfidential: Bool { method != .none }
    }

    /// - Parameters:
    ///   - endpoint: the URL of the endpoint called, which a `private_key_jwt` assertion's `aud`
    ///     may name besides the issuer and the token endpoint (RFC 7523 §3 item 3).
    ///   - credential: a grant's code or refresh token, read in the client's lookup statement
    ///     where that statement is the database's (returned in `Authenticated.credential`).
    func authenticate(_ request: Request, form: FormBody, tenant: ResolvedTenant, endpoint: String,
                      context: AppRequestContext, alongWith credential: GrantCredential? = nil) async throws -> Authenticated {
        let tenantID = tenant.tenant.id
        let limits = tenant.tenant.policy.rateLimits
        let address = context.limitAddress
        let presentation: ClientPresentation?
        do {
            presentation = try ClientPresentation.read(form: form, authorization: request.headers[.authorization])
        } catch is InvalidClient {
            throw InvalidClient(basicRealm: tenant.issuer)
        } catch let error as OAuthError where error.code == .invalidClient {
            throw InvalidClient(basicRealm: tenant.issuer)
        }
        guard let presentation else { throw InvalidClient(basicRealm: nil) }
        let refusal = InvalidClient(basicRealm: presentation.usedBasic ? tenant.issuer : nil)
        // An address that failed too often is refused before any hashing; where the limiter's
        // state is in PostgreSQL, its look shares the client's lookup statement.
        let checks: [RateLimitCheck] = [
            .platformFailures(from: address, limits: platform),
            .failures(from: address, tenantID: tenantID, limit: limits.failedAuthenticationsPerAddress),
        ]
        let isDocument = MetadataDocument.isDocumentURL(presentation.clientID)
        let shared = limiter.checksShareLookups && ClientPresentation.isPlausibleClientID(presentation.clientID) && !isDocument
        if !shared { try await limiter.check(checks) }
        var document: RegisteredClient?
        if isDocument && ClientPresentation.isPlausibleClientID(presentation.clientID) {
            // A document that cannot be fetched or is refused authenticates nothing. That is no
            // failed authentication of the caller: its host's outage must not lock out the
            // address that all of one MCP client's users share.
            do {
                document = try await documents.client(presentation.clientID, tenant: tenant, address: address)
            } catch is MetadataDocument.Refusal {
                throw refusal
            }
        }
        // Only a public client's grant may be redeemed or spent in its lookup (`PlannedRedemption`,
        // `PlannedRefresh`): a client that presents credentials is judged by them first.
        let read = presentation.method == .none ? credential : credential?.withoutSpending
        do {
            return try await verify(presentation, tenantID: tenantID, audiences: [tenant.issuer, tenant.issuer + "/token", endpoint],
                                    checking: shared ? checks : [], document: document, alongWith: shared ? read : nil)
        } catch is InvalidClient {
            await failures.record(tenantID: tenantID, source: context.sourceAddress, limitAddress: address,
                                  limit: limits.failedAuthenticationsPerAddress, credential: "client_credentials", requestID: context.requestID)
            throw refusal
        }
    }

    /// - Parameters:
    ///   - checks: limiter checks to run in the client's lookup statement.
    ///   - document: the client of a metadata document, already found; nothing is looked up then.
    ///   - credential: a grant's credential to read in the lookup statement (with `checks` only);
    ///     what was read is handed on only with a client that authenticated.
    func verify(_ presentation: ClientPresentation, tenantID: UUID, audiences: Set<String>,
                checking checks: [RateLimitCheck] = [], document: RegisteredClient? = nil,
                alongWith credential: GrantCredential? = nil) async throws -> Authenticated {
        guard ClientPresentation.isPlausibleClientID(presentation.clientID) else { throw InvalidClient(basicRealm: nil) }
        let found: RegisteredClient?
        var read: GrantCredentialRead?
        if let document {
            found = document
        } else if let credential, !checks.isEmpty {
            (found, read) = try await credentials.findClient(tenantID: tenantID, clientID: presentation.clientID,
                                                             afterChecking: checks, alongWith: credential)
        } else {
            found = try await clients.find(tenantID: tenantID, clientID: presentation.clientID, afterChecking: checks)
        }
        let client = try await verify(presentation, as: found, tenantID: tenantID, audiences: audiences)
        return Authenticated(client: client, method: presentation.method, credential: read)
    }

    /// Whether `found` is an active client that registered the method presented and proves it.
    func verify(_ presentation: ClientPresentation, as found: RegisteredClient?, tenantID: UUID,
                audiences: Set<String>) async throws -> RegisteredClient {
        let refusal = InvalidClient(basicRealm: nil)
        guard let client = found,
              client.status == .active,
              // RFC 7591 §2: the method registered is the one to use; any other is refused.
              client.metadata.tokenEndpointAuthMethod == presentation.method
        else { throw refusal }
        switch presentation.method {
        case .none:
            return client
        case .clientSecretBasic, .clientSecretPost:
            // RFC 7591 §3.2.1 `client_secret_expires_at`: an expired secret authenticates nothing.
            guard let secret = presentation.secret, !secret.isEmpty, secret.utf8.count <= 512,
                  let hash = client.clientSecretHash, client.clientSecretExpiresAt.map({ $0 > now() }) ?? true,
                  case .verified(_, let untagged) = try await verifier.verify(secret, against: hash, tag: client.clientSecretTag, tenant: tenantID)
            else { throw refusal }
            if untagged {
                try await clients.storeTag(tenantID: tenantID, clientID: client.clientID, .clientSecret, hash: hash, tag: verifier.tags.tag(secret))
            }
            return client
        case .privateKeyJWT:
            guard let assertion = presentation.assertion else { throw refusal }
            do {
                try await assertions.verify(assertion, for: client, audiences: audiences, now: now())
            } catch is ClientAssertionVerifier.Rejected {
                throw refusal
            }
            return client
        }
    }
}
