import Hummingbird

/// RFC 6750 §2.1: `Authorization: Bearer <token>`; the scheme is case-insensitive.
enum BearerToken {
    /// The token, or nil when there is no Authorization header. A header that is not a
    /// well-formed Bearer credential is an invalid token, not a missing one.
    static func from(_ request: Request) throws(OAuthError) -> String? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw .invalidToken }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        guard !token.isEmpty, token.utf8.count <= 512 else { throw .invalidToken }
        return token
    }

    /// `rat_` + 43 base64url characters (design §4).
    static func isRegistrationAccessTokenShaped(_ token: String) -> Bool {
        token.hasPrefix("rat_") && token.utf8.count == 47
            && token.utf8.dropFirst(4).allSatisfy { byte in
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            }
    }
}
