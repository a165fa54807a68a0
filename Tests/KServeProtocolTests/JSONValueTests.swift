import Testing

@testable import KServeProtocol

@Suite("JSONValue parsing and writing (v1 bodies)")
struct JSONValueTests {
    @Test("integers stay integers, floats stay floats")
    func integersStayIntegers() throws {
        let v = try JSONValue.parse(body(#"{"instances":[[1,2],[3.0,-4],[9223372036854775807,-9223372036854775808]]}"#))
        let expected: JSONValue = .object([
            "instances": .array([
                .array([.int(1), .int(2)]),
                .array([.double(3.0), .int(-4)]),
                .array([.int(.max), .int(.min)]),
            ])
        ])
        #expect(v == expected)
        #expect(text(v.serialized()) == #"{"instances":[[1,2],[3.0,-4],[9223372036854775807,-9223372036854775808]]}"#)
    }

    @Test("integers beyond Int64 use UInt64, then keep their exact digits")
    func bigIntegers() throws {
        #expect(try JSONValue.parse("18446744073709551615") == .uint(.max))
        #expect(try JSONValue.parse("9223372036854775808") == .uint(1 << 63))
        #expect(try JSONValue.parse("18446744073709551616") == .bigInteger("18446744073709551616"))
        #expect(try JSONValue.parse("-9223372036854775809") == .bigInteger("-9223372036854775809"))
        #expect(text(try JSONValue.parse("[1000000000000000000000000000000,-1e30]").serialized()) == "[1000000000000000000000000000000,-1e+30]")
        #expect(try JSONValue.parse("-0") == .int(0))
        #expect(try JSONValue.parse("1e2") == .double(100))
        #expect(text(JSONValue.uint(.max).serialized()) == "18446744073709551615")
    }

    @Test("spaced output matches Python json.dumps")
    func spacedOutput() throws {
        let v = try JSONValue.parse(body(#"{"predictions": [[1, 2]], "b": {"x": true, "y": null, "z": "s"}}"#))
        #expect(text(v.serialized(spaced: true)) == #"{"predictions": [[1, 2]], "b": {"x": true, "y": null, "z": "s"}}"#)
        #expect(text(v.serialized()) == #"{"predictions":[[1,2]],"b":{"x":true,"y":null,"z":"s"}}"#)
    }

    @Test("doubles print like Python repr")
    func doubleLayout() {
        let cases: [(Double, String)] = [
            (0.1, "0.1"), (1.0, "1.0"), (-2.5, "-2.5"), (1e-5, "1e-05"), (0.0001, "0.0001"), (1e16, "1e+16"),
            (1e15, "1000000000000000.0"), (123456789.125, "123456789.125"), (.leastNonzeroMagnitude, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"), (-0.0, "-0.0"), (0.0, "0.0"), (1e100, "1e+100"),
            (6.800000190734863, "6.800000190734863"),
        ]
        for (d, s) in cases {
            #expect(text(JSONValue.double(d).serialized()) == s)
        }
    }

    @Test("non-finite doubles are written as null")
    func nonFinite() {
        #expect(text(JSONValue.array([.double(.nan), .double(.infinity), .double(-.infinity)]).serialized()) == "[null,null,null]")
    }

    @Test("strings: escapes, unicode and surrogate pairs")
    func strings() throws {
        let v = try JSONValue.parse(body(#"["a\"b\\c\/d\n\t\r\b\f", "\u00e9\u20AC\ud83d\ude00", "é€😀"]"#))
        #expect(v == .array([.string("a\"b\\c/d\n\t\r\u{8}\u{c}"), .string("é€😀"), .string("é€😀")]))
        #expect(text(v.serialized()) == #"["a\"b\\c/d\n\t\r\b\f","é€😀","é€😀"]"#)
        #expect(text(JSONValue.string("\u{1}x").serialized()) == #""\u0001x""#)
    }

    @Test("a repeated key keeps its first position and takes the last value")
    func duplicateKeys() throws {
        let v = try JSONValue.parse(body(#"{"a":1,"b":2,"a":3}"#))
        #expect(text(v.serialized()) == #"{"a":3,"b":2}"#)
        // Large objects use a hash index for deduplication.
        var s = "{"
        for i in 0..<1000 { s += "\"k\(i % 500)\":\(i)," }
        s += "\"end\":0}"
        guard case .object(let o) = try JSONValue.parse(body(s)) else { Issue.record("not an object"); return }
        #expect(o.count == 501)
        #expect(o["k0"] == .int(500))
    }

    @Test("empty containers and whitespace")
    func emptyContainers() throws {
        #expect(try JSONValue.parse(" \n\t{ } ") == .object(JSONObject()))
        #expect(try JSONValue.parse("[ ]") == .array([]))
        #expect(try JSONValue.parse("[[],{}]") == .array([.array([]), .object(JSONObject())]))
    }

    @Test("truncated JSON is a 400 with its position")
    func truncated() {
        expectKServeError(.invalidInput, "Unrecognized request format", "unexpected end of data", "line 1 column 21 (char 20)") {
            _ = try JSONValue.parse(body(#"{"instances": [1, 2]"#))
        }
    }

    @Test("invalid JSON documents are 400s", arguments: [
        "", "{", "[1,]", "[1 2]", "{\"a\" 1}", "{\"a\":}", "01", "1.", "1e", "-", "tru", "nul", "\"abc",
        "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00x\"", "{1:2}", "[1]]", "1 2", "NaN", "Infinity", "'a'",
        "\"a\u{01}\"", "+1", ".5", "[\"\\ud83d\\u0041\"]",
    ])
    func invalidDocuments(_ doc: String) {
        expectKServeError(.invalidInput, "Unrecognized request format") { _ = try JSONValue.parse(doc) }
    }

    @Test("invalid UTF-8 in strings is a 400")
    func invalidUTF8() {
        for bad: [UInt8] in [[0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82]] {
            let doc: [UInt8] = [UInt8(ascii: "\"")] + bad + [UInt8(ascii: "\"")]
            expectKServeError(.invalidInput, "invalid UTF-8") { _ = try JSONValue.parse(ArraySlice(doc)) }
        }
    }

    @Test("nesting 100,000 levels deep is a clean 400")
    func deepNesting() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        expectKServeError(.invalidInput, "nested deeper than the limit of 100") { _ = try JSONValue.parse(deep) }
        let deepObjects = String(repeating: #"{"a":"#, count: 100_000)
        expectKServeError(.invalidInput, "nested deeper") { _ = try JSONValue.parse(deepObjects) }
    }

    @Test("the depth limit is exact")
    func depthLimit() throws {
        let ok = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        _ = try JSONValue.parse(ok)
        let tooDeep = String(repeating: "[", count: 101) + String(repeating: "]", count: 101)
        expectKServeError(.invalidInput, "nested deeper") { _ = try JSONValue.parse(tooDeep) }
        _ = try JSONValue.parse(tooDeep, limits: DecodingLimits(maxDepth: 101))
    }

    @Test("JSONWriter.appendString escapes what JSON requires")
    func appendString() {
        var out: [UInt8] = []
        JSONWriter.appendString("say \"hi\"\\\n", to: &out)
        #expect(text(out) == #""say \"hi\"\\\n""#)
    }

    @Test("error bodies are JSON")
    func errorBody() throws {
        let e = KServeError.invalidInput("bad \"thing\"")
        #expect(text(e.jsonBody) == #"{"error":"bad \"thing\""}"#)
        #expect(try JSONValue.parse(ArraySlice(e.jsonBody))["error"] == .string("bad \"thing\""))
    }
}
