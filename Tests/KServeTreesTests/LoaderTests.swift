import Testing
#if canImport(Glibc)
import Glibc
#endif

@testable import KServeTrees

/// Small-batch and single-row paths, format equivalence, and clean failures on damaged or unsupported files.
@Suite("Tree loaders and predictors")
struct LoaderTests {
    @Test("single rows and small batches match the batch results bit for bit", arguments: manifest)
    func smallBatches(_ c: FixtureCase) throws {
        let x = readArray(c.directory + "/X.f64", as: Double.self)
        let rows = min(c.rows, 24)
        if c.kind == "xgboost" {
            let b = try XGBoostBooster(contentsOf: c.directory + "/" + c.model)
            let f = x.map { Float($0) }
            let all = try b.predict(features: f, rows: c.rows, outputMargin: true)
            let width = all.values.count / c.rows
            for r in 0..<rows {
                let one = try b.predict(features: Array(f[(r * c.cols)..<((r + 1) * c.cols)]), rows: 1, outputMargin: true)
                #expect(one.values.map(\.bitPattern) == all.values[(r * width)..<((r + 1) * width)].map(\.bitPattern), "row \(r)")
            }
            let five = try b.predict(features: Array(f[0..<(5 * c.cols)]), rows: 5, outputMargin: true)
            #expect(five.values.map(\.bitPattern) == all.values[0..<(5 * width)].map(\.bitPattern))
        } else {
            let b = try LightGBMBooster(contentsOf: c.directory + "/" + c.model)
            let all = try b.predict(features: x, rows: c.rows, rawScore: true)
            let width = all.values.count / c.rows
            for r in 0..<rows {
                let one = try b.predict(features: Array(x[(r * c.cols)..<((r + 1) * c.cols)]), rows: 1, rawScore: true)
                #expect(one.values.map(\.bitPattern) == all.values[(r * width)..<((r + 1) * width)].map(\.bitPattern), "row \(r)")
            }
        }
    }

    @Test("a UBJ model loads with its parameters (typed arrays, int64-length keys)")
    func ubjMatchesJSON() throws {
        let ubj = try XGBoostBooster(contentsOf: fixtureDirectory + "/xgb_binary_logistic_ubj/model.ubj")
        #expect(ubj.numTrees == 10)
        #expect(ubj.numFeatures == 30)
        #expect(ubj.objective == "binary:logistic")
        #expect(ubj.version == [3, 2, 0])
    }

    @Test("2.x scalar and 3.x vector base_score forms")
    func baseScoreForms() throws {
        #expect(try XGBoostBooster.parseBaseScore("5E-1") == [0.5])
        #expect(try XGBoostBooster.parseBaseScore("[6.274165E-1]") == [Float("6.274165E-1")!])
        #expect(try XGBoostBooster.parseBaseScore("[6E1,1.405E2,2.6709998E2]") == [60, 140.5, Float("267.09998")!])
        #expect(throws: TreeModelError.self) { try XGBoostBooster.parseBaseScore("[1,x]") }
    }

    @Test("decimal parsing is correctly rounded")
    func decimals() {
        func f(_ s: String) -> Float? { Array(s.utf8).withUnsafeBytes { DecimalParsing.parseFloatToken($0, 0, $0.count) } }
        func d(_ s: String) -> Double? { Array(s.utf8).withUnsafeBytes { DecimalParsing.parseDoubleToken($0, 0, $0.count) } }
        for s in ["0.1", "-4.4042842e-08", "1e-45", "3.4028235E38", "16777217", "0.30000001192092896", "7.0064923e-45",
                  "1.00000017881393432617187499", "1.000000178813934326171875", "2.5E-1", "0"] {
            #expect(f(s)?.bitPattern == Float(s)?.bitPattern, "\(s)")
        }
        for s in ["0.054354365310144266", "1.0000000180025095e-35", "-0.22662383563163566", "146.85182976115357",
                  "1e300", "-1e-320", "9007199254740993", "inf", "-inf", "123456789012345678901234567890"] {
            #expect(d(s)?.bitPattern == Double(s)?.bitPattern, "\(s)")
        }
        #expect(d("nan")?.isNaN == true)
        #expect(d("1.5x") == nil)
        #expect(d("") == nil)
    }

