import Crypto
import Foundation
import Synchronization

/// Each tenant's ES256 keys, as the token issuer and validator need them: the one key that
/// signs, decrypted and parsed once, and the public keys of every key still published.
///
/// A tenant's first token creates its key (insert-if-none, then read, so that instances racing
/// on it agree on one). What is read is kept in memory for a few seconds per tenant (design §2:
/// caches expire within seconds), so a rotation on another instance is seen within that time;
/// this instance forgets at once on its own rotation. Decrypted keys live only here, in memory,
/// and are never logged.
public final class SigningKeyStore: Sendable {
    /// What one tenant's keys are, as read at one moment.
    struct TenantKeys: Sendable {
        let signing: ES256KeyPair
        /// Every published key by kid (the signing key included), with when it leaves the JWKS.
        let verification: [String: PublishedKey]
        let loaded: ContinuousClock.Instant
    }

    struct PublishedKey: Sendable {
        let publicKey: P256.Signing.PublicKey
        let jwk: JSONValue
        let publishUntil: Date?
    }

    /// A key row whose sealed key does not open, or whose public key cannot be read: a wrong
    /// key-encryption key in the configuration, or a damaged row. Answered as a server error.
    public struct Unusable: Error, CustomStringConvertible {
        public let description: String
    }

    let repository: any SigningKeyRepository
    let encryption: KeyEncryptionKey
    let lifetime: Duration
    let now: @Sendable () -> Date
    /// Past this many tenants the cache starts over (bounded by the tenants that sign tokens).
    static let capacity = 10_000
    /// A kid unknown to a fresh cache entry is looked up again only if the entry is older than
    /// this, so that tokens with made-up kids cannot turn every request into a query.
    static let unknownKidReloadAfter: Duration = .seconds(1)
    /// A retired key stays published this long past the lifetime of the last token it signed:
    /// clock skew, and other instances that signed with it for up to one cache lifetime longer.
    public static let retirementMargin: TimeInterval = 300

    private let cache = Mutex<[UUID: TenantKeys]>([:])

    public init(repository: any SigningKeyRepository, encryption: KeyEncryptionKey, lifetime: Duration = .seconds(5),
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.repository = repository
        self.encryption = encryption
        self.lifetime = lifetime
        self.now = now
    }

    /// The key that signs the tenant's tokens now, created on first use.
    public func signingKey(tenantID: UUID) async throws -> ES256KeyPair {
        try await keys(tenantID: tenantID).signing
    }

    /// The public key published under `kid`, or nil when the tenant publishes no such key.
    func verificationKey(tenantID: UUID, kid: String) async throws -> P256.Signing.PublicKey? {
        var keys = try await keys(tenantID: tenantID)
        if keys.verification[kid] == nil, ContinuousClock.now - keys.loaded > Self.unknownKidReloadAfter {
            keys = try await load(tenantID: tenantID)
        }
        guard let key = keys.verification[kid], key.publishUntil.map({ $0 > now() }) ?? true else { return nil }
        return key.publicKey
    }

    /// The tenant's JWK Set members (RFC 7517 §5): the signing key and every retired key whose
    /// tokens may still be alive, newest first.
    func publishedJWKs(tenantID: UUID) async throws -> [JSONValue] {
        let keys = try await keys(tenantID: tenantID)
        let now = now()
        return keys.verification.values
            .filter { $0.publishUntil.map { $0 > now } ?? true }
            .sorted { ($0.publishUntil ?? .distantFuture) > ($1.publishUntil ?? .distantFuture) }
            .map(\.jwk)
    }

    /// Every key of the tenant, for the admin API and the CLI: no private material.
    public func list(tenantID: UUID) async throws -> [SigningKeySummary] {
        try await Self.summaries(repository, tenantID: tenantID, now: now())
    }

    /// The same listing without a key-encryption key (nothing is decrypted for it).
    public static func summaries(_ repository: any SigningKeyRepository, tenantID: UUID, now: Date = Date()) async throws -> [SigningKeySummary] {
        try await repository.all(tenantID: tenantID).map { SigningKeySummary($0, now: now) }
    }

