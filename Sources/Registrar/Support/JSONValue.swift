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

    /// Compact JSON with stable key order and unescaped slashes (URLs stay readable).
    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain values cannot fail.
        return (try? encoder.encode(self)) ?? Data("{}".utf8)
    }

    public func encodedString() -> String {
        String(decoding: encoded(), as: UTF8.self)
    }
}

extension Response {
    /// A JSON response from a plain value.
    public static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], contentType: String = "application/json") -> Response {
        var headers = headers
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(data: value.encoded())))
    }
}
