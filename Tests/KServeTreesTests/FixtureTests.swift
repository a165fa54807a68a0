import Glibc
import KServeProtocol
import Testing

@testable import KServeTrees

/// The fixture folder next to this file (models, inputs and the Python libraries' outputs; see make_fixtures.py).
let fixtureDirectory: String = {
    let file = #filePath
    guard let slash = file.lastIndex(of: "/") else { return "Fixtures" }
    return String(file[..<slash]) + "/Fixtures"
}()

/// One output of one fixture case: the library's result for a parameter combination.
struct FixtureOutput: Sendable, CustomStringConvertible {
    var variant: String
    var file: String
    var shape: [Int]
    var outputMargin = false
    var iterationRange: (Int, Int)? = nil
    var rawScore = false
    var startIteration = 0
    var numIteration = 0
    var description: String { variant }
}

/// One fixture case from manifest.json.
struct FixtureCase: Sendable, CustomStringConvertible {
    var name: String
    var kind: String
    var model: String
    var rows: Int
    var cols: Int
    var outputs: [FixtureOutput]
    var description: String { name }
    var directory: String { fixtureDirectory + "/" + name }
}

func readFile(_ path: String) -> [UInt8] {
    (try? readWholeFile(path)) ?? []
}

func loadManifest() -> [FixtureCase] {
    let bytes = readFile(fixtureDirectory + "/manifest.json")
    guard let json = try? JSONValue.parse(ArraySlice(bytes)), case .array(let cases)? = json["cases"] else { return [] }
    func int(_ v: JSONValue?) -> Int? { if case .int(let i)? = v { return Int(i) } else { return nil } }
    func str(_ v: JSONValue?) -> String? { if case .string(let s)? = v { return s } else { return nil } }
    return cases.compactMap { c -> FixtureCase? in
        guard let name = str(c["name"]), let kind = str(c["kind"]), let model = str(c["model"]),
            let rows = int(c["rows"]), let cols = int(c["cols"]), case .array(let outs)? = c["outputs"]
        else { return nil }
        let outputs = outs.compactMap { o -> FixtureOutput? in
            guard let variant = str(o["variant"]), let file = str(o["file"]), case .array(let shape)? = o["shape"] else {
                return nil
            }
            var out = FixtureOutput(variant: variant, file: file, shape: shape.compactMap { int($0) })
            let p = o["params"]
            if case .bool(true)? = p?["output_margin"] { out.outputMargin = true }
            if case .bool(true)? = p?["raw_score"] { out.rawScore = true }
            if case .array(let r)? = p?["iteration_range"], r.count == 2, let b = int(r[0]), let e = int(r[1]) {
                out.iterationRange = (b, e)
            }
            out.startIteration = int(p?["start_iteration"]) ?? 0
            out.numIteration = int(p?["num_iteration"]) ?? 0
            return out
        }
        return FixtureCase(name: name, kind: kind, model: model, rows: rows, cols: cols, outputs: outputs)
    }
}

/// Little-endian raw values of a fixture file.
func readArray<T: BitwiseCopyable>(_ path: String, as: T.Type) -> [T] {
    let bytes = readFile(path)
    let n = bytes.count / MemoryLayout<T>.size
    return [T](unsafeUninitializedCapacity: n) { buf, count in
        bytes.withUnsafeBytes { src in
            UnsafeMutableRawBufferPointer(buf).copyMemory(from: UnsafeRawBufferPointer(rebasing: src[0..<(n * MemoryLayout<T>.size)]))
        }
        count = n
    }
}

let manifest = loadManifest()
let xgbCases = manifest.filter { $0.kind == "xgboost" }
let lgbCases = manifest.filter { $0.kind == "lightgbm" }

/// A readable report of the first differing values.
func mismatchReport<T: BinaryFloatingPoint>(_ got: [T], _ want: [T], bits: (T) -> UInt64) -> String? {
    guard got.count == want.count else { return "got \(got.count) values, expected \(want.count)" }
    var bad: [String] = []
    var count = 0
    for i in got.indices where bits(got[i]) != bits(want[i]) && !(got[i].isNaN && want[i].isNaN) {
        count += 1
        if bad.count < 5 { bad.append("[\(i)] got \(got[i]) want \(want[i])") }
    }
    return count == 0 ? nil : "\(count)/\(got.count) differ: " + bad.joined(separator: ", ")
}

@Suite("Fixtures: bit-exact against the Python libraries")
struct FixtureTests {
    @Test("manifest lists the fixture cases")
    func manifestLoads() {
        #expect(xgbCases.count >= 25)
        #expect(lgbCases.count >= 18)
    }

    @Test("XGBoost predictions are bit-identical", arguments: xgbCases)
    func xgboost(_ c: FixtureCase) throws {
        let booster = try XGBoostBooster(contentsOf: c.directory + "/" + c.model)
        #expect(booster.numFeatures == c.cols)
        let x = readArray(c.directory + "/X.f64", as: Double.self)
        #expect(x.count == c.rows * c.cols)
        let features = x.map { Float($0) }
        for out in c.outputs {
            let want = readArray(c.directory + "/" + out.file, as: Float.self)
            let got = try booster.predict(features: features, rows: c.rows, outputMargin: out.outputMargin,
                                          iterationRange: out.iterationRange)
            #expect(got.shape == out.shape, "\(c.name) \(out.variant): shape")
            let report = mismatchReport(got.values, want) { UInt64($0.bitPattern) }
            #expect(report == nil, "\(c.name) \(out.variant): \(report ?? "")")
        }
    }

    @Test("LightGBM predictions are bit-identical", arguments: lgbCases)
    func lightgbm(_ c: FixtureCase) throws {
        let booster = try LightGBMBooster(contentsOf: c.directory + "/" + c.model)
        #expect(booster.numFeatures == c.cols)
        let x = readArray(c.directory + "/X.f64", as: Double.self)
        #expect(x.count == c.rows * c.cols)
        for out in c.outputs {
            let want = readArray(c.directory + "/" + out.file, as: Double.self)
            let got = try booster.predict(features: x, rows: c.rows, rawScore: out.rawScore,
                                          startIteration: out.startIteration, numIteration: out.numIteration)
            #expect(got.shape == out.shape, "\(c.name) \(out.variant): shape")
            let report = mismatchReport(got.values, want) { $0.bitPattern }
            #expect(report == nil, "\(c.name) \(out.variant): \(report ?? "")")
        }
    }

    /// Every fixture row predicted alone (the few-rows walker: plain comparisons for rows without NaN, the full
    /// missing-value rules for the others and for 0s at zero-as-missing exceptions), against the library's output.
    @Test("LightGBM single-row predictions are bit-identical", arguments: lgbCases)
    func lightgbmSingleRows(_ c: FixtureCase) throws {
        let booster = try LightGBMBooster(contentsOf: c.directory + "/" + c.model)
        let x = readArray(c.directory + "/X.f64", as: Double.self)
        for out in c.outputs {
            let want = readArray(c.directory + "/" + out.file, as: Double.self)
            let width = want.count / max(c.rows, 1)
            var got: [Double] = []
            for r in 0..<c.rows {
                let row = Array(x[(r * c.cols)..<((r + 1) * c.cols)])
                got += try booster.predict(features: row, rows: 1, rawScore: out.rawScore,
                                           startIteration: out.startIteration, numIteration: out.numIteration).values
            }
            #expect(got.count == c.rows * width, "\(c.name) \(out.variant): count")
            let report = mismatchReport(got, want) { $0.bitPattern }
            #expect(report == nil, "\(c.name) \(out.variant) (single rows): \(report ?? "")")
        }
    }
}
