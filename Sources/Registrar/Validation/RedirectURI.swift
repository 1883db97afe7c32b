/// A registered redirect URI that passed the structural rules of RFC 6749 §3.1.2, RFC 8252 and
/// RFC 9700 §4.1. Kept as the exact string the client sent: `/authorize` compares strings.
public struct RedirectURI: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// `https://host…`
        case https
        /// `http://` on `localhost`, `127.0.0.1` or `[::1]` (RFC 8252 §7.3).
        case loopback
        /// A private-use scheme of a native app (RFC 8252 §7.1), `com.example.app:/cb`.
        case privateUse
    }

    public let value: String
    public let kind: Kind
    public let host: String?
    public let port: Int?

    /// Hosts that count as loopback for plain http (RFC 8252 §7.3, §8.3).
    public static let loopbackHosts: Set<String> = ["localhost", "127.0.0.1", "[::1]"]

    /// Schemes that are not a native app's private-use scheme: web, mail and browser-internal ones.
    public static let nonPrivateUseSchemes: Set<String> = [
        "about", "blob", "chrome", "filesystem", "ftp", "intent", "mailto", "sms", "tel", "urn", "view-source", "ws", "wss",
    ]

    /// Applies the structural rules; policy (loopback and private-use allowed) is checked by the caller.
    public init(_ raw: String) throws(OAuthError) {
        let parts: URIParser.Parts
        do {
            parts = try URIParser.parse(raw)
        } catch {
            throw .invalidRedirect(Self.describe(error, raw: raw))
        }
        self.value = raw
        self.host = parts.host
        self.port = parts.port
        switch parts.scheme {
        case "https":
            self.kind = .https
        case "http":
            guard let host = parts.host, Self.loopbackHosts.contains(host) else {
                throw .invalidRedirect("redirect_uris: '\(raw)' uses http on a host that is not loopback; use https (RFC 9700 §4.1.1, RFC 8252 §7.3)")
            }
            self.kind = .loopback
        default:
            if Self.nonPrivateUseSchemes.contains(parts.scheme) {
                throw .invalidRedirect("redirect_uris: the scheme '\(parts.scheme)' is not allowed")
            }
            self.kind = .privateUse
        }
    }

    static func describe(_ failure: URIParser.Failure, raw: String) -> String {
        // The raw value is echoed only when it is printable ASCII; it goes into JSON, never HTML.
        let shown = raw.unicodeScalars.allSatisfy { $0.isASCII && $0.value >= 0x20 && $0.value != 0x7F } && raw.count <= 200 ? " '\(raw)'" : ""
        let reason: String = switch failure {
        case .empty: "must not be empty"
        case .tooLong: "is longer than \(URIParser.maximumLength) characters"
        case .dangerousScheme(let scheme): "uses the scheme '\(scheme)', which is never allowed"
        case .invalidCharacters: "must not contain whitespace, control or non-ASCII characters"
        case .backslash: "must not contain a backslash"
        case .fragment: "must not contain a fragment (RFC 6749 §3.1.2)"
        case .wildcard: "must not contain a wildcard"
        case .notAbsolute: "must be an absolute URI (RFC 6749 §3.1.2)"
        case .missingAuthority: "must have a host after '//'"
        case .userinfo: "must not contain user information"
        case .invalidHost: "has an invalid host"
        case .invalidPort: "has an invalid port"
        case .invalidPercentEncoding: "has an invalid percent-encoding"
        }
        return "redirect_uris:\(shown) \(reason)"
    }
}
