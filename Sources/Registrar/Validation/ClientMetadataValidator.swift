/// The one validator of client metadata, shared by dynamic registration (RFC 7591), the client
/// configuration endpoint (RFC 7592 PUT) and the admin API: request + tenant policy → typed
/// metadata or the RFC 7591 §3.2.2 error. Pure: no I/O, no clock.
///
/// Each RFC 7591 §2 member has its own named check. Unknown members are dropped (§2: "The
/// authorization server MUST ignore any client metadata sent by the client that it does not
/// understand"), and credentials in the request (`client_id`, `client_secret`, …) are never read:
/// the server chooses every credential.
public enum ClientMetadataValidator {
    /// The outcome: metadata to store, and the parsed redirect URIs for policy decisions.
    public struct Result: Sendable, Equatable {
        public var metadata: ClientMetadata
        public var redirectURIs: [RedirectURI]
    }

    public static let maximumRedirectURIs = 32
    public static let maximumContacts = 20
    public static let maximumStringLength = 1000
    public static let maximumScopeTokens = 64
    public static let maximumJWKs = 20
    public static let maximumLocalizedMembers = 50

    /// Members whose value is human-readable and may carry a BCP 47 language tag (RFC 7591 §2.2).
    public static let localizableMembers: Set<String> = ["client_name", "client_uri", "logo_uri", "tos_uri", "policy_uri"]

    public static func validate(_ request: [String: JSONValue], policy: RegistrationPolicy) throws(OAuthError) -> Result {
        let fields = Fields(request)
        let grantTypes = try checkGrantTypes(fields, policy: policy)
        let responseTypes = try checkResponseTypes(fields)
        try checkGrantAndResponseTypesAgree(grantTypes: grantTypes, responseTypes: responseTypes)
        let redirects = try checkRedirectURIs(fields, policy: policy)
        let method = try checkTokenEndpointAuthMethod(fields, policy: policy)
        let (jwks, jwksURI) = try checkJWKS(fields, method: method)
        var metadata = ClientMetadata(
            redirectURIs: redirects.map(\.value),
            tokenEndpointAuthMethod: method,
            grantTypes: grantTypes,
            responseTypes: responseTypes,
            clientName: try checkClientName(fields.string("client_name")),
            clientURI: try checkDisplayURI("client_uri", fields.string("client_uri")),
            logoURI: try checkDisplayURI("logo_uri", fields.string("logo_uri")),
            tosURI: try checkDisplayURI("tos_uri", fields.string("tos_uri")),
            policyURI: try checkDisplayURI("policy_uri", fields.string("policy_uri")),
            scope: try checkScope(fields, policy: policy),
            contacts: try checkContacts(fields),
            jwks: jwks,
            jwksURI: jwksURI,
            softwareID: try checkShortText("software_id", fields.string("software_id")),
            softwareVersion: try checkShortText("software_version", fields.string("software_version")),
            applicationType: try checkApplicationType(fields)
        )
        metadata.localized = try checkLocalizedMembers(request)
        return Result(metadata: metadata, redirectURIs: redirects)
    }

    // MARK: - One check per member

    /// RFC 7591 §2 `redirect_uris`, with RFC 6749 §3.1.2, RFC 8252 §7 and RFC 9700 §4.1 rules.
    /// Required: every grant this server supports goes through the authorization endpoint.
    static func checkRedirectURIs(_ fields: Fields, policy: RegistrationPolicy) throws(OAuthError) -> [RedirectURI] {
        guard let values = try fields.strings("redirect_uris", error: OAuthError.invalidRedirect) else {
            throw .invalidRedirect("redirect_uris is required for the authorization_code grant")
        }
        guard !values.isEmpty else { throw .invalidRedirect("redirect_uris must contain at least one URI") }
        guard values.count <= maximumRedirectURIs else {
            throw .invalidRedirect("redirect_uris may contain at most \(maximumRedirectURIs) URIs")
        }
        var result: [RedirectURI] = []
        for value in values {
            let uri = try RedirectURI(value)
            if uri.kind == .loopback && !policy.allowLoopbackRedirects {
                throw .invalidRedirect("redirect_uris: loopback redirect URIs are not allowed by this server's policy")
            }
            if uri.kind == .privateUse && !policy.allowPrivateUseSchemes {
                throw .invalidRedirect("redirect_uris: private-use URI schemes are not allowed by this server's policy")
            }
            if !result.contains(uri) { result.append(uri) }
        }
        return result
    }