    /// LightGBM's 17-digit values take the extended-precision path; it must agree with the standard library on
    /// every one, including exact Double midpoints and their neighbours (the cases double rounding gets wrong).
    @Test("17-digit decimals parse to the standard library's bits")
    func seventeenDigitDecimals() {
        func d(_ s: String) -> Double? { Array(s.utf8).withUnsafeBytes { DecimalParsing.parseDoubleToken($0, 0, $0.count) } }
        var state: UInt64 = 17
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state ^ (state >> 29)
        }
        func format17g(_ v: Double) -> String {
            var buf = [CChar](repeating: 0, count: 48)
            _ = withVaList([v]) { vsnprintf(&buf, buf.count, "%.17g", $0) }
            return String(cString: buf)
        }
        var cases: [String] = []
        for _ in 0..<20_000 {
            // Doubles printed as LightGBM does (%.17g), over the exponents thresholds and leaf values use.
            let v = Double(bitPattern: next() & 0x800F_FFFF_FFFF_FFFF | (UInt64(990 + next() % 70) << 52))
            cases.append(format17g(v))
        }
        // Midpoints between neighbouring doubles, written exactly, and one unit of the last digit either side.
        for _ in 0..<2_000 {
            let m = (next() >> 11) | 1 << 52  // 53-bit significand
            let mid = m * 2 + 1  // halfway between m and m + 1 at one more bit: < 2^54, exact in 17 digits
            for delta in [-1, 0, 1] as [Int64] {
                cases.append("\(Int64(mid) + delta)e-3")
                cases.append("\(Int64(mid) + delta)")
            }
        }
        var wrong: [String] = []
        for s in cases where d(s)?.bitPattern != Double(s)?.bitPattern { wrong.append(s) }
        #expect(wrong.isEmpty, "\(wrong.count) differ, e.g. \(wrong.prefix(5))")
    }

    /// Loading must fail with a message, never trap, whatever the bytes.
    func expectLoadError(xgb bytes: [UInt8], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try XGBoostBooster(bytes: bytes)
            Issue.record("loaded a damaged model", sourceLocation: sourceLocation)
        } catch {
            #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation)
        }
    }

    func expectLoadError(lgb bytes: [UInt8], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try LightGBMBooster(bytes: bytes)
            Issue.record("loaded a damaged model", sourceLocation: sourceLocation)
        } catch {
            #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation)
        }
    }

    @Test("damaged XGBoost files fail with a reason")
    func damagedXGBoost() throws {
        let json = readFile(fixtureDirectory + "/xgb_multi_softprob/model.json")
        let ubj = readFile(fixtureDirectory + "/xgb_binary_logistic_ubj/model.ubj")
        expectLoadError(xgb: [], "empty")
        expectLoadError(xgb: Array("binf\u{0}\u{0}".utf8), "legacy binary")
        expectLoadError(xgb: Array("hello".utf8), "not an XGBoost")
        expectLoadError(xgb: Array(json[0..<(json.count / 2)]), "truncated")
        expectLoadError(xgb: Array(ubj[0..<(ubj.count / 2)]), "truncated")
        expectLoadError(xgb: Array("{\"a\": 1}".utf8), "no \"learner\"")
        var text = String(decoding: json, as: UTF8.self)
        text = text.replacingFirst("\"multi:softprob\"", with: "\"reg:mystery\"")
        expectLoadError(xgb: Array(text.utf8), "unsupported objective")
        var cyc = String(decoding: json, as: UTF8.self)
        cyc = cyc.replacingFirst("\"left_children\":[1,", with: "\"left_children\":[0,")
        expectLoadError(xgb: Array(cyc.utf8), "children")
        // Every prefix and some byte flips of a small model: an error or a model, never a trap.
        for cut in stride(from: 0, to: json.count, by: max(1, json.count / 300)) {
            _ = try? XGBoostBooster(bytes: Array(json[0..<cut]))
        }
        for cut in stride(from: 0, to: ubj.count, by: max(1, ubj.count / 300)) {
            _ = try? XGBoostBooster(bytes: Array(ubj[0..<cut]))
        }
        var rng = SplitMix(seed: 7)
        for _ in 0..<300 {
            var damaged = ubj
            for _ in 0..<3 { damaged[Int(rng.next() % UInt64(damaged.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            if let b = try? XGBoostBooster(bytes: damaged) {
                _ = try? b.predict(features: [Float](repeating: 0.5, count: b.numFeatures * 2), rows: 2)
            }
        }
    }

    @Test("damaged LightGBM files fail with a reason")
    func damagedLightGBM() throws {
        let text = readFile(fixtureDirectory + "/lgb_multiclass/model.txt")
        expectLoadError(lgb: [], "not a LightGBM")
        expectLoadError(lgb: Array(text[0..<(text.count / 2)]), "truncated")
        var s = String(decoding: text, as: UTF8.self)
        s = s.replacingFirst("objective=multiclass num_class:3", with: "objective=mystery")
        expectLoadError(lgb: Array(s.utf8), "unsupported objective")
        var v = String(decoding: text, as: UTF8.self)
        v = v.replacingFirst("version=v4", with: "version=v9")
        expectLoadError(lgb: Array(v.utf8), "version")
        var bad = String(decoding: text, as: UTF8.self)
        bad = bad.replacingFirst("left_child=", with: "left_child=0 ")
        expectLoadError(lgb: Array(bad.utf8), "left_child")
        for cut in stride(from: 0, to: text.count, by: max(1, text.count / 300)) {
            _ = try? LightGBMBooster(bytes: Array(text[0..<cut]))
        }
        var rng = SplitMix(seed: 11)
        for _ in 0..<300 {
            var damaged = text
            for _ in 0..<3 {
                damaged[Int(rng.next() % UInt64(damaged.count))] = Array("0123456789-= \n.e".utf8)[Int(rng.next() % 16)]
            }
            if let b = try? LightGBMBooster(bytes: damaged) {
                _ = try? b.predict(features: [Double](repeating: 0.5, count: b.numFeatures * 2), rows: 2)
            }
        }
    }

    @Test("v3 text models load like v4")
    func lightgbmV3() throws {
        var s = String(decoding: readFile(fixtureDirectory + "/lgb_binary/model.txt"), as: UTF8.self)
        s = s.replacingFirst("version=v4", with: "version=v3")
        let v3 = try LightGBMBooster(bytes: Array(s.utf8))
        let v4 = try LightGBMBooster(contentsOf: fixtureDirectory + "/lgb_binary/model.txt")
        let row = [Double](repeating: 0.1, count: v4.numFeatures)
        #expect(try v3.predict(rows: [row]).values == v4.predict(rows: [row]).values)
        #expect(v3.version == "v3")
    }

    @Test("prediction errors: feature count and iteration range")
    func predictionErrors() throws {
        let x = try XGBoostBooster(contentsOf: fixtureDirectory + "/xgb_multi_softprob/model.json")
        #expect(throws: TreeModelError.self) { try x.predict(rows: [[1, 2, 3]]) }
        #expect(throws: TreeModelError.self) { try x.predict(rows: [[1, 2, 3, 4]], iterationRange: (0, 99)) }
        #expect(try x.predict(rows: [[1, 2, 3, 4]]).shape == [1, 3])
        #expect(try x.predict(rows: []).shape == [0, 3])
        let l = try LightGBMBooster(contentsOf: fixtureDirectory + "/lgb_binary/model.txt")
        #expect(throws: TreeModelError.self) { try l.predict(rows: [[1]]) }
        #expect(l.featureNames.count == l.numFeatures)
    }
}

/// A tiny deterministic generator for damage tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension String {
    /// The string with the first occurrence of `target` replaced.
    func replacingFirst(_ target: String, with replacement: String) -> String {
        let s = Array(utf8), t = Array(target.utf8)
        guard t.count <= s.count else { return self }
        for i in 0...(s.count - t.count) where Array(s[i..<(i + t.count)]) == t {
            return String(decoding: s[..<i] + Array(replacement.utf8) + s[(i + t.count)...], as: UTF8.self)
        }
        return self
    }
}
