/// A resource indicator (RFC 8707): the URL of a protected resource (one of the tenant's MCP
/// servers), as a client names it in `resource` and as an admin registers it.
///
/// Two spellings of one resource compare equal through `canonical`: scheme and host in lower
/// case, the default port dropped (RFC 3986 §6.2.2.1, §6.2.3), percent-encodings normalised
/// (§6.2.2.1, §6.2.2.2), and one trailing slash ignored, whatever the path: `https://h`,
/// `https://h/`, `HTTPS://H:443/` are one resource, and so are `https://h/mcp` and
/// `https://h/mcp/`. Real clients send both forms of the same URL (the TypeScript SDK's `URL.href`
/// adds the slash to an empty path, the Python SDK keeps what the user typed), and no server
/// serves two different MCP endpoints at `/mcp` and `/mcp/`, so telling them apart would only
/// refuse the right resource. Any other difference of path or query is a different resource.
///
/// `normalized` keeps the path exactly as given (trailing slash included): it is the URL the
/// resource server announces as `resource` in its RFC 9728 metadata (which §3.3 requires to be
/// identical to the URL clients connect to) and the audience of its tokens.
public struct ResourceIndicator: Sendable, Hashable, CustomStringConvertible {
    /// The form resources are compared in (and stored under, `resource_servers.resource_uri`).
    public let canonical: String
    /// Lower-case scheme and host, no default port, path and query as given.
    public let normalized: String
    /// `http` or `https`.
    public let scheme: String
    /// Lower case; IPv6 literals keep their brackets.
    public let host: String
    /// Only a port that is not the scheme's default.
    public let port: Int?
    /// As given: empty, or starting with `/`.
    public let path: String
    /// As given, without the `?`; nil when there is none.
    public let query: String?

    public enum Failure: Error, Equatable, Sendable {
        case empty
        case tooLong
        /// RFC 8707 §2: the value MUST be an absolute URI.
        case notAbsolute
        /// Only http(s) URLs name resources here: MCP servers are reached over HTTP.
        case unsupportedScheme
        /// RFC 8707 §2: it MUST NOT include a fragment component.
        case fragment
        /// Characters outside RFC 3986 §2, or whitespace, controls, backslashes.
        case invalidCharacters
        case userinfo
        case invalidHost
        case invalidPort
        case invalidPercentEncoding
        /// `.` or `..` segments: one resource would have several spellings that browsers and
        /// servers resolve differently.
        case dotSegment
        /// RFC 8707 §2: the URI SHOULD NOT include a query component (refused at registration).
        case query
        /// Plain http except on loopback (RFC 9700 §2.6: tokens travel to it in clear).
        case insecureScheme

        public var reason: String {
            switch self {
            case .empty: "must not be empty"
            case .tooLong: "must be at most \(ResourceIndicator.maximumLength) characters"
            case .notAbsolute: "must be an absolute URL (RFC 8707 §2)"
            case .unsupportedScheme: "must be an http or https URL"
            case .fragment: "must not contain a fragment (RFC 8707 §2)"
            case .invalidCharacters: "contains characters a URL may not contain (RFC 3986 §2)"
            case .userinfo: "must not contain user information"
            case .invalidHost: "has an invalid host"
            case .invalidPort: "has an invalid port"
            case .invalidPercentEncoding: "has an invalid percent-encoding"
            case .dotSegment: "must not contain '.' or '..' path segments"
            case .query: "must not contain a query (RFC 8707 §2)"
            case .insecureScheme: "must use https (plain http only on a loopback host)"
            }
        }
    }

    public static let maximumLength = 2000