    /// RFC 7591 §2 `token_endpoint_auth_method`; defaults to the tenant's choice
    /// (`client_secret_basic` unless the policy says otherwise).
    static func checkTokenEndpointAuthMethod(_ fields: Fields, policy: RegistrationPolicy) throws(OAuthError) -> TokenEndpointAuthMethod {
        guard let value = try fields.string("token_endpoint_auth_method") else { return policy.defaultTokenEndpointAuthMethod }
        guard let method = TokenEndpointAuthMethod(rawValue: value) else {
            throw .invalidMetadata("token_endpoint_auth_method '\(printable(value))' is not supported; use one of: \(policy.tokenEndpointAuthMethods.map(\.rawValue).joined(separator: ", "))")
        }
        guard policy.tokenEndpointAuthMethods.contains(method) else {
            throw .invalidMetadata("token_endpoint_auth_method '\(value)' is not allowed by this server's policy")
        }
        return method
    }

    /// RFC 7591 §2 `grant_types`; defaults to `authorization_code`. Implicit and password are
    /// refused outright (RFC 9700 §2.1.2, §2.4).
    static func checkGrantTypes(_ fields: Fields, policy: RegistrationPolicy) throws(OAuthError) -> [GrantType] {
        guard let values = try fields.strings("grant_types", error: OAuthError.invalidMetadata) else { return [.authorizationCode] }
        guard !values.isEmpty else { throw .invalidMetadata("grant_types must not be empty") }
        var result: [GrantType] = []
        for value in values {
            if value == "implicit" || value == "password" {
                throw .invalidMetadata("grant_types: the \(value) grant is not supported (RFC 9700 §2.1.2, §2.4)")
            }
            guard let grant = GrantType(rawValue: value) else {
                throw .invalidMetadata("grant_types: '\(printable(value))' is not supported")
            }
            guard policy.grantTypes.contains(grant) else {
                throw .invalidMetadata("grant_types: '\(value)' is not allowed by this server's policy")
            }
            if !result.contains(grant) { result.append(grant) }
        }
        return result
    }

    /// RFC 7591 §2 `response_types`; defaults to `code`. `token` is the implicit grant's and refused.
    static func checkResponseTypes(_ fields: Fields) throws(OAuthError) -> [ResponseType] {
        guard let values = try fields.strings("response_types", error: OAuthError.invalidMetadata) else { return [.code] }
        var result: [ResponseType] = []
        for value in values {
            guard let type = ResponseType(rawValue: value) else {
                throw .invalidMetadata("response_types: '\(printable(value))' is not supported; only 'code' is")
            }
            if !result.contains(type) { result.append(type) }
        }
        return result
    }

    /// RFC 7591 §2.1: `code` goes with `authorization_code` and the other way round; a refresh
    /// token can only come from a grant this server supports.
    static func checkGrantAndResponseTypesAgree(grantTypes: [GrantType], responseTypes: [ResponseType]) throws(OAuthError) {
        let hasCodeGrant = grantTypes.contains(.authorizationCode)
        let hasCodeResponse = responseTypes.contains(.code)
        if !hasCodeGrant {
            throw .invalidMetadata("grant_types must include authorization_code: it is the only grant here that issues tokens")
        }
        if hasCodeGrant && !hasCodeResponse {
            throw .invalidMetadata("grant_types includes authorization_code, so response_types must include code (RFC 7591 §2.1)")
        }
        if hasCodeResponse && !hasCodeGrant {
            throw .invalidMetadata("response_types includes code, so grant_types must include authorization_code (RFC 7591 §2.1)")
        }
    }

    /// RFC 7591 §2 `client_name`: plain text shown on the consent page (always HTML-escaped there).
    static func checkClientName(_ value: String?) throws(OAuthError) -> String? {
        try checkShortText("client_name", value)
    }

    /// RFC 7591 §2 `client_uri`, `logo_uri`, `tos_uri`, `policy_uri`: web pages, so http(s) only.
    static func checkDisplayURI(_ name: String, _ value: String?) throws(OAuthError) -> String? {
        guard let value, !value.isEmpty else { return nil }
        let parts: URIParser.Parts
        do {
            parts = try URIParser.parse(value, allowFragment: true)
        } catch {
            throw .invalidMetadata("\(name) must be a valid http or https URL")
        }
        guard parts.scheme == "https" || parts.scheme == "http" else {
            throw .invalidMetadata("\(name) must be an http or https URL")
        }
        return value
    }

