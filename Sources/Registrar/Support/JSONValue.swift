import Foundation
import Hummingbird
import NIOCore

/// A JSON document as plain values, so that validation can say which field had which wrong type,
/// and so that responses can never contain a `null` that nobody meant.
public enum JSONValue: Sendable, Equatable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var intValue: Int? {
        if case .number(let value) = self, value.rounded() == value, abs(value) < 9.0e15 { return Int(value) }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// A name for the type, for error descriptions.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    public subscript(key: String) -> JSONValue? {
        objectValue?[key]
    }
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            if let int = intValue { try container.encode(int) } else { try container.encode(value) }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

/// Why a request body could not be read as a JSON object.
public enum JSONBodyError: Error, Equatable, Sendable {
    case tooDeep
    case malformed
    case notAnObject
    /// An object has two members with this name (RFC 7493 §2.3).
    case duplicateMember(String)
}

extension JSONValue {
    /// The deepest nesting a request body may have. Client metadata is at most a JWK Set
    /// (object → array → object → array), so this leaves room and keeps parsing bounded.
    public static let maximumDepth = 16

    /// Parses a request body with the strict parser: bounded nesting, no duplicate member names.
    public static func parseObject(_ bytes: some Collection<UInt8>) throws(JSONBodyError) -> [String: JSONValue] {
        guard case .object(let object) = try JSONParser.parse(bytes) else { throw .notAnObject }
        return object
    }

    /// Compact JSON with stable key order (keys sorted by their UTF-8 bytes, as Foundation sorts them) and unescaped
    /// slashes (URLs stay readable). Written byte by byte, the same bytes Foundation's encoder
    /// gives with `.sortedKeys` and `.withoutEscapingSlashes`, because every token, introspection
    /// and metadata answer is one of these and the encoder's containers cost more than the
    /// signature beside them.
    public func encoded() -> Data {
        Data(encodedBytes())
    }

    public func encodedString() -> String {
        String(decoding: encodedBytes(), as: UTF8.self)
    }

    public func encodedBytes() -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(256)
        write(to: &output)
        return output
    }

    private func write(to output: inout [UInt8]) {
        switch self {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let value): output.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let value): Self.write(number: value, intValue, to: &output)
        case .string(let value): Self.write(string: value, to: &output)
        case .array(let values):
            output.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                value.write(to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            for (index, (key, value)) in members.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }).enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                Self.write(string: key, to: &output)
                output.append(UInt8(ascii: ":"))
                value.write(to: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    /// Integers as integers; other numbers in Swift's shortest round-trip form without a
    /// trailing `.0`. RFC 8259 §6 has no NaN or infinity, and parsed JSON never holds one.
    private static func write(number: Double, _ integer: Int?, to output: inout [UInt8]) {
        if let integer {
            output.append(contentsOf: String(integer).utf8)
        } else if number.isFinite {
            let text = number.description
            output.append(contentsOf: (text.hasSuffix(".0") ? text.dropLast(2) : Substring(text)).utf8)
        } else {
            output.append(contentsOf: "null".utf8)
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// RFC 8259 §7: the quotation mark, the reverse solidus and the control characters are
    /// escaped, the five with short forms by them; everything else is written as UTF-8.
    private static func write(string: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0A: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x00..<0x20:
                let hex = hexDigits
                output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                           hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}

extension Response {
    /// A JSON response from a plain value.
    public static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], contentType: String = "application/json") -> Response {
        var headers = headers
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: value.encodedBytes())))
    }
}
