import Foundation

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

    /// How much work one validation did. Every check bounds its input in UTF-8 bytes and in
    /// element count before it looks at elements, so a 64 KiB body costs at most a few hundred
    /// element visits, whatever it contains; tests hold the validator to that by this count.
    public struct Statistics: Sendable, Equatable {
        /// Array elements, scope tokens and language-tagged members looked at.
        public var elementVisits = 0
        public init() {}
    }

    public static let maximumRedirectURIs = 32
    public static let maximumContacts = 20
    /// The most UTF-8 bytes of a text member (`client_name`, `software_id`, a contact, …).
    public static let maximumTextBytes = 1000
    public static let maximumScopeTokens = 64
    /// The most UTF-8 bytes of `scope`, checked before it is split.
    public static let maximumScopeBytes = 4096
    /// The most entries of an enumerated list (`grant_types`, `response_types`).
    public static let maximumEnumeratedValues = 10
    public static let maximumJWKs = 20
    public static let maximumLocalizedMembers = 50
    /// The most UTF-8 bytes of a member name the validator looks at (`client_name#ja-Jpan-JP`).
    public static let maximumMemberNameBytes = 100
    /// The most bytes of validated metadata one client may store (its JSON form).
    public static let maximumMetadataBytes = 16 * 1024
    /// The most combining marks one user-perceived character of display text may carry.
    public static let maximumCombiningMarks = 4

    /// Members whose value is human-readable and may carry a BCP 47 language tag (RFC 7591 §2.2).
    public static let localizableMembers: Set<String> = ["client_name", "client_uri", "logo_uri", "tos_uri", "policy_uri"]

    public static func validate(_ request: [String: JSONValue], policy: RegistrationPolicy) throws(OAuthError) -> Result {
        var statistics = Statistics()
        return try validate(request, policy: policy, statistics: &statistics)
    }

    /// The same, counting the work done into `statistics` (also when the request is refused).
    public static func validate(_ request: [String: JSONValue], policy: RegistrationPolicy,
                                statistics: inout Statistics) throws(OAuthError) -> Result {
        var fields = Fields(request)
        defer { statistics.elementVisits += fields.visits }
        let grantTypes = try checkGrantTypes(&fields, policy: policy)
        let responseTypes = try checkResponseTypes(&fields)
        try checkGrantAndResponseTypesAgree(grantTypes: grantTypes, responseTypes: responseTypes)
        let redirects = try checkRedirectURIs(&fields, policy: policy)
        let method = try checkTokenEndpointAuthMethod(fields, policy: policy)
        try checkClientCredentialsIsConfidential(grantTypes: grantTypes, method: method)
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
            scope: try checkScope(&fields, policy: policy),
            contacts: try checkContacts(&fields),
            jwks: jwks,
            jwksURI: jwksURI,
            softwareID: try checkShortText("software_id", fields.string("software_id")),
            softwareVersion: try checkShortText("software_version", fields.string("software_version")),
            applicationType: try checkApplicationType(fields)
        )
        metadata.localized = try checkLocalizedMembers(&fields)
        try checkStoredSize(metadata)
        return Result(metadata: metadata, redirectURIs: redirects)
    }

    /// The whole of what one client stores is bounded, not only each member: a client is a row
    /// that anyone may create, so its size is part of the server's storage budget.
    static func checkStoredSize(_ metadata: ClientMetadata) throws(OAuthError) {
        let size = JSONValue.object(metadata.json).encoded().count
        guard size <= maximumMetadataBytes else {
            throw .invalidMetadata("the client metadata takes \(size) bytes; at most \(maximumMetadataBytes) are stored per client")
        }
    }

    // MARK: - One check per member

    /// RFC 7591 §2 `redirect_uris`, with RFC 6749 §3.1.2, RFC 8252 §7 and RFC 9700 §4.1 rules.
    /// Required: every grant this server supports goes through the authorization endpoint.
    static func checkRedirectURIs(_ fields: inout Fields, policy: RegistrationPolicy) throws(OAuthError) -> [RedirectURI] {
        guard let values = try fields.strings("redirect_uris", maximumCount: maximumRedirectURIs, maximumBytes: URIParser.maximumLength,
                                              error: OAuthError.invalidRedirect) else {
            throw .invalidRedirect("redirect_uris is required for the authorization_code grant")
        }
        guard !values.isEmpty else { throw .invalidRedirect("redirect_uris must contain at least one URI") }
        var result: [RedirectURI] = []
        var seen = Set<String>()
        for value in values where seen.insert(value).inserted {
            let uri = try RedirectURI(value)
            if uri.kind == .loopback && !policy.allowLoopbackRedirects {
                throw .invalidRedirect("redirect_uris: loopback redirect URIs are not allowed by this server's policy")
            }
            if uri.kind == .privateUse && !policy.allowPrivateUseSchemes {
                throw .invalidRedirect("redirect_uris: private-use URI schemes are not allowed by this server's policy")
            }
            result.append(uri)
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

    /// RFC 6749 §4.4: "The client credentials grant type MUST only be used by confidential
    /// clients"; a client that registers it must authenticate with a secret or a key.
    static func checkClientCredentialsIsConfidential(grantTypes: [GrantType], method: TokenEndpointAuthMethod) throws(OAuthError) {
        if grantTypes.contains(.clientCredentials) && method == .none {
            throw .invalidMetadata("grant_types: client_credentials is only for confidential clients; token_endpoint_auth_method must not be none (RFC 6749 §4.4)")
        }
    }

    /// RFC 7591 §2 `grant_types`; defaults to `authorization_code`. Implicit and password are
    /// refused outright (RFC 9700 §2.1.2, §2.4).
    static func checkGrantTypes(_ fields: inout Fields, policy: RegistrationPolicy) throws(OAuthError) -> [GrantType] {
        guard let values = try fields.strings("grant_types", maximumCount: maximumEnumeratedValues, maximumBytes: maximumTextBytes,
                                              error: OAuthError.invalidMetadata) else { return [.authorizationCode] }
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
    static func checkResponseTypes(_ fields: inout Fields) throws(OAuthError) -> [ResponseType] {
        guard let values = try fields.strings("response_types", maximumCount: maximumEnumeratedValues, maximumBytes: maximumTextBytes,
                                              error: OAuthError.invalidMetadata) else { return [.code] }
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

    /// RFC 7591 §2 `client_name`: plain text shown on the consent page (always HTML-escaped there),
    /// held to the display-text rules so that it cannot pretend to be someone else's name there.
    static func checkClientName(_ value: String?) throws(OAuthError) -> String? {
        try checkDisplayText("client_name", value)
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
        try checkFetchableHost(name, parts)
        return value
    }

    /// Display URLs and `jwks_uri` may be fetched by this server or by a consent page's browser
    /// on the server's behalf, so a literal address that reaches the server's own network
    /// (RFC 6890 special-purpose ranges, `localhost`) is refused when it is registered.
    static func checkFetchableHost(_ name: String, _ parts: URIParser.Parts) throws(OAuthError) {
        guard let host = parts.host, let range = SpecialUseAddress.classify(host: host) else { return }
        throw .invalidMetadata("\(name) must not point to a \(range.rawValue) address")
    }

    /// RFC 7591 §2 `scope` (RFC 6749 §3.3 syntax). Omitted → the tenant's default scopes; scopes
    /// outside the tenant's list are refused (`reject`) or dropped (`intersect`, falling back to the
    /// defaults when nothing is left).
    ///
    /// Linear and bounded: the length is checked in bytes before the string is split, tokens are
    /// read one at a time into a set, and reading stops at the first token past the cap.
    static func checkScope(_ fields: inout Fields, policy: RegistrationPolicy) throws(OAuthError) -> [String] {
        guard let value = try fields.string("scope") else { return policy.defaultScopes }
        guard value.utf8.count <= maximumScopeBytes else {
            throw .invalidMetadata("scope may be at most \(maximumScopeBytes) bytes long")
        }
        var tokens: [String] = []
        var seen = Set<Substring>()
        var remainder = Substring(value)
        while let start = remainder.firstIndex(where: { $0 != " " }) {
            let end = remainder[start...].firstIndex(of: " ") ?? remainder.endIndex
            let token = remainder[start..<end]
            remainder = remainder[end...]
            fields.visits += 1
            guard ScopeSyntax.isValidToken(token) else {
                throw .invalidMetadata("scope must be space-separated scope tokens (RFC 6749 §3.3)")
            }
            guard seen.insert(token).inserted else { continue }
            guard tokens.count < maximumScopeTokens else {
                throw .invalidMetadata("scope may contain at most \(maximumScopeTokens) tokens")
            }
            tokens.append(String(token))
        }
        if tokens.isEmpty { return policy.defaultScopes }
        guard !policy.allowedScopes.isEmpty else { return tokens }
        let allowed = Set(policy.allowedScopes)
        let outside = tokens.filter { !allowed.contains($0) }
        if outside.isEmpty { return tokens }
        switch policy.unknownScopes {
        case .reject:
            throw .invalidMetadata("scope: '\(outside.joined(separator: " "))' is not allowed by this server's policy")
        case .intersect:
            let kept = tokens.filter { allowed.contains($0) }
            return kept.isEmpty ? policy.defaultScopes : kept
        }
    }

    /// RFC 7591 §2 `contacts`: an array of strings, usually e-mail addresses.
    static func checkContacts(_ fields: inout Fields) throws(OAuthError) -> [String] {
        guard let values = try fields.strings("contacts", maximumCount: maximumContacts, maximumBytes: maximumTextBytes,
                                              error: OAuthError.invalidMetadata) else { return [] }
        var result: [String] = []
        var seen = Set<String>()
        for value in values {
            guard let contact = try checkShortText("contacts", value) else { continue }
            if seen.insert(contact).inserted { result.append(contact) }
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
            try checkFetchableHost("jwks_uri", parts)
        }
        if method == .privateKeyJWT && jwks == nil && jwksURI == nil {
            throw .invalidMetadata("private_key_jwt requires jwks or jwks_uri")
        }
        return (jwks, jwksURI)
    }

    /// RFC 7517 §5: `{"keys": [ {kty, …}, … ]}` of usable public keys, loaded once here so that
    /// a key that cannot verify anything is refused at registration (see `PublicJWK`).
    static func checkJWKSet(_ value: JSONValue) throws(OAuthError) {
        do {
            try PublicJWK.loadSet(value, maximumKeys: maximumJWKs)
        } catch {
            throw .invalidMetadata("jwks: \(error.reason)")
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
    /// A name longer than any language-tagged member can be is not one (and is ignored, like any
    /// unknown member); each one found counts, and the first past the cap ends the reading.
    static func checkLocalizedMembers(_ fields: inout Fields) throws(OAuthError) -> [String: String] {
        var result: [String: String] = [:]
        for (key, value) in fields.object where key.utf8.count <= maximumMemberNameBytes {
            guard let hash = key.firstIndex(of: "#") else { continue }
            let member = String(key[..<hash])
            let tag = key[key.index(after: hash)...]
            guard localizableMembers.contains(member) else { continue }
            fields.visits += 1
            guard isLanguageTag(tag) else { throw .invalidMetadata("\(printable(key)): '\(printable(String(tag)))' is not a BCP 47 language tag") }
            guard value != .null else { continue }
            guard let string = value.stringValue else { throw .invalidMetadata("\(key) must be a string") }
            let checked = member == "client_name" ? try checkDisplayText(key, string) : try checkDisplayURI(key, string)
            if let checked { result[key] = checked }
            guard result.count <= maximumLocalizedMembers else {
                throw .invalidMetadata("at most \(maximumLocalizedMembers) language-tagged members are accepted")
            }
        }
        return result
    }

    // MARK: - Shared pieces

    /// Text for a program or an admin to read: no control characters, bounded in UTF-8 bytes
    /// (checked before anything else looks at it). Empty is treated as absent.
    static func checkShortText(_ name: String, _ value: String?) throws(OAuthError) -> String? {
        guard let value, !value.isEmpty else { return nil }
        guard value.utf8.count <= maximumTextBytes else { throw .invalidMetadata("\(name) must be at most \(maximumTextBytes) bytes of UTF-8") }
        guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .invalidMetadata("\(name) must not contain control characters")
        }
        return value
    }

    /// Text shown to a person deciding whether to trust the client (the consent page): bounded
    /// short text, NFC-normalised (Unicode UAX #15) so that one name has one form, without
    /// invisible format characters (category Cf: bidi overrides and isolates such as U+202E,
    /// zero-width spaces, tags) that reorder or hide what is shown (Unicode UTS #39 §3, UAX #9),
    /// without line or paragraph separators, and with at most `maximumCombiningMarks` combining
    /// marks on any one character. The zero-width joiner is kept between emoji, where it forms one
    /// emoji (UTS #51 §2.3); anywhere else it is refused like any format character.
    static func checkDisplayText(_ name: String, _ value: String?) throws(OAuthError) -> String? {
        guard let raw = try checkShortText(name, value) else { return nil }
        let text = raw.precomposedStringWithCanonicalMapping
        guard text.utf8.count <= maximumTextBytes else { throw .invalidMetadata("\(name) must be at most \(maximumTextBytes) bytes of UTF-8") }
        let scalars = Array(text.unicodeScalars)
        for (index, scalar) in scalars.enumerated() {
            switch scalar.properties.generalCategory {
            case .format:
                if scalar.value == 0x200D, isEmojiJoin(scalars, at: index) { continue }
                throw .invalidMetadata("\(name) must not contain invisible formatting characters such as U+\(hex(scalar))")
            case .lineSeparator, .paragraphSeparator:
                throw .invalidMetadata("\(name) must not contain line or paragraph separators")
            default:
                continue
            }
        }
        for character in text {
            let marks = character.unicodeScalars.count { scalar in
                switch scalar.properties.generalCategory {
                case .nonspacingMark, .spacingMark, .enclosingMark: true
                default: false
                }
            }
            guard marks <= maximumCombiningMarks else {
                throw .invalidMetadata("\(name) must not stack more than \(maximumCombiningMarks) combining marks on one character")
            }
        }
        return text
    }

    /// A zero-width joiner between two emoji (an emoji presentation selector or skin tone may
    /// sit between the first emoji and the joiner).
    static func isEmojiJoin(_ scalars: [Unicode.Scalar], at index: Int) -> Bool {
        func isEmoji(_ scalar: Unicode.Scalar) -> Bool { scalar.value >= 0x80 && scalar.properties.isEmoji }
        var before = index - 1
        while before >= 0, scalars[before].value == 0xFE0F || scalars[before].properties.isEmojiModifier { before -= 1 }
        let after = index + 1
        return before >= 0 && isEmoji(scalars[before]) && after < scalars.count && isEmoji(scalars[after])
    }

    static func hex(_ scalar: Unicode.Scalar) -> String {
        let digits = String(scalar.value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
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

/// Typed reads of request members; `null` counts as absent, a wrong type is an error naming the
/// member. Counts the elements it visits (see `ClientMetadataValidator.Statistics`).
struct Fields {
    let object: [String: JSONValue]
    var visits = 0
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

    /// An array of strings, its length checked before any element is read and each element's
    /// UTF-8 length before anything else is done with it.
    mutating func strings(_ name: String, maximumCount: Int, maximumBytes: Int, error: (String) -> OAuthError) throws(OAuthError) -> [String]? {
        guard let value = present(name) else { return nil }
        guard let array = value.arrayValue else { throw error("\(name) must be an array of strings, not \(value.typeName)") }
        guard array.count <= maximumCount else { throw error("\(name) may contain at most \(maximumCount) entries") }
        var result: [String] = []
        result.reserveCapacity(array.count)
        for element in array {
            visits += 1
            guard let string = element.stringValue else { throw error("\(name) must be an array of strings; found \(element.typeName)") }
            guard string.utf8.count <= maximumBytes else { throw error("\(name): an entry is longer than \(maximumBytes) bytes") }
            result.append(string)
        }
        return result
    }
}
