/// An argon2id hash in the PHC string format, `$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>`,
/// with salt and hash in unpadded standard base64 — the format libargon2 and libsodium both
/// write and read (RFC 9106 §3.1 names the parameters; the PHC string format defines the layout).
///
/// The hasher parses it itself so that libargon2 can verify with a caller-provided memory
/// region (`argon2_verify_ctx`), which its string-taking `argon2id_verify` does not allow.
/// Parsing is strict, as libargon2's own decoder is: anything else is not a hash of ours.
struct PHCString: Equatable, Sendable {
    var memoryKiB: UInt32
    var iterations: UInt32
    var parallelism: UInt32
    var salt: [UInt8]
    var hash: [UInt8]

    init(memoryKiB: UInt32, iterations: UInt32, parallelism: UInt32, salt: [UInt8], hash: [UInt8]) {
        self.memoryKiB = memoryKiB
        self.iterations = iterations
        self.parallelism = parallelism
        self.salt = salt
        self.hash = hash
    }

    /// Nil for anything but a well-formed argon2id v=19 PHC string.
    init?(_ encoded: String) {
        let fields = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count == 6, fields[0].isEmpty, fields[1] == "argon2id", fields[2] == "v=19" else { return nil }
        let parameters = fields[3].split(separator: ",", omittingEmptySubsequences: false)
        guard parameters.count == 3,
              let memory = Self.decimal(parameters[0], key: "m"),
              let iterations = Self.decimal(parameters[1], key: "t"),
              let parallelism = Self.decimal(parameters[2], key: "p"),
              let salt = Self.base64Decoded(fields[4]), let hash = Self.base64Decoded(fields[5]),
              !salt.isEmpty, !hash.isEmpty
        else { return nil }
        self.init(memoryKiB: memory, iterations: iterations, parallelism: parallelism, salt: salt, hash: hash)
    }

    var encoded: String {
        "$argon2id$v=19$m=\(memoryKiB),t=\(iterations),p=\(parallelism)$\(Self.base64(salt))$\(Self.base64(hash))"
    }

    /// `key=digits`, without sign or leading zeros, within UInt32.
    private static func decimal(_ field: Substring, key: String) -> UInt32? {
        guard field.hasPrefix(key + "=") else { return nil }
        let digits = field.dropFirst(key.count + 1)
        guard !digits.isEmpty, digits.allSatisfy({ ("0"..."9").contains($0) }),
              digits == "0" || !digits.hasPrefix("0")
        else { return nil }
        return UInt32(digits)
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func base64(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value = 0
            for (offset, byte) in chunk.enumerated() { value |= Int(byte) << (16 - 8 * offset) }
            for sextet in 0..<(chunk.count + 1) { output.append(alphabet[(value >> (18 - 6 * sextet)) & 63]) }
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Unpadded base64; nil for other characters, an impossible length or stray low bits
    /// (each byte string has exactly one encoding).
    static func base64Decoded(_ text: Substring) -> [UInt8]? {
        var bytes: [UInt8] = []
        var accumulator = 0
        var bits = 0
        for character in text.utf8 {
            let sextet: Int
            switch character {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): sextet = Int(character - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): sextet = Int(character - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): sextet = Int(character - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): sextet = 62
            case UInt8(ascii: "/"): sextet = 63
            default: return nil
            }
            accumulator = (accumulator << 6) | sextet
            bits += 6
            if bits >= 8 {
                bits -= 8
                bytes.append(UInt8((accumulator >> bits) & 0xFF))
                accumulator &= (1 << bits) - 1
            }
        }
        guard bits < 6, accumulator == 0 else { return nil }
        return bytes
    }
}
