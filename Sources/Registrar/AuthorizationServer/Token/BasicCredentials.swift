/// HTTP Basic client credentials (RFC 7617) as RFC 6749 §2.3.1 defines them for OAuth: the
/// client id and secret are each form-urlencoded before they are joined with `:` and base64
/// encoded, so the server decodes them after splitting. Clients that skip the encoding (the MCP
/// TypeScript SDK) still work, because issued ids and secrets use only unreserved characters,
/// which encoding leaves unchanged.
struct BasicCredentials: Sendable, Equatable {
    let clientID: String
    let secret: String

    /// The credentials in an `Authorization` header value; nil when the header is not Basic.
    /// Throws when it is Basic but malformed. Read byte by byte: every introspection and every
    /// confidential client's grant passes through here.
    static func parse(authorization header: String) throws(OAuthError) -> BasicCredentials? {
        let bytes = Array(header.utf8)
        let scheme = bytes.prefix { $0 != UInt8(ascii: " ") }
        guard scheme.count == 5, zip(scheme, "basic".utf8).allSatisfy({ $0 | 0x20 == $1 }) else { return nil }
        let malformed = OAuthError(.invalidClient, "the Basic credentials are malformed")
        // RFC 7235 §2.1: one or more spaces before the credentials; surrounding blanks are not part of them.
        let blank: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        var encoded = bytes[scheme.count...].drop(while: blank)
        while let last = encoded.last, blank(last) { encoded.removeLast() }
        guard encoded.count <= 8192, let decoded = Base64URL.decode(bytes: encoded, alphabet: .standard),
              let colon = decoded.firstIndex(of: UInt8(ascii: ":")) else { throw malformed }
        let id: String
        let secret: String
        do {
            id = try FormBody.decode(decoded[..<colon])
            secret = try FormBody.decode(decoded[(colon + 1)...])
        } catch {
            throw malformed
        }
        guard !id.isEmpty else { throw malformed }
        return BasicCredentials(clientID: id, secret: secret)
    }
}
