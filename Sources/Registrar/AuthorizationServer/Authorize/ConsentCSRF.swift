/// The CSRF token of the consent and grant forms: an HMAC of the session's hash under the
/// server's key, so it is bound to one session, needs no storage, and dies with the session
/// (a form posted from another site carries no token, or one of another session).
public struct ConsentCSRF: Sendable {
    let key: TokenTagKey

    public init(key: TokenTagKey) {
        self.key = key
    }

    /// Domain separation from the other uses of the same key (token tags).
    static let label = "registrar consent form v1|"

    public func token(sessionHash: String) -> String {
        key.tag(Self.label + sessionHash)
    }

    /// Compared in constant time (design §4).
    public func accepts(_ presented: String?, sessionHash: String) -> Bool {
        guard let presented, !presented.isEmpty else { return false }
        return key.matches(Self.label + sessionHash, tag: presented)
    }
}
