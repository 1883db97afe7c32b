import Foundation

/// RFC 6749 §5.1: a successful token response. `token_type` is `Bearer` (RFC 6750),
/// `expires_in` a whole number of seconds, `scope` the granted scopes (RFC 6749 §3.3: required
/// when they differ from what was asked; always sent here, since clients read it).
struct TokenResponse: Sendable, Equatable {
    let accessToken: String
    let expiresIn: Int
    let scopes: [String]
    let refreshToken: String?
    let idToken: String?

    var json: JSONValue {
        var object: [String: JSONValue] = [
            "access_token": .string(accessToken),
            "token_type": .string("Bearer"),
            "expires_in": .number(Double(expiresIn)),
        ]
        if !scopes.isEmpty { object["scope"] = .string(scopes.joined(separator: " ")) }
        if let refreshToken { object["refresh_token"] = .string(refreshToken) }
        if let idToken { object["id_token"] = .string(idToken) }
        return .object(object)
    }
}

/// The `scope` parameter of a token request (RFC 6749 §3.3): space-separated scope tokens,
/// duplicates ignored. nil when the request names none.
enum ScopeParameter {
    static let maximumBytes = 4096

    static func parse(_ value: String?) throws(OAuthError) -> [String]? {
        guard let value else { return nil }
        guard value.utf8.count <= maximumBytes else { throw OAuthError(.invalidScope, "scope is too long") }
        var scopes: [String] = []
        for token in value.split(separator: " ", omittingEmptySubsequences: true) {
            guard ScopeSyntax.isValidToken(token) else {
                throw OAuthError(.invalidScope, "scope must be space-separated scope tokens (RFC 6749 §3.3)")
            }
            let scope = String(token)
            if !scopes.contains(scope) { scopes.append(scope) }
        }
        return scopes
    }
}
