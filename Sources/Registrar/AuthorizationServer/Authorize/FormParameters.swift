/// `application/x-www-form-urlencoded` parameters in the order sent, duplicates kept, as OAuth
/// reads them (RFC 6749 Appendix B): `+` is a space, then percent-decoding as UTF-8. Kept as a list
/// because RFC 6749 §3.1 refuses a repeated parameter while RFC 8707 §2 repeats `resource`.
public struct FormParameters: Sendable, Equatable {
    public private(set) var pairs: [(name: String, value: String)]

    public init(_ pairs: [(name: String, value: String)] = []) {
        self.pairs = pairs
    }

    /// Parses a query string or form body; nil when a percent-escape is broken or does not
    /// decode to UTF-8 (so nothing half-decoded is ever compared with a stored value).
    public init?(encoded: some StringProtocol) {
        var pairs: [(name: String, value: String)] = []
        for piece in encoded.split(separator: "&", omittingEmptySubsequences: true) {
            let (rawName, rawValue) = piece.firstIndex(of: "=").map { (piece[..<$0], piece[piece.index(after: $0)...]) } ?? (piece, "")
            guard let name = Self.decode(rawName), let value = Self.decode(rawValue) else { return nil }
            pairs.append((name, value))
        }
        self.pairs = pairs
    }

    public static func == (lhs: FormParameters, rhs: FormParameters) -> Bool {
        lhs.pairs.elementsEqual(rhs.pairs) { $0.name == $1.name && $0.value == $1.value }
    }

    /// Every value of `name`, in order.
    public func values(_ name: String) -> [String] {
        pairs.filter { $0.name == name }.map(\.value)
    }

    /// The names sent more than once, among `names`.
    public func repeated(among names: Set<String>) -> [String] {
        var seen: Set<String> = []
        var repeated: [String] = []
        for pair in pairs where names.contains(pair.name) {
            if !seen.insert(pair.name).inserted, !repeated.contains(pair.name) { repeated.append(pair.name) }
        }
        return repeated
    }

    public mutating func append(_ name: String, _ value: String) {
        pairs.append((name, value))
    }

    public mutating func removeAll(_ name: String) {
        pairs.removeAll { $0.name == name }
    }

    /// The encoded form: unreserved characters (RFC 3986 §2.3) as they are, everything else
    /// percent-encoded, so the value round-trips byte for byte through any decoder.
    public var encoded: String {
        pairs.map { Self.encode($0.name) + "=" + Self.encode($0.value) }.joined(separator: "&")
    }

    static func encode(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if isUnreserved(byte) {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                result += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
            }
        }
        return result
    }

    /// RFC 3986 §2.3: `ALPHA / DIGIT / "-" / "." / "_" / "~"`.
    static func isUnreserved(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "~")
    }

    static func decode(_ text: some StringProtocol) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
