import Foundation
import Testing
@testable import Registrar

/// Request-body parsing and JSON encoding (`JSONValue`).
@Suite("JSONValue")
struct JSONValueTests {
    static func nested(objects depth: Int) -> String {
        // {"a":[[[…]]]} with `depth` levels in all: one object, then arrays.
        "{\"a\":" + String(repeating: "[", count: depth - 1) + String(repeating: "]", count: depth - 1) + "}"
    }

    static func parse(_ text: String) -> Result<[String: JSONValue], JSONBodyError> {
        Result { () throws(JSONBodyError) in try JSONValue.parseObject(Array(text.utf8)) }
    }

    @Test("Nesting up to maximumDepth is parsed")
    func nestingAtLimit() throws {
        let object = try JSONValue.parseObject(Array(Self.nested(objects: JSONValue.maximumDepth).utf8))
        #expect(object["a"]?.arrayValue != nil)
    }

    @Test("Nesting deeper than maximumDepth is refused as tooDeep before parsing", arguments: [1, 2, 1000])
    func nestingTooDeep(_ extra: Int) {
        #expect(throws: JSONBodyError.tooDeep) {
            try JSONValue.parseObject(Array(Self.nested(objects: JSONValue.maximumDepth + extra).utf8))
        }
        // Unclosed brackets are refused the same way, without reaching the decoder.
        #expect(throws: JSONBodyError.tooDeep) {
            try JSONValue.parseObject(Array(("{\"a\":" + String(repeating: "[", count: 100_000)).utf8))
        }
    }

    @Test("Brackets inside strings do not count towards the depth, escaped quotes included")
    func bracketsInStringsIgnored() throws {
        let brackets = String(repeating: "[{", count: 100)
        let object = try JSONValue.parseObject(Array("{\"a\":\"\(brackets)\",\"b\":\"\\\"\(brackets)\\\\\",\"c\":1}".utf8))
        #expect(object["a"] == .string(brackets))
        #expect(object["b"] == .string("\"" + brackets + "\\"))
        #expect(object["c"] == .number(1))
    }

    @Test("Malformed JSON is refused as malformed", arguments: [
        "", "{", "{\"a\":", "{\"a\":1", "{a:1}", "{'a':1}", "not json", "{\"a\":tru}", "{\"a\":\"unterminated}", "{\"a\":1}}",
    ])
    func malformed(_ text: String) {
        #expect(Self.parse(text) == .failure(.malformed))
    }

    @Test("A JSON document that is not an object is refused as notAnObject", arguments: [
        "[]", "[1,2]", "\"string\"", "42", "null", "true",
    ])
    func notAnObject(_ text: String) {
        #expect(Self.parse(text) == .failure(.notAnObject))
    }

    @Test("Values keep their JSON types: true is a boolean, 0 and 1 are numbers, null is null")
    func valueTypes() throws {
        let object = try JSONValue.parseObject(Array(#"{"t":true,"f":false,"one":1,"zero":0,"pi":3.25,"s":"x","n":null,"a":[],"o":{}}"#.utf8))
        #expect(object["t"] == .bool(true))
        #expect(object["f"] == .bool(false))
        #expect(object["one"] == .number(1))
        #expect(object["zero"] == .number(0))
        #expect(object["pi"] == .number(3.25))
        #expect(object["s"] == .string("x"))
        #expect(object["n"] == .null)
        #expect(object["a"] == .array([]))
        #expect(object["o"] == .object([:]))
        #expect(object["n"]?.typeName == "null")
        #expect(object["o"]?.typeName == "object")
    }

    @Test("Integral numbers encode without '.0'; fractions keep theirs", arguments: [
        (JSONValue.number(42), "42"), (.number(0), "0"), (.number(-7), "-7"), (.number(3600), "3600"), (.number(1.5), "1.5"),
        (.object(["n": .number(86_400)]), #"{"n":86400}"#),
    ])
    func integersEncodeWithoutFraction(_ value: JSONValue, expected: String) {
        #expect(value.encodedString() == expected)
    }

    @Test("Encoding sorts keys and leaves slashes in URLs unescaped")
    func encodingIsStable() {
        let value = JSONValue.object(["b": .number(1), "a": .string("https://app.example.com/cb"), "c": .array([.bool(true), .null])])
        #expect(value.encodedString() == #"{"a":"https://app.example.com/cb","b":1,"c":[true,null]}"#)
    }

    @Test("intValue reads integral numbers only")
    func intValue() {
        #expect(JSONValue.number(3).intValue == 3)
        #expect(JSONValue.number(-3).intValue == -3)
        #expect(JSONValue.number(3.5).intValue == nil)
        #expect(JSONValue.number(1e300).intValue == nil)
        #expect(JSONValue.string("3").intValue == nil)
        #expect(JSONValue.bool(true).intValue == nil)
    }
}

/// Identifier and secret formats (design §4).
@Suite("SecretGenerator")
struct SecretGeneratorTests {
    static let base62 = Set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    static let base64URL = Set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_")

    @Test("client_id is 'cl_' followed by 24 base62 characters")
    func clientIDFormat() {
        for _ in 0..<100 {
            let id = SecretGenerator.clientID()
            #expect(id.hasPrefix("cl_"))
            #expect(id.count == 27)
            #expect(id.dropFirst(3).allSatisfy(Self.base62.contains))
        }
    }

    @Test("Client secrets ('rcs_') and registration access tokens ('rat_') are a prefix and 43 base64url characters (256 bits)")
    func tokenFormat() {
        for _ in 0..<100 {
            for (prefix, token) in [("rcs_", SecretGenerator.clientSecret()), ("rat_", SecretGenerator.registrationAccessToken())] {
                #expect(token.hasPrefix(prefix))
                #expect(token.count == prefix.count + 43)
                #expect(token.dropFirst(prefix.count).allSatisfy(Self.base64URL.contains))
            }
        }
    }

    @Test("1000 draws of each kind are all different")
    func uniqueness() {
        #expect(Set((0..<1000).map { _ in SecretGenerator.clientID() }).count == 1000)
        #expect(Set((0..<1000).map { _ in SecretGenerator.clientSecret() }).count == 1000)
        #expect(Set((0..<1000).map { _ in SecretGenerator.registrationAccessToken() }).count == 1000)
        #expect(Set((0..<1000).map { _ in SecretGenerator.randomToken() }).count == 1000)
    }

    @Test("client_id draws use every base62 character")
    func clientIDAlphabetCoverage() {
        var seen = Set<Character>()
        for _ in 0..<2000 { seen.formUnion(SecretGenerator.clientID().dropFirst(3)) }
        #expect(seen == Self.base62)
    }

    @Test("RFC 4648 §5: base64url uses '-' and '_' and no padding")
    func base64URLAlphabet() {
        #expect(SecretGenerator.base64URL([0xFB, 0xFF]) == "-_8")
        #expect(SecretGenerator.base64URL(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(SecretGenerator.base64URL(Array("fo".utf8)) == "Zm8")
        #expect(SecretGenerator.base64URL([]) == "")
    }

    @Test("sha256Hex matches the FIPS 180-2 test vector")
    func sha256Vector() {
        #expect(SecretGenerator.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SecretGenerator.sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }
}
