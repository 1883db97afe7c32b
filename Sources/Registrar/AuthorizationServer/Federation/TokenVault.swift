import Foundation

/// The vault: what an upstream provider issued to Registrar for a user, and the RFC 8693 token
/// exchange through which the tenant's resource servers obtain the upstream access token for the
/// user of an access token Registrar issued them. Only a resource server named in the token's
/// `aud` may exchange it; an expired upstream access token is refreshed upstream first; every
/// exchange is audited; a revoked grant or revoked sessions empty the user's vault.
struct TokenVault: Sendable {
    /// RFC 8693 §2.1 / §3.
    static let grantType = "urn:ietf:params:oauth:grant-type:token-exchange"
    static let accessTokenType = "urn:ietf:params:oauth:token-type:access_token"
    /// An upstream token this close to its expiry is refreshed before it is handed out.
    static let refreshMargin: TimeInterval = 30

    let providers: any IdentityProviderRepository
    let upstream: UpstreamProviders
    let encryption: KeyEncryptionKey
    let now: @Sendable () -> Date

    /// Tokens are bound to tenant, user and provider, so a sealed token copied to another row
    /// does not open there.
    static func binding(user: UUID, provider: String) -> String { user.uuidString.lowercased() + "\u{0}" + provider }

    static func seal(_ tokens: UpstreamProviders.Tokens, user: UUID, provider: String, tenant: UUID, encryption: KeyEncryptionKey,
                     now: Date) throws -> VaultedTokens {
        let binding = binding(user: user, provider: provider)
        return VaultedTokens(
            tenantID: tenant, userID: user, providerID: provider,
            sealedAccessToken: try encryption.seal(Data(tokens.accessToken.utf8), purpose: IdentityProvider.vaultPurpose, tenantID: tenant, binding: binding),
            accessExpiresAt: tokens.expiresIn.map { now.addingTimeInterval(TimeInterval($0)) },
            sealedRefreshToken: try tokens.refreshToken.map {
                try encryption.seal(Data($0.utf8), purpose: IdentityProvider.vaultPurpose + " (refresh)", tenantID: tenant, binding: binding)
            })
    }

    /// Why no upstream token can be handed out; the token endpoint answers `invalid_grant`.
    struct Unavailable: Error, CustomStringConvertible {
        let description: String
    }

    /// The user's current access token of `provider`, refreshed upstream when it has expired.
    func accessToken(user: UUID, provider: IdentityProvider, tenant: UUID) async throws -> (token: String, expiresAt: Date?) {
        guard let stored = try await providers.vaultedTokens(user: user, provider: provider.id, tenant: tenant) else {
            throw Unavailable(description: "the user holds no token of this provider")
        }
        let binding = Self.binding(user: user, provider: provider.id)
        func open(_ sealed: Data, _ purpose: String, binding: String) throws -> String {
            do {
                return String(decoding: try encryption.open(sealed, purpose: purpose, tenantID: tenant, binding: binding), as: UTF8.self)
            } catch {
                throw Unavailable(description: "a sealed token or secret does not open with this key-encryption key")
            }
        }
        let at = now()
        if let expiresAt = stored.accessExpiresAt, expiresAt <= at.addingTimeInterval(Self.refreshMargin) {
            guard let sealedRefresh = stored.sealedRefreshToken else { throw Unavailable(description: "the upstream token expired and cannot be refreshed") }
            let refreshToken = try open(sealedRefresh, IdentityProvider.vaultPurpose + " (refresh)", binding: binding)
            let fresh: UpstreamProviders.Tokens
            do {
                let discovery = try await upstream.discovery(issuer: provider.issuer, now: at)
                let secret = try open(provider.sealedSecret, IdentityProvider.secretPurpose, binding: provider.id)
                fresh = try await upstream.tokens(discovery, form: [("grant_type", "refresh_token"), ("refresh_token", refreshToken)],
                                                  clientID: provider.clientID, secret: secret)
            } catch let failure as UpstreamProviders.Failure {
                throw Unavailable(description: "the upstream refresh failed: \(failure.description)")
            }
            try await providers.storeTokens(try Self.seal(fresh, user: user, provider: provider.id, tenant: tenant, encryption: encryption, now: at))
            return (fresh.accessToken, fresh.expiresIn.map { at.addingTimeInterval(TimeInterval($0)) })
        }
        return (try open(stored.sealedAccessToken, IdentityProvider.vaultPurpose, binding: binding), stored.accessExpiresAt)
    }
}
