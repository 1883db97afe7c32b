/// A tenant's registration policy (design §7): a typed document with defaults, read by the
/// registration endpoint and edited by tenant admins. Parsing is strict (unknown fields refused,
/// each error names its field) because a policy typo should fail loudly, not silently loosen rules.
public struct RegistrationPolicy: Sendable, Equatable {
    /// Who may register without an initial access token.
    public enum RegistrationAccess: String, Sendable, CaseIterable {
        case open
        case initialAccessToken = "initial_access_token"
        case openForTrustedRedirects = "open_for_trusted_redirects"
    }

    /// What happens to requested scopes the tenant does not allow.
    public enum UnknownScopes: String, Sendable, CaseIterable {
        case reject
        case intersect
    }

    /// When a client's registration access token is replaced (RFC 7592 §3 allows any of these).
    public enum TokenRotation: String, Sendable, CaseIterable {
        case onUpdate = "on_update"
        case everyUse = "every_use"
        case never
    }

    /// How a tenant treats RFC 7591 §2.3 software statements.
    public enum SoftwareStatementMode: String, Sendable, CaseIterable {
        case ignore
        case optional
        case required
    }

    /// An issuer of software statements the tenant trusts, with its public keys.
    public struct TrustedIssuer: Sendable, Equatable {
        public var issuer: String
        /// A JWK Set of public keys (RFC 7517 §5).
        public var jwks: JSONValue
        public init(issuer: String, jwks: JSONValue) {
            self.issuer = issuer
            self.jwks = jwks
        }
    }

    /// The callback hosts of the MCP clients people use, trusted out of the box so that
    /// ChatGPT and Claude can register on a new tenant without an initial access token.
    public static let knownMCPClientHosts = ["claude.ai", "claude.com", "chatgpt.com", "chat.openai.com"]

    public var registrationAccess: RegistrationAccess = .openForTrustedRedirects
    /// Exact hosts or `*.domain` patterns (subdomains only, never the apex).
    public var trustedRedirectHosts: [String] = knownMCPClientHosts
    public var allowLoopbackRedirects = true
    public var allowPrivateUseSchemes = true
    public var grantTypes: [GrantType] = [.authorizationCode, .refreshToken]
    public var tokenEndpointAuthMethods: [TokenEndpointAuthMethod] = TokenEndpointAuthMethod.allCases
    /// RFC 7591 §2: `client_secret_basic` when the client names none.
    public var defaultTokenEndpointAuthMethod: TokenEndpointAuthMethod = .clientSecretBasic
    /// Scopes clients may register; empty means any syntactically valid scope.
    public var allowedScopes: [String] = ["openid", "profile", "email", "offline_access"]
    /// What a registration without `scope` gets.
    public var defaultScopes: [String] = ["openid", "profile", "email"]
    public var unknownScopes: UnknownScopes = .intersect
    /// Lifetime of issued client secrets; 0 means they do not expire.
    public var clientSecretLifetimeSeconds = 0
    public var registrationAccessTokenRotation: TokenRotation = .onUpdate
    /// How long a rotated-out registration access token keeps working, for a client that lost
    /// the response that carried its new one.
    public var registrationAccessTokenGraceSeconds = 60
    public var softwareStatementMode: SoftwareStatementMode = .ignore
    public var trustedSoftwareStatementIssuers: [TrustedIssuer] = []
    public var rateLimits = RateLimits()
    /// Most dynamically registered clients the tenant may hold; 0 means no limit. Anyone may
    /// register, so the default is a limit: 10,000 is far more than one tenant's users create in
    /// a normal life (a client per user and MCP client), and small enough that a flood fills a
    /// bounded space that an admin can clean up.
    public var maxClients = defaultMaxClients
    public static let defaultMaxClients = 10_000
    /// Identical public registrations from one source within this many seconds get the existing
    /// client's id (without a registration access token: the client is shared) instead of a new
    /// row; 0 turns it off.
    public var deduplicationWindowSeconds = 0
    /// Disable dynamically registered clients never used this many hours after registration; 0: never.
    /// The default, 72 hours, lets a person finish a sign-in started on Friday on Monday, and
    /// clears what abandoned and abusive registrations leave behind within days.
    public var reapNeverUsedAfterHours = defaultReapNeverUsedAfterHours
    public static let defaultReapNeverUsedAfterHours = 72
    /// Disable dynamically registered clients unused for this many days; 0: never.
    public var reapUnusedAfterDays = 0
    /// Delete clients this many days after the reaper disabled them.
    public var reapDeleteAfterDays = 7
    /// The settings of the tenant's authorization server (lifetimes, consent, sessions).
    public var authorizationServer = AuthorizationServerSettings()
    /// Client ID metadata documents: on or off, from which hosts, cached how long.
    public var metadataDocuments = MetadataDocumentSettings()

