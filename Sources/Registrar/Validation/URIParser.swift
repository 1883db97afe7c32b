/// A strict parser for the absolute URIs clients register, written to agree with how browsers
/// read them: anything a browser might read differently from this parser (backslashes, whitespace,
/// control characters, percent-encoded hosts, userinfo) is refused rather than interpreted.
public enum URIParser {
    public struct Parts: Sendable, Equatable {
        /// Lower-cased scheme.
        public var scheme: String
        /// Lower-cased host for hierarchical URIs (`[::1]` keeps its brackets).
        public var host: String?
        public var port: Int?
        /// Everything after the scheme (and authority, when present).
        public var rest: String
    }

    public enum Failure: Error, Equatable, Sendable {
        case empty
        case tooLong
        case dangerousScheme(String)
        case invalidCharacters
        case backslash
        case fragment
        case wildcard
        case notAbsolute
        case missingAuthority
        case userinfo
        case invalidHost
        case invalidPort
        case invalidPercentEncoding
    }

    public static let maximumLength = 2000

    /// Schemes that run code or read local data in a browser; refused however they are spelled.
    public static let dangerousSchemes: Set<String> = ["javascript", "data", "file", "vbscript"]

    /// Splits and checks a URI. The dangerous-scheme check runs on a copy with whitespace and
    /// control characters removed and case folded, so `" JaVa\tscript:"` is still recognised.
    /// - Parameter allowFragment: display URLs may point into a page; redirect URIs never may
    ///   (RFC 6749 §3.1.2).
    public static func parse(_ raw: String, allowFragment: Bool = false) throws(Failure) -> Parts {
        if raw.isEmpty { throw .empty }
        if raw.utf8.count > maximumLength { throw .tooLong }
        let folded = String(String.UnicodeScalarView(raw.unicodeScalars.filter { !isWhitespaceOrControl($0) })).lowercased()
        if let colon = folded.firstIndex(of: ":") {
            let scheme = String(folded[..<colon])
            if dangerousSchemes.contains(scheme) { throw .dangerousScheme(scheme) }
        }
        for scalar in raw.unicodeScalars where isWhitespaceOrControl(scalar) || !scalar.isASCII {
            _ = scalar
            throw .invalidCharacters
        }
        if raw.contains("\\") { throw .backslash }
        if !allowFragment && raw.contains("#") { throw .fragment }
        if raw.contains("*") { throw .wildcard }
        try checkPercentEncoding(raw)
        let raw = allowFragment ? String(raw.prefix { $0 != "#" }) : raw

        guard let colon = raw.firstIndex(of: ":") else { throw .notAbsolute }
        let scheme = raw[..<colon].lowercased()
        guard isValidScheme(scheme) else { throw .notAbsolute }
        let afterScheme = raw[raw.index(after: colon)...]
        guard scheme == "http" || scheme == "https" else {
            guard !afterScheme.isEmpty else { throw .notAbsolute }
            return Parts(scheme: scheme, host: nil, port: nil, rest: String(afterScheme))
        }
        guard afterScheme.hasPrefix("//") else { throw .missingAuthority }
        let authorityAndRest = afterScheme.dropFirst(2)
        let authorityEnd = authorityAndRest.firstIndex { $0 == "/" || $0 == "?" } ?? authorityAndRest.endIndex
        let authority = authorityAndRest[..<authorityEnd]
        let rest = String(authorityAndRest[authorityEnd...])
        if authority.contains("@") { throw .userinfo }
        let (host, port) = try splitHostPort(authority)
        return Parts(scheme: scheme, host: host, port: port, rest: rest)
    }

    static func isWhitespaceOrControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value <= 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value)
            || scalar.properties.isWhitespace || scalar.properties.generalCategory == .format
    }

    static func isValidScheme(_ scheme: some StringProtocol) -> Bool {
        guard let first = scheme.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic else { return false }
        return scheme.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "+" || scalar == "-" || scalar == ".")
        }
    }

    static func checkPercentEncoding(_ raw: String) throws(Failure) {
        let bytes = Array(raw.utf8)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%") {
                guard index + 2 < bytes.count, isHexDigit(bytes[index + 1]), isHexDigit(bytes[index + 2]) else {
                    throw .invalidPercentEncoding
                }
                index += 3
            } else {
                index += 1
            }
        }
    }

    static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    static func splitHostPort(_ authority: Substring) throws(Failure) -> (String, Int?) {
        var hostPart: Substring
        var portPart: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw .invalidHost }
            hostPart = authority[...close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw .invalidHost }
                portPart = after.dropFirst()
            }
            let inner = hostPart.dropFirst().dropLast()
            guard !inner.isEmpty, inner.contains(":"),
                  inner.unicodeScalars.allSatisfy({ isHexDigit(UInt8($0.value & 0xFF)) && $0.isASCII || $0 == ":" || $0 == "." })
            else { throw .invalidHost }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        } else {
            hostPart = authority
        }
        let host = hostPart.lowercased()
        if !host.hasPrefix("[") && !isValidDNSName(host) { throw .invalidHost }
        var port: Int?
        if let portPart {
            guard !portPart.isEmpty, portPart.count <= 5, portPart.allSatisfy(\.isASCIIDigit), let value = Int(portPart), value > 0, value <= 65535 else {
                throw .invalidPort
            }
            port = value
        }
        return (host, port)
    }

    /// A DNS name or IPv4 address: dot-separated labels of letters, digits and inner hyphens.
    public static func isValidDNSName(_ host: String) -> Bool {
        guard !host.isEmpty, host.utf8.count <= 253 else { return false }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            !label.isEmpty && label.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") }
        }
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
public enum ScopeSyntax {
    public static func isValidToken(_ token: some StringProtocol) -> Bool {
        !token.isEmpty && token.utf8.allSatisfy { $0 == 0x21 || (0x23...0x5B).contains($0) || (0x5D...0x7E).contains($0) }
    }
}
