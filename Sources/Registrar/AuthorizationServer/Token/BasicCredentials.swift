import Foundation

/// HTTP Basic client credentials (RFC 7617) as RFC 6749 §2.3.1 defines them for OAuth: the
/// client id and secret are each form-urlencoded before they are joined with `:` and base64
/// encoded, so the server decodes them after splitting. Clients that skip the encoding (the MCP
/// TypeScript SDK) still work, because issued ids and secrets use only unreserved characters,
/// which encoding leaves unchanged.
struct BasicCredentials: Sendable, Equatable {
    let clientID: String
    let secret: String

    /// The credentials in an `Authorization` header value; nil when the header is not Basic.
    /// Throws when it is Basic but malformed.
    static func parse(authorization header: String) throws(OAuthError) -> BasicCredentials? {
        let scheme = header.prefix { $0 != " " }
        guard scheme.lowercased() == "basic" else { return nil }
        let encoded = header.dropFirst(scheme.count).trimmingCharacters(in: .whitespaces)
        let malformed = OAuthError(.invalidClient, "the Basic credentials are malformed")
        guard encoded.utf8.count <= 8192, let data = Data(base64Encoded: encoded),
              let decoded = String(data: data, encoding: .utf8),
              let colon = decoded.firstIndex(of: ":") else { throw malformed }
        let rawID = decoded[decoded.startIndex..<colon]
        let rawSecret = decoded[decoded.index(after: colon)...]
        let id: String
        let secret: String
        do {
            id = try FormBody.decode(ArraySlice(rawID.utf8))
            secret = try FormBody.decode(ArraySlice(rawSecret.utf8))
        } catch {
            throw malformed
        }
        guard !id.isEmpty else { throw malformed }
        return BasicCredentials(clientID: id, secret: secret)
    }
}