    /// Parses a resource indicator as a request carries it: any absolute http(s) URL without a
    /// fragment (RFC 8707 §2).
    public init(parsing raw: String) throws(Failure) {
        if raw.isEmpty { throw .empty }
        if raw.utf8.count > Self.maximumLength { throw .tooLong }
        // RFC 3986 §2: unreserved, reserved and `%`; anything else (quotes, spaces, `<`, `\`,
        // non-ASCII) is refused rather than guessed at, so the value can be quoted in a header.
        guard raw.utf8.allSatisfy(Self.isURICharacter) else { throw .invalidCharacters }
        if raw.contains("#") { throw .fragment }
        let parts: URIParser.Parts
        do {
            parts = try URIParser.parse(raw)
        } catch {
            throw Self.failure(error)
        }
        guard parts.scheme == "http" || parts.scheme == "https" else { throw .unsupportedScheme }
        guard let host = parts.host else { throw .notAbsolute }
        let defaultPort = parts.scheme == "https" ? 443 : 80
        let port = parts.port == defaultPort ? nil : parts.port
        let (path, query): (String, String?) = if let mark = parts.rest.firstIndex(of: "?") {
            (String(parts.rest[..<mark]), String(parts.rest[parts.rest.index(after: mark)...]))
        } else {
            (parts.rest, nil)
        }
        let canonicalPath = Self.normalizingPercentEncoding(path)
        let segments = canonicalPath.split(separator: "/", omittingEmptySubsequences: false)
        if segments.contains(where: { $0 == "." || $0 == ".." }) { throw .dotSegment }

        let origin = "\(parts.scheme)://\(host)" + (port.map { ":\($0)" } ?? "")
        var comparedPath = canonicalPath
        if comparedPath.hasSuffix("/") { comparedPath.removeLast() }
        let canonicalQuery = query.map(Self.normalizingPercentEncoding).flatMap { $0.isEmpty ? nil : "?" + $0 } ?? ""
        self.scheme = parts.scheme
        self.host = host
        self.port = port
        self.path = path
        self.query = query
        self.canonical = origin + comparedPath + canonicalQuery
        self.normalized = origin + path + (query.map { "?" + $0 } ?? "")
    }

    /// The stricter rules for a URL an admin registers as a resource server: no query (RFC 8707
    /// §2 says SHOULD NOT; one is never needed to name an MCP server) and https unless the host is
    /// loopback (a development server on this machine).
    public static func registrable(_ raw: String) throws(Failure) -> ResourceIndicator {
        let indicator = try ResourceIndicator(parsing: raw)
        if indicator.query != nil { throw .query }
        if indicator.scheme == "http" && !RedirectURI.loopbackHosts.contains(indicator.host) {
            throw .insecureScheme
        }
        return indicator
    }

    /// Whether two spellings name the same resource.
    public static func == (lhs: ResourceIndicator, rhs: ResourceIndicator) -> Bool { lhs.canonical == rhs.canonical }
    public func hash(into hasher: inout Hasher) { hasher.combine(canonical) }
    public var description: String { normalized }

    // MARK: - Helpers

    static func failure(_ failure: URIParser.Failure) -> Failure {
        switch failure {
        case .empty: .empty
        case .tooLong: .tooLong
        case .dangerousScheme: .unsupportedScheme
        case .invalidCharacters, .backslash, .wildcard: .invalidCharacters
        case .fragment: .fragment
        case .notAbsolute, .missingAuthority: .notAbsolute
        case .userinfo: .userinfo
        case .invalidHost: .invalidHost
        case .invalidPort: .invalidPort
        case .invalidPercentEncoding: .invalidPercentEncoding
        }
    }

    static func isURICharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: Array("-._~:/?#[]@!$&'()*+,;=%".utf8).contains(byte)
        }
    }

    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"): true
        default: false
        }
    }

    /// RFC 3986 §6.2.2.1–2: percent-encoded unreserved characters decoded, every other
    /// percent-encoding in upper-case hex. The caller has checked that each `%` has two hex digits.
    static func normalizingPercentEncoding(_ text: String) -> String {
        guard text.contains("%") else { return text }
        let bytes = Array(text.utf8)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
               let value = UInt8(String(decoding: bytes[(index + 1)...(index + 2)], as: UTF8.self), radix: 16) {
                if isUnreserved(value) {
                    output.append(value)
                } else {
                    output.append(contentsOf: Array(("%" + String(value, radix: 16, uppercase: true).leftPadded(to: 2)).utf8))
                }
                index += 3
            } else {
                output.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: output, as: UTF8.self)
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