    public init() {}

    public static let `default` = RegistrationPolicy()

    /// The longest lifetime anything may be given (10 years): long enough for any real use, and
    /// far from the limits of date arithmetic.
    public static let maximumLifetimeSeconds = 315_360_000

    /// Whether `host` is on the trusted list: exact match, or a strict subdomain of a `*.` pattern.
    public func isTrustedRedirectHost(_ host: String) -> Bool {
        Self.host(host, matchesAnyOf: trustedRedirectHosts)
    }

    /// Exact match, or a strict subdomain of a `*.` pattern (never its apex), case-insensitively.
    static func host(_ host: String, matchesAnyOf patterns: [String]) -> Bool {
        let host = host.lowercased()
        return patterns.contains { pattern in
            let pattern = pattern.lowercased()
            if pattern.hasPrefix("*.") {
                let suffix = pattern.dropFirst(1)  // ".example.com"
                return host.count > suffix.count && host.hasSuffix(suffix)
            }
            return host == pattern
        }
    }

    /// Whether a registration with these redirect URIs needs an initial access token.
    public func requiresInitialAccessToken(for redirectURIs: [RedirectURI]) -> Bool {
        switch registrationAccess {
        case .open: return false
        case .initialAccessToken: return true
        case .openForTrustedRedirects:
            return !redirectURIs.allSatisfy { uri in
                switch uri.kind {
                case .loopback: return true
                case .https: return isTrustedRedirectHost(uri.host ?? "")
                case .privateUse: return false
                }
            }
        }
    }
}

/// Why a policy document was refused, pointing at the field.
public struct PolicyError: Error, Equatable, Sendable {
    public let field: String
    public let reason: String
    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }
}

extension RegistrationPolicy {
    private enum Key: String, CaseIterable {
        case registrationAccess = "registration_access"
        case trustedRedirectHosts = "trusted_redirect_hosts"
        case allowLoopbackRedirects = "allow_loopback_redirects"
        case allowPrivateUseSchemes = "allow_private_use_schemes"
        case grantTypes = "grant_types"
        case tokenEndpointAuthMethods = "token_endpoint_auth_methods"
        case defaultTokenEndpointAuthMethod = "default_token_endpoint_auth_method"
        case allowedScopes = "allowed_scopes"
        case defaultScopes = "default_scopes"
        case unknownScopes = "unknown_scopes"
        case clientSecretLifetimeSeconds = "client_secret_lifetime_seconds"
        case registrationAccessTokenRotation = "registration_access_token_rotation"
        case registrationAccessTokenGraceSeconds = "registration_access_token_grace_seconds"
        case softwareStatementMode = "software_statement_mode"
        case trustedSoftwareStatementIssuers = "trusted_software_statement_issuers"
        case rateLimits = "rate_limits"
        case maxClients = "max_clients"
        case deduplicationWindowSeconds = "deduplication_window_seconds"
        case reapNeverUsedAfterHours = "reap_never_used_after_hours"
        case reapUnusedAfterDays = "reap_unused_after_days"
        case reapDeleteAfterDays = "reap_delete_after_days"
        case authorizationServer = "authorization_server"
        case metadataDocuments = "client_id_metadata_documents"
    }

