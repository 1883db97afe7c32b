/// Addresses a server must never fetch from on a client's say-so: the special-purpose ranges of
/// RFC 6890 (and their later additions) that reach the server itself, its private network or a
/// cloud provider's metadata service. Registration refuses such literals in URLs that will be
/// fetched; the outbound fetcher applies the same classification to every resolved address.
///
/// Host literals are read the way browsers (WHATWG URL §3.5, IPv4 parser) and `inet_aton` read
/// them, so `http://0x7f.1/` and `http://2130706433/` are both 127.0.0.1, not host names.
public enum SpecialUseAddress: String, Sendable, Equatable, CaseIterable {
    /// 169.254.169.254 and fd00:ec2::254: instance metadata of the big cloud providers.
    case cloudMetadata = "cloud metadata"
    /// 127.0.0.0/8, ::1 (RFC 6890 §2.2.2, §2.2.3), and the `localhost` names (RFC 6761 §6.3).
    case loopback
    /// 10/8, 172.16/12, 192.168/16 (RFC 1918), fc00::/7 (RFC 4193), fec0::/10 (deprecated site-local).
    case privateUse = "private"
    /// 169.254/16 (RFC 3927), fe80::/10 (RFC 4291 §2.5.6).
    case linkLocal = "link-local"
    /// 100.64/10, carrier-grade NAT (RFC 6598).
    case sharedAddressSpace = "shared address space"
    /// 0.0.0.0/8 "this network" (RFC 791, RFC 6890) and :: (RFC 4291 §2.5.2).
    case unspecified
    /// 224/4 and ff00::/8.
    case multicast
    /// 240/4 and 255.255.255.255 (RFC 1112, RFC 919).
    case reserved

    /// The special range `host` (as in a URL: brackets around IPv6, any case, an optional
    /// trailing dot) falls in; nil for public addresses and ordinary host names.
    public static func classify(host: String) -> SpecialUseAddress? {
        var host = host.lowercased()
        if host.hasPrefix("[") && host.hasSuffix("]") {
            guard let address = parseIPv6(String(host.dropFirst().dropLast())) else { return nil }
            return classify(ipv6: address)
        }
        if host.hasSuffix(".") { host.removeLast() }
        if host == "localhost" || host.hasSuffix(".localhost") { return .loopback }
        if let address = parseIPv4(host) { return classify(ipv4: address) }
        return nil
    }

    public static func classify(ipv4 address: UInt32) -> SpecialUseAddress? {
        func within(_ network: UInt32, _ prefix: Int) -> Bool {
            let mask: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << (32 - prefix)
            return address & mask == network
        }
        if address == 0xA9FE_A9FE { return .cloudMetadata }  // 169.254.169.254
        if within(0x7F00_0000, 8) { return .loopback }
        if within(0x0A00_0000, 8) || within(0xAC10_0000, 12) || within(0xC0A8_0000, 16) { return .privateUse }
        if within(0xA9FE_0000, 16) { return .linkLocal }
        if within(0x6440_0000, 10) { return .sharedAddressSpace }
        if within(0x0000_0000, 8) { return .unspecified }
        if within(0xE000_0000, 4) { return .multicast }
        if within(0xF000_0000, 4) { return .reserved }
        // 192.0.0/24 IETF protocol assignments (192.0.0.192 is a cloud metadata address too),
        // 198.18/15 benchmarking (RFC 2544), 192.88.99/24 the 6to4 relay anycast (RFC 7526).
        if within(0xC000_0000, 24) || within(0xC612_0000, 15) || within(0xC058_6300, 24) { return .reserved }
        return nil
    }