    /// Makes a new key the signing key. The old one stays published until every token it can
    /// have signed has expired: the tenant's access-token lifetime (id tokens share it) plus
    /// `retirementMargin`.
    public func rotate(tenant: Tenant, audit: AuditEvent?) async throws -> (kid: String, retiredKid: String?) {
        let lifetime = TimeInterval(tenant.policy.authorizationServer.accessTokenLifetimeSeconds)
        var attempt = 0
        while true {
            let created = now()
            let pair = ES256KeyPair.generate()
            let stored = try seal(pair, tenantID: tenant.id, at: created)
            do {
                let retired = try await repository.rotate(to: stored, publishUntil: created.addingTimeInterval(lifetime + Self.retirementMargin),
                                                          audit: audit)
                forget(tenantID: tenant.id)
                return (pair.kid, retired)
            } catch let error as DatabaseError where error.kind == .uniqueViolation && attempt < 3 {
                // A rotation elsewhere committed between our retiring and inserting: go again,
                // retiring the key it made.
                attempt += 1
            }
        }
    }

    /// Drops this instance's copy of a tenant's keys.
    public func forget(tenantID: UUID) {
        _ = cache.withLock { $0.removeValue(forKey: tenantID) }
    }

    func keys(tenantID: UUID) async throws -> TenantKeys {
        if lifetime > .zero, let cached = cache.withLock({ $0[tenantID] }), ContinuousClock.now - cached.loaded < lifetime {
            return cached
        }
        return try await load(tenantID: tenantID)
    }

    private func load(tenantID: UUID) async throws -> TenantKeys {
        var rows = try await repository.published(tenantID: tenantID, now: now())
        if !rows.contains(where: { $0.retiredAt == nil }) {
            try await repository.insertIfNoneActive(try seal(ES256KeyPair.generate(), tenantID: tenantID, at: now()))
            rows = try await repository.published(tenantID: tenantID, now: now())
        }
        guard let active = rows.first(where: { $0.retiredAt == nil }) else {
            throw Unusable(description: "the tenant has no active signing key after creating one")
        }
        let signing: ES256KeyPair
        do {
            let raw = try encryption.open(active.sealedPrivateKey, tenantID: tenantID, kid: active.kid)
            signing = ES256KeyPair(kid: active.kid, privateKey: try P256.Signing.PrivateKey(rawRepresentation: raw))
        } catch {
            throw Unusable(description: "signing key \(active.kid) of tenant \(tenantID) cannot be opened: is REGISTRAR_KEY_ENCRYPTION_KEY the one it was sealed with?")
        }
        // A kid names one key only as its RFC 7638 thumbprint, which the verified-signature cache
        // relies on (it names keys by kid): a row whose kid is not its key's thumbprint (edited
        // by hand, restored from elsewhere) is neither signed with nor trusted.
        guard ES256KeyPair.thumbprint(signing.privateKey.publicKey) == active.kid else {
            throw Unusable(description: "signing key \(active.kid) of tenant \(tenantID) is stored under a kid that is not its thumbprint")
        }
        var verification: [String: PublishedKey] = [:]
        for row in rows {
            if row.kid == signing.kid {
                verification[row.kid] = PublishedKey(publicKey: signing.privateKey.publicKey, jwk: row.publicJWK, publishUntil: nil)
            } else if let key = Self.publicKey(row.publicJWK), ES256KeyPair.thumbprint(key) == row.kid {
                verification[row.kid] = PublishedKey(publicKey: key, jwk: row.publicJWK, publishUntil: row.publishUntil)
            }
        }
        let keys = TenantKeys(signing: signing, verification: verification, loaded: .now)
        if lifetime > .zero {
            cache.withLock { cache in
                if cache.count >= Self.capacity { cache.removeAll(keepingCapacity: true) }
                cache[tenantID] = keys
            }
        }
        return keys
    }

    private func seal(_ pair: ES256KeyPair, tenantID: UUID, at created: Date) throws -> StoredSigningKey {
        StoredSigningKey(tenantID: tenantID, kid: pair.kid, algorithm: "ES256",
                         sealedPrivateKey: try encryption.seal(pair.rawPrivateKey, tenantID: tenantID, kid: pair.kid),
                         publicJWK: pair.publicJWK, createdAt: created, retiredAt: nil, publishUntil: nil)
    }

    /// The P-256 public key of a stored JWK (written by this server, so only that shape).
    static func publicKey(_ jwk: JSONValue) -> P256.Signing.PublicKey? {
        guard let object = jwk.objectValue, object["kty"]?.stringValue == "EC", object["crv"]?.stringValue == "P-256",
              let x = object["x"]?.stringValue.flatMap(CompactJWS.base64URLDecode), x.count == 32,
              let y = object["y"]?.stringValue.flatMap(CompactJWS.base64URLDecode), y.count == 32
        else { return nil }
        return try? P256.Signing.PublicKey(rawRepresentation: x + y)
    }
}