    /// Parses a stored or submitted policy; omitted fields keep their defaults.
    public init(json: JSONValue) throws(PolicyError) {
        guard let object = json.objectValue else { throw PolicyError(field: "", reason: "the policy must be a JSON object") }
        for key in object.keys where Key(rawValue: key) == nil {
            throw PolicyError(field: key, reason: "unknown policy field")
        }
        var policy = RegistrationPolicy()
        let reader = FieldReader(object: object)
        if let value = try reader.enumValue(Key.registrationAccess.rawValue, RegistrationAccess.self) { policy.registrationAccess = value }
        if let hosts = try reader.strings(Key.trustedRedirectHosts.rawValue) {
            for host in hosts where !Self.isValidHostPattern(host) {
                throw PolicyError(field: Key.trustedRedirectHosts.rawValue, reason: "'\(host)' is not a host name or a '*.domain' pattern")
            }
            policy.trustedRedirectHosts = hosts.map { $0.lowercased() }
        }
        if let value = try reader.bool(Key.allowLoopbackRedirects.rawValue) { policy.allowLoopbackRedirects = value }
        if let value = try reader.bool(Key.allowPrivateUseSchemes.rawValue) { policy.allowPrivateUseSchemes = value }
        if let values = try reader.enumValues(Key.grantTypes.rawValue, GrantType.self) {
            guard values.contains(.authorizationCode) else {
                throw PolicyError(field: Key.grantTypes.rawValue, reason: "authorization_code must be allowed")
            }
            policy.grantTypes = values
        }
        if let values = try reader.enumValues(Key.tokenEndpointAuthMethods.rawValue, TokenEndpointAuthMethod.self) {
            guard !values.isEmpty else { throw PolicyError(field: Key.tokenEndpointAuthMethods.rawValue, reason: "at least one method must be allowed") }
            policy.tokenEndpointAuthMethods = values
        }
        if let value = try reader.enumValue(Key.defaultTokenEndpointAuthMethod.rawValue, TokenEndpointAuthMethod.self) {
            policy.defaultTokenEndpointAuthMethod = value
        }
        guard policy.tokenEndpointAuthMethods.contains(policy.defaultTokenEndpointAuthMethod) else {
            throw PolicyError(field: Key.defaultTokenEndpointAuthMethod.rawValue, reason: "must be one of token_endpoint_auth_methods")
        }
        if let scopes = try reader.strings(Key.allowedScopes.rawValue) {
            try Self.checkScopeTokens(scopes, field: Key.allowedScopes.rawValue)
            policy.allowedScopes = scopes
        }
        if let scopes = try reader.strings(Key.defaultScopes.rawValue) {
            try Self.checkScopeTokens(scopes, field: Key.defaultScopes.rawValue)
            policy.defaultScopes = scopes
        }
        if !policy.allowedScopes.isEmpty, let outside = policy.defaultScopes.first(where: { !policy.allowedScopes.contains($0) }) {
            throw PolicyError(field: Key.defaultScopes.rawValue, reason: "'\(outside)' is not in allowed_scopes")
        }
        if let value = try reader.enumValue(Key.unknownScopes.rawValue, UnknownScopes.self) { policy.unknownScopes = value }
        if let value = try reader.int(Key.clientSecretLifetimeSeconds.rawValue) {
            guard (0...Self.maximumLifetimeSeconds).contains(value) else {
                throw PolicyError(field: Key.clientSecretLifetimeSeconds.rawValue, reason: "must be 0 (never) or a number of seconds up to \(Self.maximumLifetimeSeconds) (10 years)")
            }
            policy.clientSecretLifetimeSeconds = value
        }
        if let value = try reader.enumValue(Key.registrationAccessTokenRotation.rawValue, TokenRotation.self) {
            policy.registrationAccessTokenRotation = value
        }
        if let value = try reader.int(Key.registrationAccessTokenGraceSeconds.rawValue) {
            guard (0...86_400).contains(value) else {
                throw PolicyError(field: Key.registrationAccessTokenGraceSeconds.rawValue, reason: "must be between 0 and 86400 seconds")
            }
            policy.registrationAccessTokenGraceSeconds = value
        }
        if let value = try reader.enumValue(Key.softwareStatementMode.rawValue, SoftwareStatementMode.self) {
            policy.softwareStatementMode = value
        }
        if let issuers = reader.present(Key.trustedSoftwareStatementIssuers.rawValue) {
            policy.trustedSoftwareStatementIssuers = try Self.parseTrustedIssuers(issuers, field: Key.trustedSoftwareStatementIssuers.rawValue)
        }
        if let limits = reader.present(Key.rateLimits.rawValue) {
            policy.rateLimits = try RateLimits(json: limits, field: Key.rateLimits.rawValue)
        }
        for (key, path, range) in [
            (Key.maxClients, \RegistrationPolicy.maxClients, 0...10_000_000),
            (Key.deduplicationWindowSeconds, \RegistrationPolicy.deduplicationWindowSeconds, 0...604_800),
            (Key.reapNeverUsedAfterHours, \RegistrationPolicy.reapNeverUsedAfterHours, 0...87_600),
            (Key.reapUnusedAfterDays, \RegistrationPolicy.reapUnusedAfterDays, 0...3_650),
            (Key.reapDeleteAfterDays, \RegistrationPolicy.reapDeleteAfterDays, 0...3_650),
        ] {
            if let value = try reader.int(key.rawValue) {
                guard range.contains(value) else {
                    throw PolicyError(field: key.rawValue, reason: "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
                }
                policy[keyPath: path] = value
            }
        }
        if let settings = reader.present(Key.authorizationServer.rawValue) {
            policy.authorizationServer = try AuthorizationServerSettings(json: settings, field: Key.authorizationServer.rawValue)
        }
        if let settings = reader.present(Key.metadataDocuments.rawValue) {
            policy.metadataDocuments = try MetadataDocumentSettings(json: settings, field: Key.metadataDocuments.rawValue)
        }
        if policy.softwareStatementMode == .required && policy.trustedSoftwareStatementIssuers.isEmpty {
            throw PolicyError(field: Key.trustedSoftwareStatementIssuers.rawValue, reason: "required software statements need at least one trusted issuer")
        }
        self = policy
    }

    /// The full document, defaults included, as stored and as shown to admins.
    public var json: JSONValue {
        .object([
            Key.registrationAccess.rawValue: .string(registrationAccess.rawValue),
            Key.trustedRedirectHosts.rawValue: .array(trustedRedirectHosts.map(JSONValue.string)),
            Key.allowLoopbackRedirects.rawValue: .bool(allowLoopbackRedirects),
            Key.allowPrivateUseSchemes.rawValue: .bool(allowPrivateUseSchemes),
            Key.grantTypes.rawValue: .array(grantTypes.map { .string($0.rawValue) }),
            Key.tokenEndpointAuthMethods.rawValue: .array(tokenEndpointAuthMethods.map { .string($0.rawValue) }),
            Key.defaultTokenEndpointAuthMethod.rawValue: .string(defaultTokenEndpointAuthMethod.rawValue),
            Key.allowedScopes.rawValue: .array(allowedScopes.map(JSONValue.string)),
            Key.defaultScopes.rawValue: .array(defaultScopes.map(JSONValue.string)),
            Key.unknownScopes.rawValue: .string(unknownScopes.rawValue),
            Key.clientSecretLifetimeSeconds.rawValue: .number(Double(clientSecretLifetimeSeconds)),
            Key.registrationAccessTokenRotation.rawValue: .string(registrationAccessTokenRotation.rawValue),
            Key.registrationAccessTokenGraceSeconds.rawValue: .number(Double(registrationAccessTokenGraceSeconds)),
            Key.softwareStatementMode.rawValue: .string(softwareStatementMode.rawValue),
            Key.trustedSoftwareStatementIssuers.rawValue: .array(trustedSoftwareStatementIssuers.map {
                .object(["issuer": .string($0.issuer), "jwks": $0.jwks])
            }),
            Key.rateLimits.rawValue: rateLimits.json,
            Key.maxClients.rawValue: .number(Double(maxClients)),
            Key.deduplicationWindowSeconds.rawValue: .number(Double(deduplicationWindowSeconds)),
            Key.reapNeverUsedAfterHours.rawValue: .number(Double(reapNeverUsedAfterHours)),
            Key.reapUnusedAfterDays.rawValue: .number(Double(reapUnusedAfterDays)),
            Key.reapDeleteAfterDays.rawValue: .number(Double(reapDeleteAfterDays)),
            Key.authorizationServer.rawValue: authorizationServer.json,
            Key.metadataDocuments.rawValue: metadataDocuments.json,
        ])
    }

    static func parseTrustedIssuers(_ value: JSONValue, field: String) throws(PolicyError) -> [TrustedIssuer] {
        guard let array = value.arrayValue else { throw PolicyError(field: field, reason: "must be an array of {issuer, jwks} objects") }
        var result: [TrustedIssuer] = []
        for (index, element) in array.enumerated() {
            let path = "\(field)[\(index)]"
            guard let object = element.objectValue, let issuer = object["issuer"]?.stringValue, !issuer.isEmpty,
                  let jwks = object["jwks"] else {
                throw PolicyError(field: path, reason: "must be an object with a non-empty 'issuer' string and a 'jwks' JWK Set")
            }
            if let extra = object.keys.first(where: { $0 != "issuer" && $0 != "jwks" }) {
                throw PolicyError(field: "\(path).\(extra)", reason: "unknown field")
            }
            // Loaded now, in the form the verifier will use (identifiers filled in), so that a
            // key the verifier could not use, or two keys with one `kid` (of which a key
            // collection would keep only one), are refused when the policy is written.
            do {
                try PublicJWK.loadSet(SoftwareStatementVerifier.keysWithIdentifiers(jwks), maximumKeys: ClientMetadataValidator.maximumJWKs)
            } catch {
                throw PolicyError(field: "\(path).jwks", reason: error.reason)
            }
            if result.contains(where: { $0.issuer == issuer }) { throw PolicyError(field: path, reason: "issuer '\(issuer)' is listed twice") }
            result.append(TrustedIssuer(issuer: issuer, jwks: jwks))
        }
        return result
    }

    static func isValidHostPattern(_ pattern: String) -> Bool {
        let host = pattern.hasPrefix("*.") ? String(pattern.dropFirst(2)) : pattern
        return URIParser.isValidDNSName(host)
    }

    static func checkScopeTokens(_ scopes: [String], field: String) throws(PolicyError) {
        for scope in scopes where !ScopeSyntax.isValidToken(scope) {
            throw PolicyError(field: field, reason: "'\(scope)' is not a valid scope token (RFC 6749 §3.3)")
        }
    }
}

/// Typed reads of a policy object's fields, each failure naming the field.
struct FieldReader {
    let object: [String: JSONValue]

