/// The part of a tenant's policy that governs its authorization server: lifetimes, consent and
/// sessions. It lives in the same document as the registration rules (`authorization_server`),
/// is validated the same way and edited through the same admin API.
public struct AuthorizationServerSettings: Sendable, Equatable {
    /// When the consent page is shown.
    public enum ConsentMode: String, Sendable, CaseIterable {
        /// Once per user, client and scope set; later requests within it skip the page.
        case remember
        /// On every authorization request.
        case always
    }

    /// RFC 9068 access tokens: short, because a JWT cannot be recalled from a resource server that
    /// does not introspect.
    public var accessTokenLifetimeSeconds = 3_600
    /// Authorization codes (RFC 6749 §4.1.2 recommends at most 10 minutes; a minute is plenty).
    public var authorizationCodeLifetimeSeconds = 60
    /// How long one refresh token stays usable without being used.
    public var refreshTokenLifetimeSeconds = 2_592_000
    /// How long a family of refresh tokens lives at most, however often it is rotated.
    public var refreshTokenAbsoluteLifetimeSeconds = 15_552_000
    /// Public clients always get a new refresh token on every use (OAuth 2.1 §4.3.1); this
    /// decides it for confidential clients.
    public var rotateConfidentialRefreshTokens = true
    /// Whether a requested scope outside the client's registration but inside the tenant's allowed
    /// set is granted (ChatGPT asks for every scope the metadata lists, registered or not).
    public var grantUnregisteredScopes = true
    public var consentMode: ConsentMode = .remember
    /// Consent on every request for clients whose only redirect URIs are loopback (anyone on the
    /// machine can claim such a redirect: MCP security considerations).
    public var consentAlwaysForLoopbackOnlyClients = false
    public var sessionIdleLifetimeSeconds = 86_400
    public var sessionAbsoluteLifetimeSeconds = 604_800

    public init() {}

    private enum Key: String, CaseIterable {
        case accessTokenLifetimeSeconds = "access_token_lifetime_seconds"
        case authorizationCodeLifetimeSeconds = "authorization_code_lifetime_seconds"
        case refreshTokenLifetimeSeconds = "refresh_token_lifetime_seconds"
        case refreshTokenAbsoluteLifetimeSeconds = "refresh_token_absolute_lifetime_seconds"
        case rotateConfidentialRefreshTokens = "rotate_confidential_refresh_tokens"
        case grantUnregisteredScopes = "grant_unregistered_scopes"
        case consentMode = "consent_mode"
        case consentAlwaysForLoopbackOnlyClients = "consent_always_for_loopback_only_clients"
        case sessionIdleLifetimeSeconds = "session_idle_lifetime_seconds"
        case sessionAbsoluteLifetimeSeconds = "session_absolute_lifetime_seconds"
    }

    /// Immutable after initialisation; key paths are not marked Sendable.
    nonisolated(unsafe) private static let lifetimes: [(Key, WritableKeyPath<AuthorizationServerSettings, Int>, ClosedRange<Int>)] = [
        (.accessTokenLifetimeSeconds, \.accessTokenLifetimeSeconds, 60...86_400),
        (.authorizationCodeLifetimeSeconds, \.authorizationCodeLifetimeSeconds, 10...600),
        (.refreshTokenLifetimeSeconds, \.refreshTokenLifetimeSeconds, 60...RegistrationPolicy.maximumLifetimeSeconds),
        (.refreshTokenAbsoluteLifetimeSeconds, \.refreshTokenAbsoluteLifetimeSeconds, 60...RegistrationPolicy.maximumLifetimeSeconds),
        (.sessionIdleLifetimeSeconds, \.sessionIdleLifetimeSeconds, 60...2_592_000),
        (.sessionAbsoluteLifetimeSeconds, \.sessionAbsoluteLifetimeSeconds, 60...31_536_000),
    ]

    init(json: JSONValue, field: String) throws(PolicyError) {
        guard let object = json.objectValue else { throw PolicyError(field: field, reason: "must be an object") }
        if let unknown = object.keys.first(where: { Key(rawValue: $0) == nil }) {
            throw PolicyError(field: "\(field).\(unknown)", reason: "unknown field")
        }
        var settings = AuthorizationServerSettings()
        let reader = FieldReader(object: object)
        do throws(PolicyError) {
            for (key, path, range) in Self.lifetimes {
                if let value = try reader.int(key.rawValue) {
                    guard range.contains(value) else {
                        throw PolicyError(field: key.rawValue, reason: "must be a whole number of seconds from \(range.lowerBound) to \(range.upperBound)")
                    }
                    settings[keyPath: path] = value
                }
            }
            if let value = try reader.bool(Key.rotateConfidentialRefreshTokens.rawValue) { settings.rotateConfidentialRefreshTokens = value }
            if let value = try reader.bool(Key.grantUnregisteredScopes.rawValue) { settings.grantUnregisteredScopes = value }
            if let value = try reader.enumValue(Key.consentMode.rawValue, ConsentMode.self) { settings.consentMode = value }
            if let value = try reader.bool(Key.consentAlwaysForLoopbackOnlyClients.rawValue) { settings.consentAlwaysForLoopbackOnlyClients = value }
            guard settings.refreshTokenLifetimeSeconds <= settings.refreshTokenAbsoluteLifetimeSeconds else {
                throw PolicyError(field: Key.refreshTokenLifetimeSeconds.rawValue, reason: "must not exceed refresh_token_absolute_lifetime_seconds")
            }
            guard settings.sessionIdleLifetimeSeconds <= settings.sessionAbsoluteLifetimeSeconds else {
                throw PolicyError(field: Key.sessionIdleLifetimeSeconds.rawValue, reason: "must not exceed session_absolute_lifetime_seconds")
            }
        } catch {
            // Field names are reported from the policy's root.
            throw PolicyError(field: "\(field).\(error.field)", reason: error.reason)
        }
        self = settings
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = [:]
        for (key, path, _) in Self.lifetimes { object[key.rawValue] = .number(Double(self[keyPath: path])) }
        object[Key.rotateConfidentialRefreshTokens.rawValue] = .bool(rotateConfidentialRefreshTokens)
        object[Key.grantUnregisteredScopes.rawValue] = .bool(grantUnregisteredScopes)
        object[Key.consentMode.rawValue] = .string(consentMode.rawValue)
        object[Key.consentAlwaysForLoopbackOnlyClients.rawValue] = .bool(consentAlwaysForLoopbackOnlyClients)
        return .object(object)
    }
}
