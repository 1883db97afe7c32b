/// base64url without padding (RFC 4648 §5, RFC 7515 §2): the form of every token, tag, cursor
/// and JOSE segment Registrar writes or reads. Encoded and decoded byte by byte, because the
/// token endpoint and introspection do it several times per request and Foundation's base64
/// plus string replacement cost more than the signature check beside them.
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let input = Array(bytes)
        var output: [UInt8] = []
        output.reserveCapacity((input.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= input.count {
            let group = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
            output.append(alphabet[Int(group >> 18 & 63)])
            output.append(alphabet[Int(group >> 12 & 63)])
            output.append(alphabet[Int(group >> 6 & 63)])
            output.append(alphabet[Int(group & 63)])
            index += 3
        }
        switch input.count - index {
        case 1:
            let group = UInt32(input[index]) << 16
            output.append(alphabet[Int(group >> 18 & 63)])
            output.append(alphabet[Int(group >> 12 & 63)])
        case 2:
            let group = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8
            output.append(alphabet[Int(group >> 18 & 63)])
            output.append(alphabet[Int(group >> 12 & 63)])
            output.append(alphabet[Int(group >> 6 & 63)])
        default:
            break
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// RFC 4648's two alphabets: §5's, unpadded, for everything Registrar issues and JOSE reads;
    /// §4's, with `=` padding, only for HTTP Basic credentials (RFC 7617 §2), which clients send
    /// in it.
    enum Alphabet: Sendable { case url, standard }

    /// Nil for whitespace, any character outside the alphabet and a length no encoding has (one
    /// character past a multiple of four). Padding is refused in the URL alphabet (RFC 7515 §2);
    /// in the standard one it is optional, but when present it is one or two `=` that complete a
    /// multiple of four.
    static func decode(_ text: some StringProtocol, alphabet: Alphabet = .url) -> [UInt8]? {
        decode(bytes: text.utf8, alphabet: alphabet)
    }

    static func decode(bytes: some Collection<UInt8>, alphabet: Alphabet = .url) -> [UInt8]? {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits: UInt32 = 0
        var padding = 0
        for byte in bytes {
            if alphabet == .standard, byte == UInt8(ascii: "=") {
                padding += 1
                continue
            }
            guard padding == 0, let value = sextet(byte, alphabet) else { return nil }
            accumulator = (accumulator << 6 | value) & 0xFFFF
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> bits))
            }
        }
        guard (bytes.count - padding) % 4 != 1, padding == 0 || (padding <= 2 && bytes.count % 4 == 0) else { return nil }
        return output
    }

    private static func sextet(_ byte: UInt8, _ alphabet: Alphabet) -> UInt32? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): UInt32(byte - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): UInt32(byte - UInt8(ascii: "a")) + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0")) + 52
        case UInt8(ascii: "-") where alphabet == .url, UInt8(ascii: "+") where alphabet == .standard: 62
        case UInt8(ascii: "_") where alphabet == .url, UInt8(ascii: "/") where alphabet == .standard: 63
        default: nil
        }
    }
}
