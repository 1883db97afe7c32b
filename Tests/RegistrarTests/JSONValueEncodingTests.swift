import Foundation
import Testing
@testable import Registrar

/// The JSON writer of every response and token (RFC 8259): compact, keys in code-point order,
/// slashes unescaped, byte for byte what Foundation's encoder writes with the same options.
@Suite("JSON writer")
struct JSONValueEncodingTests {
    static func foundation(_ value: JSONValue) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    @Test("RFC 8259 §7: quotation mark, reverse solidus and controls are escaped; '/', DEL and non-ASCII are not", arguments: [
        ("q\"b\\s/", #""q\"b\\s/""#), ("\u{8}\u{c}\n\r\t", #""\b\f\n\r\t""#), ("\u{0}\u{1}\u{1f}", #""\u0000\u0001\u001f""#),
        ("\u{7f}\u{2028}é😀", "\"\u{7f}\u{2028}é😀\""), ("https://a.example/cb?x=1&y=2", #""https://a.example/cb?x=1&y=2""#),
    ])
    func strings(_ raw: String, _ written: String) throws {
        #expect(JSONValue.string(raw).encodedString() == written)
        #expect(try Self.foundation(.string(raw)) == written)
    }

    @Test("Integers without a fraction, other numbers in their shortest form", arguments: [
        (1.0, "1"), (-0.0, "0"), (1_700_000_000, "1700000000"), (0.5, "0.5"), (1e-7, "1e-07"), (1e16, "1e+16"),
        (123456.789, "123456.789"), (-2.5e-300, "-2.5e-300"),
    ])
    func numbers(_ value: Double, _ written: String) throws {
        #expect(JSONValue.number(value).encodedString() == written)
        #expect(try Self.foundation(.number(value)) == written)
    }

    @Test("Object keys are sorted by code point, whatever their case, digits or script")
    func keyOrder() throws {
        let keys = ["a", "B", "_x", "a10", "a9", "Ab", "aa", "é", "z", "Z", ""]
        let object = JSONValue.object(Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, .number(Double($0))) }))
        #expect(object.encodedString() == #"{"":10,"Ab":5,"B":1,"Z":9,"_x":2,"a":0,"a10":3,"a9":4,"aa":6,"z":8,"é":7}"#)
        #expect(try Self.foundation(object) == object.encodedString())
    }

    @Test("Keys are sorted by their bytes as written, not by their canonical form")
    func keyOrderOfDecomposedKeys() throws {
        // "e" with a combining acute accent sorts before "f" by its bytes; its composed form would not.
        let object = JSONValue.object(["f": .number(0), "e\u{301}": .number(1)])
        #expect(object.encodedString() == "{\"e\u{301}\":1,\"f\":0}")
        #expect(try Self.foundation(object) == object.encodedString())
    }

    @Test("Nested documents agree with Foundation's encoder byte for byte")
    func nested() throws {
        let document: JSONValue = .object([
            "active": .bool(true), "aud": .array([.string("https://mcp.example/mcp"), .string("https://other.example/")]),
            "empty": .object([:]), "none": .array([]), "null": .null, "exp": .number(1_800_000_000),
            "jwks": .object(["keys": .array([.object(["kty": .string("EC"), "crv": .string("P-256"), "x": .string("a-b_c")])])]),
        ])
        #expect(document.encodedString() == (try Self.foundation(document)))
        #expect(document.encoded() == Data(document.encodedBytes()))
        let reparsed = try JSONValue.parseObject(document.encodedBytes())
        #expect(JSONValue.object(reparsed) == document, "what is written reads back as the same value")
    }
}
