// kserve-tree-bench: load time, single-row and 1,000-row predict of the tree runtimes, side by side with the
// Python libraries' numbers written by Tests/bench/tree_bench.py.
//
//   python Tests/bench/tree_bench.py --out /tmp/tree-bench      # trains the models, times xgboost / lightgbm
//   kserve-tree-bench --dir /tmp/tree-bench [--reps N]          # times the Swift predictors, prints the table
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KServeProtocol
import KServeTrees

/// Thread CPU time: robust against other processes on a busy machine (the Python side measures the same way).
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return .nan }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func readBytes(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = buf.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
        if n <= 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    return out
}

func fail(_ message: String) -> Never {
    print("kserve-tree-bench: \(message)")
    exit(2)
}

var dir = "/tmp/tree-bench"
var reps = 50
var only: Set<String>? = nil
var loadRepeats = 5
/// `--record`: measure, keep per figure the best of this run and `swift.json`, print nothing but a line.
/// `--table`: measure nothing, print the table from `python.json` and `swift.json`.
var record = false
var tableOnly = false
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--dir": dir = args.popFirst() ?? dir
    case "--reps": reps = Int(args.popFirst() ?? "") ?? reps
    case "--models": only = Set((args.popFirst() ?? "").split(separator: ",").map(String.init))
    case "--load-repeats": loadRepeats = Int(args.popFirst() ?? "") ?? loadRepeats
    case "--record": record = true
    case "--table": tableOnly = true
    case "-h", "--help":
        print("usage: kserve-tree-bench [--dir DIR] [--reps N] [--models a,b] [--load-repeats N] [--record | --table]")
        print("  DIR is written by Tests/bench/tree_bench.py; times are thread CPU time, best of rounds of medians")
        print("  --record keeps the best of this run and DIR/swift.json; --table prints from the recorded figures")
        exit(0)
    default: fail("unknown argument \(a)")
    }
}

guard let manifestBytes = readBytes(dir + "/bench.json"), let manifest = try? JSONValue.parse(ArraySlice(manifestBytes)),
    case .array(let models)? = manifest["models"]
else { fail("cannot read \(dir)/bench.json; run Tests/bench/tree_bench.py --out \(dir) first") }
let python = readBytes(dir + "/python.json").flatMap { try? JSONValue.parse(ArraySlice($0)) }
guard let rowBytes = readBytes(dir + "/rows.f64") else { fail("cannot read \(dir)/rows.f64") }
let rowsF64: [Double] = rowBytes.withUnsafeBytes { raw in
    (0..<(raw.count / 8)).map { Double(bitPattern: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)) }
}

/// A number in a results file (`{model: {key: number}}`).
func figure(_ file: JSONValue?, _ model: String, _ key: String) -> Double? {
    switch file?[model]?[key] {
    case .double(let d)?: return d
    case .int(let i)?: return Double(i)
    default: return nil
    }
}

func pyValue(_ model: String, _ key: String) -> Double? { figure(python, model, key) }

struct Row {
    var name: String
    var loadMs: Double
    var singleUs: Double
    var batchUs: Double
}

/// Seconds per call, measured as the Python side does: per round, the median over `samples` samples of `block`
/// calls each (one clock read per block: the thread CPU clock costs about a microsecond on this machine), and the
/// best of `rounds` rounds (the machine has slow phases). `body(i)` gets a running call number.
func bestOfRounds(rounds: Int = 5, samples: Int, block: Int = 1, _ body: (Int) throws -> Void) rethrows -> Double {
    var best = Double.infinity
    var call = 0
    for _ in 0..<rounds {
        var times: [Double] = []
        times.reserveCapacity(samples)
        for _ in 0..<samples {
            let t0 = now()
            for _ in 0..<block {
                try body(call)
                call += 1
            }
            times.append((now() - t0) / Double(block))
        }
        best = min(best, median(times))
    }
    return best
}