    /// RFC 7591 §2 `scope` (RFC 6749 §3.3 syntax). Omitted → the tenant's default scopes; scopes
    /// outside the tenant's list are refused (`reject`) or dropped (`intersect`, falling back to the
    /// defaults when nothing is left).
    static func checkScope(_ fields: Fields, policy: RegistrationPolicy) throws(OAuthError) -> [String] {
        guard let value = try fields.string("scope") else { return policy.defaultScopes }
        var tokens: [String] = []
        for token in value.split(separator: " ", omittingEmptySubsequences: true) {
            guard ScopeSyntax.isValidToken(token) else {
                throw .invalidMetadata("scope must be space-separated scope tokens (RFC 6749 §3.3)")
            }
            if !tokens.contains(String(token)) { tokens.append(String(token)) }
        }
        guard tokens.count <= maximumScopeTokens else {
            throw .invalidMetadata("scope may contain at most \(maximumScopeTokens) tokens")
        }
        if tokens.isEmpty { return policy.defaultScopes }
        guard !policy.allowedScopes.isEmpty else { return tokens }
        let outside = tokens.filter { !policy.allowedScopes.contains($0) }
        if outside.isEmpty { return tokens }
        switch policy.unknownScopes {
        case .reject:
            throw .invalidMetadata("scope: '\(outside.joined(separator: " "))' is not allowed by this server's policy")
        case .intersect:
            let kept = tokens.filter { policy.allowedScopes.contains($0) }
            return kept.isEmpty ? policy.defaultScopes : kept
        }
    }

    /// RFC 7591 §2 `contacts`: an array of strings, usually e-mail addresses.
    static func checkContacts(_ fields: Fields) throws(OAuthError) -> [String] {
        guard let values = try fields.strings("contacts", error: OAuthError.invalidMetadata) else { return [] }
        guard values.count <= maximumContacts else { throw .invalidMetadata("contacts may contain at most \(maximumContacts) entries") }
        var result: [String] = []
        for value in values {
            guard let contact = try checkShortText("contacts", value) else { continue }
            if !result.contains(contact) { result.append(contact) }
        }
        return result
    }

    /// RFC 7591 §2 `jwks` and `jwks_uri`: never both; a `jwks` is a JWK Set of public keys;
    /// `private_key_jwt` needs one of them.
    static func checkJWKS(_ fields: Fields, method: TokenEndpointAuthMethod) throws(OAuthError) -> (JSONValue?, String?) {
        let jwks = fields.present("jwks")
        let jwksURI = try fields.string("jwks_uri").flatMap { $0.isEmpty ? nil : $0 }
        if jwks != nil && jwksURI != nil {
            throw .invalidMetadata("jwks and jwks_uri must not both be present (RFC 7591 §2)")
        }
        if let jwks { try checkJWKSet(jwks) }
        if let jwksURI {
            let parts: URIParser.Parts
            do { parts = try URIParser.parse(jwksURI) } catch { throw .invalidMetadata("jwks_uri must be a valid https URL") }
            guard parts.scheme == "https" else { throw .invalidMetadata("jwks_uri must be an https URL") }
        }
        if method == .privateKeyJWT && jwks == nil && jwksURI == nil {
            throw .invalidMetadata("private_key_jwt requires jwks or jwks_uri")
        }
        return (jwks, jwksURI)
    }

    /// RFC 7517 §5: `{"keys": [ {kty, …}, … ]}`, public keys only.
    static func checkJWKSet(_ value: JSONValue) throws(OAuthError) {
        guard let keys = value["keys"]?.arrayValue else { throw .invalidMetadata("jwks must be a JWK Set: an object with a 'keys' array (RFC 7517 §5)") }
        guard !keys.isEmpty else { throw .invalidMetadata("jwks must contain at least one key") }
        guard keys.count <= maximumJWKs else { throw .invalidMetadata("jwks may contain at most \(maximumJWKs) keys") }
        let privateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
        for key in keys {
            guard let object = key.objectValue, let kty = object["kty"]?.stringValue else {
                throw .invalidMetadata("jwks: every key must be an object with a 'kty' member (RFC 7517 §4.1)")
            }
            guard ["RSA", "EC", "OKP"].contains(kty) else {
                throw .invalidMetadata("jwks: key type '\(printable(kty))' is not supported; use RSA, EC or OKP")
            }
            if let member = privateMembers.first(where: { object[$0] != nil }) {
                throw .invalidMetadata("jwks must contain public keys only; found private member '\(member)'")
            }
        }
    }