    /// IPv6, including the forms that carry an IPv4 address: IPv4-mapped `::ffff:a.b.c.d`
    /// (RFC 4291 §2.5.5.2), the deprecated IPv4-compatible `::a.b.c.d`, and NAT64 `64:ff9b::/96`
    /// (RFC 6052), each classified by the IPv4 address inside.
    public static func classify(ipv6 bytes: [UInt8]) -> SpecialUseAddress? {
        guard bytes.count == 16 else { return nil }
        let embedded = UInt32(bytes[12]) << 24 | UInt32(bytes[13]) << 16 | UInt32(bytes[14]) << 8 | UInt32(bytes[15])
        let firstTen = bytes[0..<10].allSatisfy { $0 == 0 }
        if bytes.allSatisfy({ $0 == 0 }) { return .unspecified }
        if firstTen && bytes[10] == 0 && bytes[11] == 0 && bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return .loopback }
        if firstTen && bytes[10] == 0xFF && bytes[11] == 0xFF { return classify(ipv4: embedded) }
        if firstTen && bytes[10] == 0 && bytes[11] == 0 { return classify(ipv4: embedded) }
        if bytes[0..<12] == [0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0] { return classify(ipv4: embedded) }
        // Local-use NAT64 64:ff9b:1::/48 (RFC 8215) carries an IPv4 address in its last 32 bits.
        if bytes[0..<6] == [0x00, 0x64, 0xFF, 0x9B, 0x00, 0x01] { return classify(ipv4: embedded) ?? .privateUse }
        // 6to4 2002::/16 (RFC 3056) carries one in bytes 2–5.
        if bytes[0] == 0x20 && bytes[1] == 0x02 {
            let sixToFour = UInt32(bytes[2]) << 24 | UInt32(bytes[3]) << 16 | UInt32(bytes[4]) << 8 | UInt32(bytes[5])
            if let range = classify(ipv4: sixToFour) { return range }
        }
        // Teredo 2001::/32 (RFC 4380) hides one, obfuscated: never fetched from. 100::/64 is the
        // discard prefix (RFC 6666).
        if bytes[0..<4] == [0x20, 0x01, 0x00, 0x00] { return .reserved }
        if bytes[0..<8] == [0x01, 0x00, 0, 0, 0, 0, 0, 0] { return .reserved }
        // fd00:ec2::254
        if bytes == [0xFD, 0x00, 0x0E, 0xC2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54] { return .cloudMetadata }
        if bytes[0] & 0xFE == 0xFC { return .privateUse }
        if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80 { return .linkLocal }
        if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0xC0 { return .privateUse }
        if bytes[0] == 0xFF { return .multicast }
        return nil
    }

    /// WHATWG URL IPv4 parsing: one to four dot-separated parts, each decimal, `0x` hex or
    /// `0`-prefixed octal, the last filling the remaining bytes. Nil when `host` is a host name
    /// (its last label is not a number) or not a valid address.
    public static func parseIPv4(_ host: String) -> UInt32? {
        var parts = host.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count > 1, parts.last?.isEmpty == true { parts.removeLast() }
        guard (1...4).contains(parts.count) else { return nil }
        var numbers: [UInt64] = []
        for part in parts {
            guard let number = parseIPv4Number(part) else { return nil }
            numbers.append(number)
        }
        let last = numbers.removeLast()
        guard numbers.allSatisfy({ $0 <= 255 }), last < (UInt64(1) << (8 * (5 - parts.count))) else { return nil }
        var address = last
        for (index, number) in numbers.enumerated() { address += number << (8 * (3 - index)) }
        return UInt32(address)
    }

    private static func parseIPv4Number(_ part: Substring) -> UInt64? {
        guard !part.isEmpty, part.utf8.count <= 32 else { return nil }
        var digits = part
        var radix = 10
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            digits = digits.dropFirst(2)
            radix = 16
            if digits.isEmpty { return 0 }
        } else if digits.count > 1 && digits.hasPrefix("0") {
            digits = digits.dropFirst()
            radix = 8
        }
        return UInt64(digits, radix: radix)
    }

    /// RFC 4291 §2.2 text forms, with `::` and a trailing dotted IPv4 part; no zone identifier.
    public static func parseIPv6(_ text: String) -> [UInt8]? {
        guard !text.isEmpty, text.utf8.count <= 45 else { return nil }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawDoubleColon = false
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String, allowIPv4: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if allowIPv4 && index == pieces.count - 1 && piece.contains(".") {
                    let octets = piece.split(separator: ".", omittingEmptySubsequences: false)
                    guard octets.count == 4 else { return nil }
                    var bytes: [UInt16] = []
                    for octet in octets {
                        guard (1...3).contains(octet.count), octet.allSatisfy(\.isASCIIDigit), let value = UInt16(octet), value <= 255 else { return nil }
                        bytes.append(value)
                    }
                    result.append(bytes[0] << 8 | bytes[1])
                    result.append(bytes[2] << 8 | bytes[3])
                } else {
                    guard (1...4).contains(piece.count), let value = UInt16(piece, radix: 16) else { return nil }
                    result.append(value)
                }
            }
            return result
        }
        if halves.count == 2 {
            sawDoubleColon = true
            guard let first = groups(halves[0], allowIPv4: false), let second = groups(halves[1], allowIPv4: true) else { return nil }
            head = first
            tail = second
            guard head.count + tail.count <= 7 else { return nil }
        } else {
            guard let all = groups(text, allowIPv4: true), all.count == 8 else { return nil }
            head = all
        }
        let words = sawDoubleColon ? head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail : head
        return words.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }
}
