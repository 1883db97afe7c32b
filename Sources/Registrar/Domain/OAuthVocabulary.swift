/// RFC 7591 §2 `token_endpoint_auth_method` values this server implements.
public enum TokenEndpointAuthMethod: String, Sendable, CaseIterable, Codable {
    case none
    case clientSecretBasic = "client_secret_basic"
    case clientSecretPost = "client_secret_post"
    case privateKeyJWT = "private_key_jwt"

    /// Whether the method authenticates with a shared secret that the server issues.
    public var usesClientSecret: Bool {
        self == .clientSecretBasic || self == .clientSecretPost
    }
}

/// RFC 7591 §2 `grant_types` values this server implements.
/// The implicit and password grants are deliberately absent (RFC 9700 §2.1.2, §2.4).
public enum GrantType: String, Sendable, CaseIterable, Codable {
    case authorizationCode = "authorization_code"
    case refreshToken = "refresh_token"
    /// RFC 6749 §4.4, for confidential clients acting on their own behalf.
    case clientCredentials = "client_credentials"
}

/// RFC 7591 §2 `response_types` values this server implements.
public enum ResponseType: String, Sendable, CaseIterable, Codable {
    case code
}
