import KServeConfig
import Testing

@Suite("ConfigValue and ConfigError")
struct ConfigValueTests {
    @Test("Accessors return the value of their own case only (doubleValue also widens ints)")
    func accessors() {
        #expect(ConfigValue.int(3).intValue == 3)
        #expect(ConfigValue.int(3).doubleValue == 3)
        #expect(ConfigValue.double(2.5).intValue == nil)
        #expect(ConfigValue.string("x").stringValue == "x")
        #expect(ConfigValue.string("x").intValue == nil)
        #expect(ConfigValue.bool(true).boolValue == true)
        #expect(ConfigValue.int(1).boolValue == nil)
        #expect(ConfigValue.array([.int(1)]).arrayValue == [.int(1)])
        #expect(ConfigValue.table(["a": .bool(false)]).tableValue == ["a": .bool(false)])
    }

    @Test("ConfigError joins the parts it has")
    func errorDescription() {
        #expect(ConfigError(file: "f", key: "[server] x", reason: "bad").description == "f: [server] x: bad")
        #expect(ConfigError(file: "f", reason: "bad").description == "f: bad")
        #expect(ConfigError(reason: "bad").description == "bad")
    }
}
