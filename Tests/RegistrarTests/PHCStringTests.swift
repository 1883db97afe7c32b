import Testing
@testable import Registrar

/// The PHC string codec the hasher uses to hand libargon2 its own memory region.
@Suite("PHCString")
struct PHCStringTests {
    static let salt: [UInt8] = (0..<16).map { UInt8(truncatingIfNeeded: $0 * 17 + 3) }

    @Test("A libargon2 string parses into its parameters, salt and hash, and encodes back unchanged")
    func roundTrip() throws {
        let encoded = "$argon2id$v=19$m=512,t=2,p=2$AxQlNkdYaXqLnK2+z+DxAg$ia/aR5mOGDhofnSLL+ucT3VyGiBD57cFOQv+0LcTSmg"
        let phc = try #require(PHCString(encoded))
        #expect(phc.memoryKiB == 512 && phc.iterations == 2 && phc.parallelism == 2)
        #expect(phc.salt == Self.salt)
        #expect(phc.hash.count == 32)
        #expect(phc.encoded == encoded)
    }

    @Test("Unpadded base64 round-trips for every length", arguments: 0...40)
    func base64RoundTrip(length: Int) {
        let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 73 &+ 11) }
        let text = PHCString.base64(bytes)
        #expect(!text.contains("="))
        #expect(PHCString.base64Decoded(Substring(text)) == bytes)
    }

    @Test("Anything else is not a PHC string of ours", arguments: [
        "",
        "secret",
        "$argon2i$v=19$m=256,t=1,p=1$AxQlNkdYaXqLnK2+z+DxAg$hsw0lQ4rExGXwgChEdTk4bekCf8g2G5UnK+iESCDsyc",
        "$argon2id$v=16$m=256,t=1,p=1$AxQlNkdYaXqLnK2+z+DxAg$hsw0lQ4rExGXwgChEdTk4bekCf8g2G5UnK+iESCDsyc",
        "$argon2id$m=256,t=1,p=1$AxQlNkdYaXqLnK2+z+DxAg$hsw0lQ4rExGXwgChEdTk4bekCf8g2G5UnK+iESCDsyc",
        "$argon2id$v=19$t=1,m=256,p=1$AxQlNkdYaXqLnK2+z+DxAg$hsw0lQ4rExGXwgChEdTk4bekCf8g2G5UnK+iESCDsyc",
        "$argon2id$v=19$m=0256,t=1,p=1$AxQlNkdYaXqLnK2+z+DxAg$hsw0lQ4rExGXwgChEdTk4bekCf8g2G5UnK+iESCDsyc",
        "$argon2id$v=19$m=-256,t=1,p=1$AxQlNkdYaXqLnK2+z+DxAg$hsw0lQ4rExGXwgChEdTk4bekCf8g2G5UnK+iESCDsyc",
        "$argon2id$v=19$m=4294967296,t=1,p=1$AxQlNkdYaXqLnK2+z+DxAg$hsw0lQ4rExGXwgChEdTk4bekCf8g2G5UnK+iESCDsyc",
        "$argon2id$v=19$m=256,t=1,p=1$AxQlNkdYaXqLnK2+z+DxAg==$hsw0lQ4rExGXwgChEdTk4bekCf8g2G5UnK+iESCDsyc",
        "$argon2id$v=19$m=256,t=1,p=1$AxQlNkdYaXqLnK2+z+DxAh$hsw0lQ4rExGXwgChEdTk4bekCf8g2G5UnK+iESCDsyc",
        "$argon2id$v=19$m=256,t=1,p=1$AxQlNkdYaXqLnK2-z+DxAg$hsw0lQ4rExGXwgChEdTk4bekCf8g2G5UnK+iESCDsyc",
        "$argon2id$v=19$m=256,t=1,p=1$$hsw0lQ4rExGXwgChEdTk4bekCf8g2G5UnK+iESCDsyc",
        "$argon2id$v=19$m=256,t=1,p=1$AxQlNkdYaXqLnK2+z+DxAg$",
        "$argon2id$v=19$m=256,t=1,p=1$AxQlNkdYaXqLnK2+z+DxAg$hsw0lQ4rExGXwgChEdTk4bekCf8g2G5UnK+iESCDsyc$",
        "$argon2id$v=19$m=256,t=1,p=1$A$hsw0lQ4rExGXwgChEdTk4bekCf8g2G5UnK+iESCDsyc",
    ])
    func rejects(_ encoded: String) {
        #expect(PHCString(encoded) == nil)
    }
}
