import Foundation

/// The address a per-address limit counts against. An IPv4 peer on a dual-stack socket
/// (`::ffff:a.b.c.d`) is the IPv4 address; an IPv6 address is its prefix (a /64 by default: one
/// subscriber or one host usually holds a whole /64, so counting single addresses there would be
/// no limit at all). Anything that is not an address shares one key, so no caller-chosen text
/// reaches a limiter key.
public enum SourceAddress {
    /// The key for `address` with IPv6 aggregated to `ipv6PrefixLength` bits.
    public static func limitKey(_ address: String?, ipv6PrefixLength: Int = 64) -> String {
        guard let address, let bytes = IPRange.bytes(address) else { return "-" }
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        let length = min(128, max(0, ipv6PrefixLength))
        var masked = bytes
        for index in masked.indices {
            let keep = min(8, max(0, length - index * 8))
            masked[index] &= UInt8(truncatingIfNeeded: 0xFF << (8 - keep))
        }
        let groups = stride(from: 0, to: 16, by: 2).map { String(UInt16(masked[$0]) << 8 | UInt16(masked[$0 + 1]), radix: 16) }
        return groups.joined(separator: ":") + "/\(length)"
    }

    /// The address as logged and audited: IPv4-mapped IPv6 becomes plain IPv4; others unchanged.
    public static func normalized(_ address: String) -> String {
        guard let bytes = IPRange.bytes(address), bytes.count == 4, address.contains(":") else { return address }
        return bytes.map(String.init).joined(separator: ".")
    }
}