    /// OpenID Connect Registration `application_type`. Recorded, not enforced on redirect URIs:
    /// the MCP Python SDK says `native` even for https callbacks.
    static func checkApplicationType(_ fields: Fields) throws(OAuthError) -> String? {
        guard let value = try fields.string("application_type") else { return nil }
        guard value == "web" || value == "native" else { throw .invalidMetadata("application_type must be 'web' or 'native'") }
        return value
    }

    /// RFC 7591 §2.2: `member#language-tag` for human-readable members, checked like the member.
    static func checkLocalizedMembers(_ request: [String: JSONValue]) throws(OAuthError) -> [String: String] {
        var result: [String: String] = [:]
        for (key, value) in request {
            guard let hash = key.firstIndex(of: "#") else { continue }
            let member = String(key[..<hash])
            let tag = key[key.index(after: hash)...]
            guard localizableMembers.contains(member) else { continue }
            guard isLanguageTag(tag) else { throw .invalidMetadata("\(printable(key)): '\(printable(String(tag)))' is not a BCP 47 language tag") }
            guard value != .null else { continue }
            guard let string = value.stringValue else { throw .invalidMetadata("\(key) must be a string") }
            let checked = member == "client_name" ? try checkClientName(string) : try checkDisplayURI(key, string)
            if let checked { result[key] = checked }
        }
        guard result.count <= maximumLocalizedMembers else {
            throw .invalidMetadata("at most \(maximumLocalizedMembers) language-tagged members are accepted")
        }
        return result
    }

    // MARK: - Shared pieces

    /// Text for a person to read: no control characters, bounded. Empty is treated as absent.
    static func checkShortText(_ name: String, _ value: String?) throws(OAuthError) -> String? {
        guard let value, !value.isEmpty else { return nil }
        guard value.count <= maximumStringLength else { throw .invalidMetadata("\(name) must be at most \(maximumStringLength) characters") }
        guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .invalidMetadata("\(name) must not contain control characters")
        }
        return value
    }

    /// RFC 5646 shape: subtags of 1–8 letters or digits, the first letters only.
    static func isLanguageTag(_ tag: Substring) -> Bool {
        let subtags = tag.split(separator: "-", omittingEmptySubsequences: false)
        guard let first = subtags.first, !first.isEmpty, first.count <= 8, first.allSatisfy({ $0.isASCII && $0.isLetter }) else { return false }
        return subtags.dropFirst().allSatisfy { !$0.isEmpty && $0.count <= 8 && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) } }
    }

    /// A value fit to quote back in an error description.
    static func printable(_ value: String) -> String {
        let cleaned = String(String.UnicodeScalarView(value.unicodeScalars.filter { $0.isASCII && $0.value >= 0x20 && $0.value != 0x7F }))
        return cleaned.count > 100 ? String(cleaned.prefix(100)) + "…" : cleaned
    }
}

/// Typed reads of request members; `null` counts as absent, a wrong type is an error naming the member.
struct Fields {
    let object: [String: JSONValue]
    init(_ object: [String: JSONValue]) { self.object = object }

    func present(_ name: String) -> JSONValue? {
        guard let value = object[name], value != .null else { return nil }
        return value
    }

    func string(_ name: String) throws(OAuthError) -> String? {
        guard let value = present(name) else { return nil }
        guard let string = value.stringValue else { throw .invalidMetadata("\(name) must be a string, not \(value.typeName)") }
        return string
    }

    func strings(_ name: String, error: (String) -> OAuthError) throws(OAuthError) -> [String]? {
        guard let value = present(name) else { return nil }
        guard let array = value.arrayValue else { throw error("\(name) must be an array of strings, not \(value.typeName)") }
        guard array.count <= 100 else { throw error("\(name) has too many entries") }
        var result: [String] = []
        for element in array {
            guard let string = element.stringValue else { throw error("\(name) must be an array of strings; found \(element.typeName)") }
            result.append(string)
        }
        return result
    }
}