    func present(_ key: String) -> JSONValue? {
        guard let value = object[key], value != .null else { return nil }
        return value
    }

    func bool(_ key: String) throws(PolicyError) -> Bool? {
        guard let value = present(key) else { return nil }
        guard let bool = value.boolValue else { throw PolicyError(field: key, reason: "must be a boolean") }
        return bool
    }

    func int(_ key: String) throws(PolicyError) -> Int? {
        guard let value = present(key) else { return nil }
        guard let int = value.intValue else { throw PolicyError(field: key, reason: "must be an integer") }
        return int
    }

    func strings(_ key: String) throws(PolicyError) -> [String]? {
        guard let value = present(key) else { return nil }
        guard let array = value.arrayValue else { throw PolicyError(field: key, reason: "must be an array of strings") }
        var result: [String] = []
        for element in array {
            guard let string = element.stringValue else { throw PolicyError(field: key, reason: "must be an array of strings") }
            if !result.contains(string) { result.append(string) }
        }
        return result
    }

    func enumValue<E: RawRepresentable & CaseIterable>(_ key: String, _ type: E.Type) throws(PolicyError) -> E? where E.RawValue == String {
        guard let value = present(key) else { return nil }
        guard let string = value.stringValue, let result = E(rawValue: string) else {
            throw PolicyError(field: key, reason: "must be one of: \(E.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return result
    }

    func enumValues<E: RawRepresentable & CaseIterable & Equatable>(_ key: String, _ type: E.Type) throws(PolicyError) -> [E]? where E.RawValue == String {
        guard let strings = try strings(key) else { return nil }
        var result: [E] = []
        for string in strings {
            guard let value = E(rawValue: string) else {
                throw PolicyError(field: key, reason: "'\(string)' is not one of: \(E.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            result.append(value)
        }
        return result
    }
}
