import Testing

@testable import KServeProtocol

/// A deterministic generator (SplitMix64) so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Exact numbers: shortest printing and correctly rounded parsing")
struct NumberExactnessTests {
    /// Random finite doubles: half uniform bit patterns (every exponent), half ordinary magnitudes.
    static func randomDoubles(_ n: Int, seed: UInt64) -> [Double] {
        var g = SplitMix64(state: seed)
        var out: [Double] = []
        while out.count < n {
            let d = out.count % 2 == 0 ? Double(bitPattern: g.next()) : Double.random(in: -1e6...1e6, using: &g)
            if d.isFinite { out.append(d) }
        }
        return out + [0, -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude, .leastNormalMagnitude, 0.1, 1e23]
    }

    static func randomFloats(_ n: Int, seed: UInt64) -> [Float] {
        var g = SplitMix64(state: seed)
        var out: [Float] = []
        while out.count < n {
            let f = out.count % 2 == 0 ? Float(bitPattern: UInt32(truncatingIfNeeded: g.next())) : Float.random(in: -1...1, using: &g)
            if f.isFinite { out.append(f) }
        }
        return out + [0, -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude, .leastNormalMagnitude, 6.8, 0.1]
    }

    @Test("30,000 random doubles survive JSON print and parse bit for bit")
    func doublesRoundTrip() throws {
        let values = Self.randomDoubles(30_000, seed: 1)
        let doc = JSONValue.array(values.map { .double($0) }).serialized()
        guard case .array(let back) = try JSONValue.parse(ArraySlice(doc)) else { Issue.record("not an array"); return }
        #expect(back.count == values.count)
        var mismatches = 0
        for (v, b) in zip(values, back) {
            let d: Double
            switch b {
            case .double(let x): d = x
            case .int(let i): d = Double(i)
            default: d = .nan
            }
            if d.bitPattern != v.bitPattern { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    @Test("30,000 random FP64 tensor values survive a JSON response and request bit for bit")
    func fp64TensorRoundTrip() throws {
        let values = Self.randomDoubles(30_000, seed: 2)
        let response = InferResponse(id: "1", modelName: "m", outputs: [InferOutput(name: "x", shape: [values.count], values: values)])
        let message = try response.toRest()
        let back = try InferResponse.fromRest(ArraySlice(message.json))
        let decoded = try back.outputs[0].asArray(of: Double.self)
        #expect(decoded.map(\.bitPattern) == values.map(\.bitPattern))
    }

    @Test("30,000 random FP32 tensor values print as shortest floats and parse back bit for bit")
    func fp32TensorRoundTrip() throws {
        let values = Self.randomFloats(30_000, seed: 3)
        let response = InferResponse(id: "1", modelName: "m", outputs: [InferOutput(name: "x", shape: [values.count], values: values)])
        let message = try response.toRest()
        let back = try InferResponse.fromRest(ArraySlice(message.json))
        let decoded = try back.outputs[0].asArray(of: Float.self)
        #expect(decoded.map(\.bitPattern) == values.map(\.bitPattern))
        // Shortest for the float, never widened: the digits agree with Swift's own shortest description.
        for v in values.prefix(2000) where v != 0 {
            var out: [UInt8] = []
            JSONWriter.appendFloat(v, to: &out)
            #expect(Float(text(out)) == v)
            #expect(significantDigits(text(out)) == significantDigits(v.description), "\(v): \(text(out)) vs \(v.description)")
        }
    }

    @Test("FP32 values are written as the float's shortest decimal, not widened to double")
    func fp32NotWidened() throws {
        let values: [Float] = [6.8, 0.1, 1.0, 1e-5, 3.4028235e38, .leastNonzeroMagnitude, 16777216, -0.0, 1.5e10]
        let response = InferResponse(id: "1", modelName: "m", outputs: [InferOutput(name: "x", shape: [values.count], values: values)])
        let json = text(try response.toRest().json)
        #expect(json.contains(#""data":[6.8,0.1,1.0,1e-05,3.4028235e+38,1e-45,16777216.0,-0.0,15000000000.0]"#), "\(json)")
    }

    @Test("JSON FP32 input parses straight to the nearest float (no double rounding)")
    func fp32ParseDirect() throws {
        // 1.00000005960464477539062500000000001 is just above the midpoint between 1 and the next float: nearest is
        // 1.0000001; rounding through the nearest double (exactly the midpoint) would give 1.0.
        let cases: [(String, Float)] = [
            ("1.00000005960464477539062500000000001", 1.0000001),
            ("1.0000000596046447753906250", 1.0),  // exactly the midpoint: ties to even
            ("1.0000000596046447753906249", 1.0),
            ("6.800000190734863", 6.8),
            ("340282356779733661637539395458142568448", .infinity),  // the overflow midpoint rounds to even
            ("340282356779733661637539395458142568447", .greatestFiniteMagnitude),
            ("3.4028235677973366e38", .greatestFiniteMagnitude),  // its nearest double is that midpoint
            ("1e-46", 0), ("7.006492321624086e-46", .leastNonzeroMagnitude),
        ]
        for (literal, expected) in cases {
            let request = try InferRequest.fromJSON(
                body(#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[\#(literal)]}]}"#), modelName: "m")
            let value = try request.inputs[0].asArray(of: Float.self)[0]
            #expect(value.bitPattern == expected.bitPattern, "\(literal) -> \(value), expected \(expected)")
            #expect(value.bitPattern == Float(literal)?.bitPattern)
        }
    }

    @Test("JSON FP64 input is correctly rounded, including long literals")
    func fp64ParseCorrectlyRounded() throws {
        let literals = [
            "0.1", "2.2250738585072011e-308", "2.2250738585072014e-308", "4.9406564584124654e-324", "1.7976931348623157e308",
            "9007199254740993", "9007199254740992.5", "0.30000000000000004", "123456789012345678901234567890",
            "1e-400", "1e400", "-0.0", "2.4703282292062327e-324", "2.4703282292062328e-324",
            "7.2057594037927933e16", "0.000000000000000000000000000000000000000001",
        ]
        let data = literals.joined(separator: ",")
        let request = try InferRequest.fromJSON(
            body(#"{"inputs":[{"name":"x","shape":[\#(literals.count)],"datatype":"FP64","data":[\#(data)]}]}"#),
            modelName: "m")
        let values = try request.inputs[0].asArray(of: Double.self)
        for (literal, value) in zip(literals, values) {
            #expect(value.bitPattern == Double(literal)?.bitPattern, "\(literal) -> \(value)")
        }
    }

    @Test("20,000 random decimal literals parse exactly as strtod/strtof do")
    func randomLiterals() throws {
        var g = SplitMix64(state: 4)
        var literals: [String] = []
        for k in 0..<20_000 {
            var digits = ""
            let n = Int.random(in: 1...(k % 4 == 0 ? 24 : 17), using: &g)
            for j in 0..<n { digits += String(Int.random(in: (j == 0 ? 1 : 0)...9, using: &g)) }
            let point = Int.random(in: 1...n, using: &g)
            var s = (k % 2 == 0 ? "-" : "") + String(digits.prefix(point))
            if point < n { s += "." + digits.dropFirst(point) }
            s += "e\(Int.random(in: k % 3 == 0 ? -320...300 : -40...38, using: &g))"
            literals.append(s)
        }
        let data = literals.joined(separator: ",")
        for datatype in ["FP64", "FP32"] {
            let request = try InferRequest.fromJSON(
                body(#"{"inputs":[{"name":"x","shape":[\#(literals.count)],"datatype":"\#(datatype)","data":[\#(data)]}]}"#),
                modelName: "m")
            if datatype == "FP64" {
                let values = try request.inputs[0].asArray(of: Double.self)
                let bad = zip(literals, values).filter { Double($0.0)?.bitPattern != $0.1.bitPattern }
                #expect(bad.isEmpty, "\(bad.prefix(5))")
            } else {
                let values = try request.inputs[0].asArray(of: Float.self)
                let bad = zip(literals, values).filter { Float($0.0)?.bitPattern != $0.1.bitPattern }
                #expect(bad.isEmpty, "\(bad.prefix(5))")
            }
        }
    }

    @Test("integer datatypes keep their full range and reject values out of range")
    func integerRanges() throws {
        let r = try InferRequest.fromJSON(
            body(#"{"inputs":[{"name":"u","shape":[2],"datatype":"UINT64","data":[18446744073709551615,0]},"#
                + #"{"name":"i","shape":[2],"datatype":"INT64","data":[-9223372036854775808,9223372036854775807]},"#
                + #"{"name":"b","shape":[3],"datatype":"INT8","data":[-128,127,2.0]}]}"#),
            modelName: "m")
        #expect(try r.inputs[0].asArray(of: UInt64.self) == [.max, 0])
        #expect(try r.inputs[1].asArray(of: Int64.self) == [.min, .max])
        #expect(try r.inputs[2].asArray(of: Int8.self) == [-128, 127, 2])
        let response = InferResponse(
            id: "1", modelName: "m",
            outputs: [InferOutput(name: "u", shape: [2], values: [UInt64.max, 0]), InferOutput(name: "i", shape: [2], values: [Int64.min, Int64.max])])
        let json = text(try response.toRest().json)
        #expect(json.contains("[18446744073709551615,0]"))
        #expect(json.contains("[-9223372036854775808,9223372036854775807]"))
    }

    private func significantDigits(_ s: String) -> String {
        let mantissa = s.split(whereSeparator: { $0 == "e" || $0 == "E" }).first.map(String.init) ?? s
        var d = mantissa.filter(\.isNumber)
        while d.hasPrefix("0") { d.removeFirst() }
        while d.hasSuffix("0") { d.removeLast() }
        return d
    }
}
