import Crypto
import Foundation
import Synchronization

/// Remembers which (key, signing input, signature) triples verified, so that a resource server
/// introspecting the same access token on every call costs one ECDSA verification per token, not
/// one per call. Only successes are remembered: a forged token is checked, and refused, each time.
///
/// An entry is the SHA-256 of the key's name, the length of the signing input, the signing input
/// and the signature; finding it means exactly these bytes verified under exactly this key before
/// (SHA-256 collision resistance), so a hit is as good as the verification it stands for. The
/// key's name is the tenant and the `kid`, which is the key's RFC 7638 thumbprint: naming the key
/// by its bytes would cost a conversion of the point (a field inversion) at every lookup.
/// Expiry, issuer and revocation are not cached: the validator and its callers judge them anew.
final class VerifiedSignatureCache: Sendable {
    private let entries: Mutex<LRUCache<SHA256Digest, Void>>

    init(capacity: Int = 10_000) {
        entries = Mutex(LRUCache(capacity: capacity))
    }

    /// Whether `parsed` carries a valid ES256 signature by `key`, verifying it only if these
    /// bytes were not verified under this key before. `keyName` must name `key` and no other.
    func verify(_ parsed: CompactJWS.Parsed, with key: P256.Signing.PublicKey, named keyName: String) -> Bool {
        let entry = Self.entry(parsed, keyName: keyName)
        if entries.withLock({ $0.value(for: entry) }) != nil { return true }
        guard CompactJWS.verify(parsed, with: key) else { return false }
        entries.withLock { $0.set((), for: entry) }
        return true
    }

    var count: Int { entries.withLock { $0.count } }

    private static func entry(_ parsed: CompactJWS.Parsed, keyName: String) -> SHA256Digest {
        var hash = SHA256()
        // The lengths keep the boundaries between the parts fixed: no bytes can move from one
        // part to the next and hash the same.
        let name = Data(keyName.utf8)
        withUnsafeBytes(of: UInt64(name.count).bigEndian) { hash.update(bufferPointer: $0) }
        hash.update(data: name)
        withUnsafeBytes(of: UInt64(parsed.signingInput.count).bigEndian) { hash.update(bufferPointer: $0) }
        hash.update(data: parsed.signingInput)
        hash.update(data: parsed.signature)
        return hash.finalize()
    }
}
