/// Validated, normalised client metadata (RFC 7591 §2). Only the validator builds one from a
/// request; storage round-trips it through `json`.
public struct ClientMetadata: Sendable, Equatable {
    public var redirectURIs: [String]
    public var tokenEndpointAuthMethod: TokenEndpointAuthMethod
    public var grantTypes: [GrantType]
    public var responseTypes: [ResponseType]
    public var clientName: String?
    public var clientURI: String?
    public var logoURI: String?
    public var tosURI: String?
    public var policyURI: String?
    /// Space-separated on the wire; stored as tokens in request order.
    public var scope: [String]
    public var contacts: [String]
    public var jwks: JSONValue?
    public var jwksURI: String?
    public var softwareID: String?
    public var softwareVersion: String?
    /// OpenID Connect Registration's `web` / `native`, kept for clients that send it.
    public var applicationType: String?
    /// RFC 7591 §2.2 language-tagged values, keyed by the full member name (`client_name#ja-Jpan-JP`).
    public var localized: [String: String]

    public init(
        redirectURIs: [String], tokenEndpointAuthMethod: TokenEndpointAuthMethod,
        grantTypes: [GrantType] = [.authorizationCode], responseTypes: [ResponseType] = [.code],
        clientName: String? = nil, clientURI: String? = nil, logoURI: String? = nil, tosURI: String? = nil,
        policyURI: String? = nil, scope: [String] = [], contacts: [String] = [], jwks: JSONValue? = nil,
        jwksURI: String? = nil, softwareID: String? = nil, softwareVersion: String? = nil,
        applicationType: String? = nil, localized: [String: String] = [:]
    ) {
        self.redirectURIs = redirectURIs
        self.tokenEndpointAuthMethod = tokenEndpointAuthMethod
        self.grantTypes = grantTypes
        self.responseTypes = responseTypes
        self.clientName = clientName
        self.clientURI = clientURI
        self.logoURI = logoURI
        self.tosURI = tosURI
        self.policyURI = policyURI
        self.scope = scope
        self.contacts = contacts
        self.jwks = jwks
        self.jwksURI = jwksURI
        self.softwareID = softwareID
        self.softwareVersion = softwareVersion
        self.applicationType = applicationType
        self.localized = localized
    }

    /// Whether the client authenticates with a secret the server issues.
    public var isConfidential: Bool { tokenEndpointAuthMethod.usesClientSecret }

    /// The metadata members of a registration response: never a null, never an empty string,
    /// never an empty optional list (the MCP TypeScript schema rejects them).
    public var json: [String: JSONValue] {
        var object: [String: JSONValue] = [
            "redirect_uris": .array(redirectURIs.map(JSONValue.string)),
            "token_endpoint_auth_method": .string(tokenEndpointAuthMethod.rawValue),
            "grant_types": .array(grantTypes.map { .string($0.rawValue) }),
            "response_types": .array(responseTypes.map { .string($0.rawValue) }),
        ]
        func put(_ key: String, _ value: String?) {
            if let value, !value.isEmpty { object[key] = .string(value) }
        }
        put("client_name", clientName)
        put("client_uri", clientURI)
        put("logo_uri", logoURI)
        put("tos_uri", tosURI)
        put("policy_uri", policyURI)
        put("scope", scope.isEmpty ? nil : scope.joined(separator: " "))
        if !contacts.isEmpty { object["contacts"] = .array(contacts.map(JSONValue.string)) }
        if let jwks { object["jwks"] = jwks }
        put("jwks_uri", jwksURI)
        put("software_id", softwareID)
        put("software_version", softwareVersion)
        put("application_type", applicationType)
        for (key, value) in localized { put(key, value) }
        return object
    }

    /// Reads metadata this server stored; it was validated before it was written.
    public init?(stored object: [String: JSONValue]) {
        guard let redirects = object["redirect_uris"]?.arrayValue?.compactMap(\.stringValue),
              let method = object["token_endpoint_auth_method"]?.stringValue.flatMap(TokenEndpointAuthMethod.init(rawValue:))
        else { return nil }
        self.init(redirectURIs: redirects, tokenEndpointAuthMethod: method)
        grantTypes = object["grant_types"]?.arrayValue?.compactMap { $0.stringValue.flatMap(GrantType.init(rawValue:)) } ?? [.authorizationCode]
        responseTypes = object["response_types"]?.arrayValue?.compactMap { $0.stringValue.flatMap(ResponseType.init(rawValue:)) } ?? [.code]
        clientName = object["client_name"]?.stringValue
        clientURI = object["client_uri"]?.stringValue
        logoURI = object["logo_uri"]?.stringValue
        tosURI = object["tos_uri"]?.stringValue
        policyURI = object["policy_uri"]?.stringValue
        scope = object["scope"]?.stringValue?.split(separator: " ").map(String.init) ?? []
        contacts = object["contacts"]?.arrayValue?.compactMap(\.stringValue) ?? []
        jwks = object["jwks"].flatMap { $0 == .null ? nil : $0 }
        jwksURI = object["jwks_uri"]?.stringValue
        softwareID = object["software_id"]?.stringValue
        softwareVersion = object["software_version"]?.stringValue
        applicationType = object["application_type"]?.stringValue
        for (key, value) in object where key.contains("#") {
            if let string = value.stringValue { localized[key] = string }
        }
    }
}