var results: [Row] = []
for m in models where !tableOnly {
    guard case .string(let name)? = m["name"], case .string(let kind)? = m["kind"], case .string(let file)? = m["file"],
        case .int(let featuresI)? = m["features"]
    else { continue }
    let features = Int(featuresI)
    if let only, !only.contains(name) { continue }
    let path = dir + "/" + file
    let rows = rowsF64.count / features
    var sink = 0.0
    do {
        let load: Double, single: Double, batch: Double
        if kind == "xgboost" {
            var booster = try XGBoostBooster(contentsOf: path)
            load = try bestOfRounds(rounds: 2, samples: loadRepeats) { _ in booster = try XGBoostBooster(contentsOf: path) }
            let x = rowsF64.map { Float($0) }
            let oneRows = (0..<rows).map { r in Array(x[(r * features)..<((r + 1) * features)]) }
            // Single rows cycle through the 1,000 rows, as on the Python side (one row repeated would warm the
            // branch predictors).
            single = try bestOfRounds(samples: reps, block: 20) { i in
                sink += Double(try booster.predict(features: oneRows[i % rows], rows: 1).values[0])
            }
            batch = try bestOfRounds(samples: 10) { _ in sink += Double(try booster.predict(features: x, rows: rows).values[0]) }
        } else {
            var booster = try LightGBMBooster(contentsOf: path)
            load = try bestOfRounds(rounds: 2, samples: loadRepeats) { _ in booster = try LightGBMBooster(contentsOf: path) }
            let oneRows = (0..<rows).map { r in Array(rowsF64[(r * features)..<((r + 1) * features)]) }
            single = try bestOfRounds(samples: reps, block: 20) { i in
                sink += try booster.predict(features: oneRows[i % rows], rows: 1).values[0]
            }
            batch = try bestOfRounds(samples: 10) { _ in sink += try booster.predict(features: rowsF64, rows: rows).values[0] }
        }
        results.append(Row(name: name, loadMs: load * 1e3, singleUs: single * 1e6, batchUs: batch * 1e6))
    } catch {
        fail("\(name): \(error)")
    }
    if sink.isNaN { print("(nan)") }
}

/// The figures recorded by earlier `--record` runs.
let recorded = readBytes(dir + "/swift.json").flatMap { try? JSONValue.parse(ArraySlice($0)) }
func recordedValue(_ model: String, _ key: String) -> Double? { figure(recorded, model, key) }
if tableOnly {
    for m in models {
        guard case .string(let name)? = m["name"], let load = recordedValue(name, "load_ms"),
            let single = recordedValue(name, "single_us"), let batch = recordedValue(name, "batch_us")
        else { continue }
        results.append(Row(name: name, loadMs: load, singleUs: single, batchUs: batch))
    }
    if results.isEmpty { fail("nothing recorded in \(dir)/swift.json; run with --record first") }
}
if record {
    results = results.map { r in
        Row(name: r.name, loadMs: min(r.loadMs, recordedValue(r.name, "load_ms") ?? .infinity),
            singleUs: min(r.singleUs, recordedValue(r.name, "single_us") ?? .infinity),
            batchUs: min(r.batchUs, recordedValue(r.name, "batch_us") ?? .infinity))
    }
    let entries = results.map { r in
        "  \"\(r.name)\": {\"load_ms\": \(r.loadMs), \"single_us\": \(r.singleUs), \"batch_us\": \(r.batchUs)}"
    }
    let text = "{\n" + entries.joined(separator: ",\n") + "\n}\n"
    guard let f = fopen(dir + "/swift.json", "w") else { fail("cannot write \(dir)/swift.json") }
    fputs(text, f)
    fclose(f)
    print("recorded " + results.map { "\($0.name) \(fmt($0.singleUs, 2)) us" }.joined(separator: ", "))
    exit(0)
}

func fmt(_ v: Double?, _ digits: Int = 1) -> String {
    guard let v, v.isFinite else { return "-" }
    var s = String(Int((v * pow(10, Double(digits))).rounded()))
    if digits > 0 {
        while s.count <= digits { s = "0" + s }
        s.insert(".", at: s.index(s.endIndex, offsetBy: -digits))
    }
    return s
}

func pad(_ s: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }

let header = ["model", "load py ms", "load swift ms", "1 row py us", "1 row native us", "1 row swift us", "x py",
              "1000 py us", "1000 native us", "1000 swift us", "/native"]
let widths = header.map { max($0.count, 8) }
print(zip(header, widths).map { pad($0, $1) }.joined(separator: "  "))
for r in results {
    let pyLoad = pyValue(r.name, "load_ms"), pySingle = pyValue(r.name, "single_us")
    let nativeSingle = pyValue(r.name, "single_native_us"), pyBatch = pyValue(r.name, "batch_us")
    let nativeBatch = pyValue(r.name, "batch_native_us")
    let cells = [r.name, fmt(pyLoad), fmt(r.loadMs), fmt(pySingle), fmt(nativeSingle), fmt(r.singleUs, 2),
                 fmt(pySingle.map { $0 / r.singleUs }, 0) + "x", fmt(pyBatch, 0), fmt(nativeBatch, 0), fmt(r.batchUs, 0),
                 fmt(nativeBatch.map { r.batchUs / $0 }, 2)]
    print(zip(cells, widths).map { pad($0, $1) }.joined(separator: "  "))
}
print("thread CPU time, one thread, best of 5 rounds of medians (single rows: 20 calls per clock read, cycling through 1,000 rows), best of 3 runs taken in turn with Python's; '1 row' py = the KServe path (DMatrix / ndarray predict), native = inplace_predict for"
      + " XGBoost; x py = single-row speed-up over Python; /native = Swift 1000-row time over the library's.")
