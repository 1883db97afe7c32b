/// The scopes in words, for the consent page. Scopes the table does not know are shown by
/// their name: the tenant defined them, and a guessed description would be worse than none.
public enum ScopeDescriptions {
    static let known: [String: String] = [
        "openid": "Confirm who you are (your account identifier)",
        "profile": "See your name",
        "email": "See your email address and whether it is verified",
        "offline_access": "Stay connected when you are not using it (keep access until you revoke it)",
    ]

    public struct Entry: Sendable, Equatable {
        public let scope: String
        public let text: String
        /// Whether `text` is only the scope's name.
        public let isNameOnly: Bool
    }

    public static func describe(_ scopes: [String]) -> [Entry] {
        scopes.map { scope in
            if let text = known[scope] { Entry(scope: scope, text: text, isNameOnly: false) } else { Entry(scope: scope, text: scope, isNameOnly: true) }
        }
    }
}
