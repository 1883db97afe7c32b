import Foundation
import NIOHTTP1

/// A client ID metadata document (draft-ietf-oauth-client-id-metadata-document-01, "CIMD"): a
/// client whose `client_id` is an https URL, where the URL serves the client's RFC 7591 metadata.
/// Pure: the URL rules, the document rules and the cache lifetime, with no I/O. The metadata
/// itself goes through `ClientMetadataValidator` under the tenant's policy, exactly as a
/// registration does.
public enum MetadataDocument {
    /// Why a document's client cannot be used, in words for an error page and the logs.
    public struct Refusal: Error, Equatable, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Methods that need a secret the server would share with the client: a document is public,
    /// so none of them can be (§4.1: "MUST NOT" use them).
    static let sharedSecretMethods: Set<String> = ["client_secret_basic", "client_secret_post", "client_secret_jwt"]
    /// The methods a document's client can authenticate with, most secure first.
    static let documentMethods: [TokenEndpointAuthMethod] = [.privateKeyJWT, .none]

    /// Whether `clientID` names a metadata document rather than an issued id: an https URL.
    public static func isDocumentURL(_ clientID: String) -> Bool {
        clientID.hasPrefix("https://")
    }

    /// §3: the `client_id` URL uses https, has a path, and contains no fragment, no userinfo and
    /// no `.` or `..` path segment (which would make two spellings of one document). A query is
    /// allowed. Returns the host (lower-cased) on success.
    public static func checkURL(_ url: String) throws(Refusal) -> String {
        guard url.utf8.count <= URIParser.maximumLength else { throw Refusal("the client_id URL is too long") }
        let parts: URIParser.Parts
        do { parts = try URIParser.parse(url) } catch { throw Refusal("the client_id is not a usable URL") }
        guard parts.scheme == "https", url.hasPrefix("https://") else { throw Refusal("a client_id URL must use https") }
        guard let host = parts.host, !host.isEmpty else { throw Refusal("the client_id URL has no host") }
        let path = parts.rest.prefix { $0 != "?" }
        guard path.hasPrefix("/"), path.count > 1 else { throw Refusal("the client_id URL must have a path") }
        for segment in path.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            let decoded = segment.lowercased().replacingOccurrences(of: "%2e", with: ".")
            if decoded == "." || decoded == ".." { throw Refusal("the client_id URL must not contain '.' or '..' path segments") }
        }
        return host
    }

    /// The document's rules (§4.1), then the registration validator under `policy`:
    /// - the body is a JSON object (whatever its content type says: some hosts serve `text/plain`);
    /// - its `client_id` equals the URL, compared as strings, byte for byte;
    /// - it carries no `client_secret` or `client_secret_expires_at` and names no shared-secret method;
    /// - grant types this server does not support are dropped, not refused (Claude Desktop lists
    ///   `jwt-bearer`);
    /// - without `token_endpoint_auth_method`, the OpenID RP Metadata Choices list
    ///   `token_endpoint_auth_methods_supported` (ChatGPT's) is negotiated: `private_key_jwt` when
    ///   the document names keys and the tenant allows it, else `none`.
    public static func validate(_ body: [UInt8], url: String, policy: RegistrationPolicy) throws(Refusal) -> ClientMetadataValidator.Result {
        let document: [String: JSONValue]
        do { document = try JSONValue.parseObject(body) } catch { throw Refusal("the document is not a JSON object") }
        return try validate(document: document, url: url, policy: policy)
    }

    /// The rules on a parsed document; also how a stored document is judged again under the
    /// tenant's current policy when its host answers 304.
    public static func validate(document: [String: JSONValue], url: String, policy: RegistrationPolicy) throws(Refusal) -> ClientMetadataValidator.Result {
        var document = document
        try checkRegistrationGates(policy)
        guard case .string(let named)? = document["client_id"] else { throw Refusal("the document has no client_id") }
        guard Array(named.utf8) == Array(url.utf8) else { throw Refusal("the document's client_id is not its own URL") }
        for member in ["client_secret", "client_secret_expires_at"] where document[member] != nil {
            throw Refusal("the document carries \(member), which a public document must not")
        }
        document["token_endpoint_auth_method"] = .string(try negotiateMethod(document, policy: policy).rawValue)
        document.removeValue(forKey: "token_endpoint_auth_methods_supported")
        if case .array(let grants)? = document["grant_types"] {
            // client_credentials is never a document's: anyone could name the document, and the
            // grant needs no user (RFC 6749 §4.4).
            let supported = grants.filter { value in
                guard let name = value.stringValue, let grant = GrantType(rawValue: name), grant != .clientCredentials else { return false }
                return policy.grantTypes.contains(grant)
            }
            if supported.isEmpty { document.removeValue(forKey: "grant_types") } else { document["grant_types"] = .array(supported) }
        }
        let result: ClientMetadataValidator.Result
        do {
            result = try ClientMetadataValidator.validate(document, policy: policy)
        } catch {
            throw Refusal("the document's metadata is refused: \(error.errorDescription ?? error.code.rawValue)")
        }
        // The tenant's rule for who may add a client without an initial access token applies to
        // documents as to registrations: under `open_for_trusted_redirects`, only loopback
        // redirects and those on trusted hosts.
        if policy.registrationAccess == .openForTrustedRedirects && policy.requiresInitialAccessToken(for: result.redirectURIs) {
            throw Refusal("the document's redirect URIs are not on hosts this service trusts")
        }
        return result
    }

    /// Gates of the registration policy that no document can pass: it carries neither an
    /// initial access token nor a software statement.
    static func checkRegistrationGates(_ policy: RegistrationPolicy) throws(Refusal) {
        if policy.registrationAccess == .initialAccessToken {
            throw Refusal("this service adds clients only with an initial access token")
        }
        if policy.softwareStatementMode == .required {
            throw Refusal("this service adds clients only with a software statement")
        }
    }

    static func negotiateMethod(_ document: [String: JSONValue], policy: RegistrationPolicy) throws(Refusal) -> TokenEndpointAuthMethod {
        let allowed = documentMethods.filter(policy.tokenEndpointAuthMethods.contains)
        if let value = document["token_endpoint_auth_method"] {
            guard let name = value.stringValue else { throw Refusal("token_endpoint_auth_method must be a string") }
            if sharedSecretMethods.contains(name) { throw Refusal("the document names \(name), a shared-secret method, which a public document cannot use") }
            guard let method = TokenEndpointAuthMethod(rawValue: name), allowed.contains(method) else {
                throw Refusal("token_endpoint_auth_method '\(ClientMetadataValidator.printable(name))' is not allowed here; "
                              + "use one of: \(allowed.map(\.rawValue).joined(separator: ", "))")
            }
            return method
        }
        let hasKeys = document["jwks"] != nil || document["jwks_uri"] != nil
        guard case .array(let offered)? = document["token_endpoint_auth_methods_supported"] else {
            guard allowed.contains(.none) else { throw Refusal("the document names no token_endpoint_auth_method, and none is not allowed here") }
            return .none
        }
        let names = Set(offered.compactMap(\.stringValue))
        for method in allowed where names.contains(method.rawValue) && (method != .privateKeyJWT || hasKeys) {
            return method
        }
        throw Refusal("none of token_endpoint_auth_methods_supported is allowed here; use one of: \(allowed.map(\.rawValue).joined(separator: ", "))")
    }

    /// §4.4: until when a document fetched at `now` is believed. `Cache-Control: max-age`
    /// (RFC 9111 §5.2.2.1) within the tenant's bounds; `no-store`, `no-cache` or no lifetime at
    /// all give the tenant's minimum, so a document is never fetched once per request.
    public static func expiry(of headers: HTTPHeaders, fetchedAt now: Date, settings: MetadataDocumentSettings) -> Date {
        var seconds = settings.cacheMinimumSeconds
        let directives = headers["cache-control"].flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        if !directives.contains(where: { $0 == "no-store" || $0 == "no-cache" }),
           let maxAge = directives.first(where: { $0.hasPrefix("max-age=") }),
           let value = Int(maxAge.dropFirst("max-age=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))) {
            seconds = min(max(value, settings.cacheMinimumSeconds), settings.cacheMaximumSeconds)
        }
        return now.addingTimeInterval(TimeInterval(seconds))
    }
}
