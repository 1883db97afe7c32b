import Foundation
import Synchronization

/// What Registrar asks of an upstream OpenID provider, always through the guarded client:
/// its discovery document (OpenID Connect Discovery 1.0 §4), its JWK Set, and its token
/// endpoint for codes and refresh tokens. Discovery documents and key sets are kept in memory
/// for an hour; a key set is fetched again (at most once a minute) when a token names a key it
/// does not have, which is how a provider's key rotation shows.
final class UpstreamProviders: Sendable {
    struct Discovery: Sendable, Equatable {
        let issuer: String
        let authorizationEndpoint: String
        let tokenEndpoint: String
        let jwksURI: String
        let tokenEndpointAuthMethods: [String]
    }

    struct Tokens: Sendable, Equatable {
        let idToken: String?
        let accessToken: String
        let refreshToken: String?
        let expiresIn: Int?
    }

    /// Why the provider could not be used; its words go on an error page and into the logs.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static let cacheLifetime: TimeInterval = 3600
    /// Key sets and token responses are larger than a client's document (Entra's key set with
    /// certificate chains is over 10 KiB).
    static let maximumBodyBytes = 64 * 1024

    let fetcher: GuardedHTTPClient
    let discoveries = Mutex(LRUCache<String, (Discovery, Date)>(capacity: 500))
    let keySets = Mutex(LRUCache<String, (JSONValue, Date)>(capacity: 500))

    init(fetcher: GuardedHTTPClient) {
        self.fetcher = fetcher
    }

    func discovery(issuer: String, now: Date) async throws(Failure) -> Discovery {
        if let (cached, at) = discoveries.withLock({ $0.value(for: issuer) }), now.timeIntervalSince(at) < Self.cacheLifetime { return cached }
        let document = try await json(issuer + "/.well-known/openid-configuration", "discovery")
        guard let named = document["issuer"]?.stringValue,
              let authorize = document["authorization_endpoint"]?.stringValue, let token = document["token_endpoint"]?.stringValue,
              let jwks = document["jwks_uri"]?.stringValue else {
            throw Failure(description: "the provider's discovery document lacks issuer, authorization_endpoint, token_endpoint or jwks_uri")
        }
        // Discovery §4.3: the issuer in the document is the one it was fetched for; Entra's
        // multi-tenant document names a `{tenantid}` template under a shared path instead.
        guard named == issuer || (named.contains(IDTokenVerifier.tenantPlaceholder) && Self.isEntraTemplate(named, for: issuer)) else {
            throw Failure(description: "the provider's discovery document names another issuer")
        }
        for endpoint in [authorize, token, jwks] where !endpoint.hasPrefix("https://") {
            throw Failure(description: "the provider's endpoints must be https")
        }
        let methods = document["token_endpoint_auth_methods_supported"]?.arrayValue?.compactMap(\.stringValue) ?? ["client_secret_basic"]
        let discovery = Discovery(issuer: named, authorizationEndpoint: authorize, tokenEndpoint: token, jwksURI: jwks,
                                  tokenEndpointAuthMethods: methods)
        discoveries.withLock { $0.set((discovery, now), for: issuer) }
        return discovery
    }

    /// `https://login.microsoftonline.com/{tenantid}/v2.0` for a provider configured at
    /// `https://login.microsoftonline.com/organizations/v2.0` (or `common`): same host, the
    /// placeholder where the configured path has its shared segment.
    static func isEntraTemplate(_ template: String, for issuer: String) -> Bool {
        let templateParts = template.split(separator: "/", omittingEmptySubsequences: false)
        let issuerParts = issuer.split(separator: "/", omittingEmptySubsequences: false)
        guard templateParts.count == issuerParts.count else { return false }
        return zip(templateParts, issuerParts).allSatisfy { $0 == $1 || ($0 == IDTokenVerifier.tenantPlaceholder && ["organizations", "common"].contains($1)) }
    }

    /// The provider's key set; `refresh` asks again unless it was fetched in the last minute.
    func keys(_ discovery: Discovery, now: Date, refresh: Bool = false) async throws(Failure) -> JSONValue {
        if let (cached, at) = keySets.withLock({ $0.value(for: discovery.jwksURI) }),
           now.timeIntervalSince(at) < (refresh ? 60 : Self.cacheLifetime) { return cached }
        let set = JSONValue.object(try await json(discovery.jwksURI, "key set"))
        guard set["keys"]?.arrayValue != nil else { throw Failure(description: "the provider's jwks_uri does not serve a JWK Set") }
        keySets.withLock { $0.set((set, now), for: discovery.jwksURI) }
        return set
    }

    /// RFC 6749 §4.1.3 (with the PKCE verifier, RFC 7636 §4.5) or §6, authenticated with the
    /// client secret as the provider supports it: `client_secret_basic` unless it offers only
    /// `client_secret_post` (OpenID Connect Core §9).
    func tokens(_ discovery: Discovery, form: [(String, String)], clientID: String, secret: String) async throws(Failure) -> Tokens {
        var form = form
        var headers: [(String, String)] = [("Accept", "application/json")]
        if !discovery.tokenEndpointAuthMethods.contains("client_secret_basic") && discovery.tokenEndpointAuthMethods.contains("client_secret_post") {
            form += [("client_id", clientID), ("client_secret", secret)]
        } else {
            // RFC 6749 §2.3.1: both parts form-encoded before Basic.
            let user = FormParameters([("", clientID)]).encoded.dropFirst(), password = FormParameters([("", secret)]).encoded.dropFirst()
            headers.append(("Authorization", "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()))
        }
        let response: GuardedHTTPClient.Response
        do {
            response = try await fetcher.post(discovery.tokenEndpoint, form: form, headers: headers, maximumBodyBytes: Self.maximumBodyBytes)
        } catch {
            throw Failure(description: "the provider's token endpoint: \(error)")
        }
        guard let object = try? JSONValue.parseObject(response.body), let access = object["access_token"]?.stringValue, !access.isEmpty else {
            throw Failure(description: "the provider's token response has no access_token")
        }
        let expiresIn: Int? = if case .number(let value)? = object["expires_in"], value > 0, value < 1e9 { Int(value) } else { nil }
        return Tokens(idToken: object["id_token"]?.stringValue, accessToken: access, refreshToken: object["refresh_token"]?.stringValue,
                      expiresIn: expiresIn)
    }

    func json(_ url: String, _ what: String) async throws(Failure) -> [String: JSONValue] {
        let response: GuardedHTTPClient.Response
        do {
            response = try await fetcher.get(url, maximumBodyBytes: Self.maximumBodyBytes)
        } catch {
            throw Failure(description: "the provider's \(what): \(error)")
        }
        guard let object = try? JSONValue.parseObject(response.body) else { throw Failure(description: "the provider's \(what) is not a JSON object") }
        return object
    }
}
