import Foundation
import Hummingbird
import NIOCore

/// The body of a request to the token, revocation or introspection endpoint:
/// `application/x-www-form-urlencoded` only (RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1), read
/// with a size cap, each parameter at most once (RFC 6749 §3.2: "Request and response parameters
/// MUST NOT be included more than once"), except the ones a specification lets repeat
/// (`resource`, RFC 8707 §2).
struct FormBody: Sendable, Equatable {
    /// Every parameter with a value, in order of appearance.
    private(set) var values: [String: [String]]

    /// Parameters that may appear more than once.
    static let repeatable: Set<String> = ["resource"]

    init(values: [String: [String]]) {
        self.values = values
    }

    /// The value of a parameter that appears at most once (guaranteed by `parse`).
    subscript(_ name: String) -> String? { values[name]?.first }

    /// Every value of a repeatable parameter.
    func all(_ name: String) -> [String] { values[name] ?? [] }

    /// One value per name, for collaborators that read single-valued credentials.
    var singleValued: [String: String] { values.compactMapValues(\.first) }

    /// Reads and parses the body of `request`; every failure is an OAuth `invalid_request`.
    static func read(_ request: Request, limit: Int) async throws -> FormBody {
        guard let contentType = request.headers[.contentType], isFormContentType(contentType) else {
            // RFC 6749 §3.2 / §5.2: the endpoint takes form parameters only; a JSON body is a
            // malformed request, answered like any other (400 invalid_request).
            throw OAuthError(.invalidRequest, "Content-Type must be application/x-www-form-urlencoded")
        }
        let tooLarge = OAuthError(.invalidRequest, "the request body is larger than \(limit) bytes", status: .contentTooLarge)
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit { throw tooLarge }
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        }
        return try parse(Array(buffer.readableBytesView))
    }

    /// Whether the media type before any parameter (RFC 9110 §8.3.1: case-insensitive, optional
    /// whitespace around it) is the form type. Compared as bytes: every token request asks.
    static func isFormContentType(_ value: String) -> Bool {
        let isWhitespace = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        let mediaType = value.utf8.prefix { $0 != UInt8(ascii: ";") }
        guard let first = mediaType.firstIndex(where: { !isWhitespace($0) }),
              let last = mediaType.lastIndex(where: { !isWhitespace($0) }) else { return false }
        let lowered = mediaType[first...last].lazy.map { (65...90).contains($0) ? $0 + 32 : $0 }
        return lowered.elementsEqual(Self.formMediaType)
    }

    static let formMediaType = Array("application/x-www-form-urlencoded".utf8)

    /// Parses `name=value&…` per the WHATWG URL standard's form decoding (`+` is a space,
    /// `%XX` a byte, the result UTF-8), but strictly: a malformed escape or invalid UTF-8 is
    /// refused instead of being passed on replaced. RFC 6749 §3.1: a parameter without a value
    /// counts as omitted.
    static func parse(_ bytes: [UInt8]) throws(OAuthError) -> FormBody {
        var values: [String: [String]] = [:]
        for pair in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = pair.firstIndex(of: UInt8(ascii: "="))
            let rawName = equals.map { pair[pair.startIndex..<$0] } ?? pair[...]
            let rawValue = equals.map { pair[pair.index(after: $0)...] } ?? []
            let name = try decode(rawName)
            let value = try decode(rawValue)
            guard !name.isEmpty, !value.isEmpty else { continue }
            if values[name] != nil && !repeatable.contains(name) {
                throw OAuthError(.invalidRequest, "the parameter '\(ClientMetadataValidator.printable(name))' appears more than once (RFC 6749 §3.2)")
            }
            values[name, default: []].append(value)
        }
        return FormBody(values: values)
    }

    static func decode(_ raw: ArraySlice<UInt8>) throws(OAuthError) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.count)
        var index = raw.startIndex
        while index < raw.endIndex {
            let byte = raw[index]
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%") {
                guard index + 2 < raw.endIndex, let high = hexValue(raw[index + 1]), let low = hexValue(raw[index + 2]) else {
                    throw OAuthError(.invalidRequest, "the request body has a malformed percent-escape")
                }
                bytes.append(high << 4 | low)
                index += 2
            } else {
                bytes.append(byte)
            }
            index += 1
        }
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw OAuthError(.invalidRequest, "the request body is not valid UTF-8")
        }
        return string
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
