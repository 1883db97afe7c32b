/// How a redirect URI presented at authorization time is compared with the registered ones
/// (RFC 9700 §4.1.3, RFC 6749 §3.1.2.3): exact, case-sensitive string equality, query included;
/// the only exception is the port of a loopback URI, which may vary (RFC 8252 §7.3). Never the
/// host, the scheme or the path — not even their case.
public enum RedirectURIMatcher {
    public static func matches(_ presented: String, registered: [String]) -> Bool {
        if registered.contains(presented) { return true }
        guard let candidate = withoutLoopbackPort(presented) else { return false }
        return registered.contains { withoutLoopbackPort($0) == candidate }
    }

    /// `http://127.0.0.1:33418/cb` → `http://127.0.0.1/cb`, with every other character exactly
    /// as written (a lower-cased copy would let `http://LOCALHOST/cb` match `http://localhost/cb`);
    /// nil for anything not loopback http.
    static func withoutLoopbackPort(_ uri: String) -> String? {
        guard let parsed = try? RedirectURI(uri), parsed.kind == .loopback, let schemeEnd = uri.range(of: "://") else { return nil }
        let authorityAndRest = uri[schemeEnd.upperBound...]
        let authorityEnd = authorityAndRest.firstIndex { $0 == "/" || $0 == "?" } ?? authorityAndRest.endIndex
        var authority = authorityAndRest[..<authorityEnd]
        if parsed.port != nil, let colon = authority.lastIndex(of: ":") {
            authority = authority[..<colon]
        }
        return String(uri[..<schemeEnd.upperBound]) + String(authority) + String(authorityAndRest[authorityEnd...])
    }

    /// `http://127.0.0.1:33418/cb` → `http://127.0.0.1/cb`, host lower-cased; nil for anything
    /// not loopback http. A normal form for comparing registrations, not for matching redirects.
    static func loopbackWithoutPort(_ uri: String) -> String? {
        guard let parsed = try? RedirectURI(uri), parsed.kind == .loopback, let host = parsed.host else { return nil }
        guard let parts = try? URIParser.parse(uri) else { return nil }
        let scheme = uri.prefix { $0 != ":" }
        return "\(scheme)://\(host)\(parts.rest)"
    }
}
