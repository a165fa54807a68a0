// Codec throughput benchmark (make bench-codec): decode a v2 request and re-encode the response an echo model
// gives, in MB/s of request body, next to KServe 0.21's Python codec on the same payloads in the same run.
//
//   (a) binary-fp32   a binary-extension request with one 1,000,000-element FP32 tensor, binary response
//   (b) json-fp32     the same tensor as JSON (values as a Python client writes float32 data: widened to double)
//   (c) binary-bytes  a binary-extension request with one 100,000-element BYTES tensor, binary response
//
// Usage: kserve-codec-bench [--python PYTHON] [--script codec_bench.py] [--payload-dir DIR]
//                           [--min-seconds S] [--min-iterations N]
// PYTHON (or $KSERVE_BENCH_PYTHON) must have kserve==0.21.0 installed; without it only the Swift side runs.

import Foundation
import KServeProtocol

// MARK: - Options

struct Options {
    var python: String? = ProcessInfo.processInfo.environment["KSERVE_BENCH_PYTHON"]
    var script: String?
    var payloadDir = NSTemporaryDirectory() + "kserve-codec-bench"
    var minSeconds = 2.0
    var minIterations = 5

    init(_ arguments: [String]) {
        var it = arguments.makeIterator()
        while let a = it.next() {
            switch a {
            case "--python": python = it.next()
            case "--script": script = it.next()
            case "--payload-dir": payloadDir = it.next() ?? payloadDir
            case "--min-seconds": minSeconds = it.next().flatMap(Double.init) ?? minSeconds
            case "--min-iterations": minIterations = it.next().flatMap(Int.init) ?? minIterations
            case "-h", "--help":
                print(
                    "usage: kserve-codec-bench [--python PYTHON] [--script codec_bench.py] [--payload-dir DIR] "
                        + "[--min-seconds S] [--min-iterations N]")
                exit(0)
            default:
                FileHandle.standardError.write(Data("unknown argument \(a)\n".utf8))
                exit(2)
            }
        }
    }

    /// Tests/bench/codec_bench.py of this repository.
    var scriptPath: String? {
        if let script { return script }
        let fromSource = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Tests/bench/codec_bench.py").path
        for candidate in [fromSource, FileManager.default.currentDirectoryPath + "/Tests/bench/codec_bench.py"]
        where FileManager.default.fileExists(atPath: candidate) {
            return candidate
        }
        return nil
    }
}

// MARK: - Payloads

/// SplitMix64: deterministic payloads.
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

struct Payload {
    var name: String
    var fileName: String
    var body: [UInt8]
    var jsonLength: Int
    var summary: String
}

func makePayloads() -> (payloads: [Payload], floats: [Float], strings: [[UInt8]]) {
    var rng = SplitMix64(state: 42)
    let floats = (0..<1_000_000).map { _ in Float(rng.next() >> 40) / Float(1 << 24) }
    let floatBytes = floats.withUnsafeBytes { Array($0) }

    // (a) binary FP32
    let headerA = Array(
        (#"{"id":"bench","inputs":[{"name":"input-0","shape":[1000000],"datatype":"FP32","#
            + #""parameters":{"binary_data_size":4000000}}],"parameters":{"binary_data_output":true}}"#).utf8)
    let a = Payload(
        name: "binary-fp32", fileName: "binary-fp32.bin", body: headerA + floatBytes, jsonLength: headerA.count,
        summary: "1M FP32, binary")

    // (b) JSON FP32: each value as Python's json.dumps writes float32.tolist() (the float widened to double).
    var json = Array(#"{"id":"bench","inputs":[{"name":"input-0","shape":[1000000],"datatype":"FP32","data":["#.utf8)
    json.reserveCapacity(20_000_000)
    for (i, f) in floats.enumerated() {
        if i > 0 { json.append(UInt8(ascii: ",")) }
        json += JSONValue.double(Double(f)).serialized()
    }
    json += Array("]}]}".utf8)
    let b = Payload(name: "json-fp32", fileName: "json-fp32.json", body: json, jsonLength: json.count, summary: "1M FP32, JSON")

    // (c) binary BYTES: 100,000 strings of 8 to 40 letters.
    var strings: [[UInt8]] = []
    strings.reserveCapacity(100_000)
    for i in 0..<100_000 {
        let n = 8 + Int(rng.next() % 33)
        var s = Array("item\(i)-".utf8)
        for _ in 0..<n { s.append(UInt8(ascii: "a") + UInt8(rng.next() % 26)) }
        strings.append(s)
    }
    let serialized = serializeByteTensor(strings.map { ArraySlice($0) })
    let headerC = Array(
        (#"{"id":"bench","inputs":[{"name":"input-0","shape":[100000],"datatype":"BYTES","#
            + #""parameters":{"binary_data_size":\#(serialized.count)}}],"parameters":{"binary_data_output":true}}"#).utf8)
    let c = Payload(
        name: "binary-bytes", fileName: "binary-bytes.bin", body: headerC + serialized, jsonLength: headerC.count,
        summary: "100k BYTES, binary")
    return ([a, b, c], floats, strings)
}

// MARK: - The Swift codec path

/// The response an echo model gives: every input back as an output.
func echo(_ request: InferRequest) -> InferResponse {
    InferResponse(
        id: request.id ?? "bench", modelName: request.modelName,
        outputs: request.inputs.map { InferOutput(name: $0.name, shape: $0.shape, datatype: $0.datatype, data: $0.data) },
        useBinaryOutputs: request.useBinaryOutputs)
}

/// Decode + re-encode; returns the encoded response.
func roundTrip(_ payload: Payload, body: ArraySlice<UInt8>) throws -> RestMessage {
    let request =
        payload.name == "json-fp32"
        ? try InferRequest.fromJSON(body, modelName: "bench")
        : try InferRequest.fromBytes(body, jsonLength: payload.jsonLength, modelName: "bench")
    return try echo(request).toRest()
}

/// Mean seconds per call after one warm-up, over at least `minIterations` calls and `minSeconds`.
func measure(minSeconds: Double, minIterations: Int, _ body: () throws -> Void) rethrows -> (Int, Double) {
    try body()
    let clock = ContinuousClock()
    let start = clock.now
    var iterations = 0
    while true {
        try body()
        iterations += 1
        let elapsed = start.duration(to: clock.now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        if iterations >= minIterations && seconds >= minSeconds { return (iterations, seconds / Double(iterations)) }
    }
}

// MARK: - Main

let options = Options(Array(CommandLine.arguments.dropFirst()))
let (payloads, floats, strings) = makePayloads()

// Write the payloads for the Python side.
try FileManager.default.createDirectory(atPath: options.payloadDir, withIntermediateDirectories: true)
for p in payloads {
    try Data(p.body).write(to: URL(fileURLWithPath: options.payloadDir + "/" + p.fileName))
}
let lengths = JSONValue.object(JSONObject(payloads.map { ($0.name, JSONValue.int(Int64($0.jsonLength))) }))
try Data(lengths.serialized()).write(to: URL(fileURLWithPath: options.payloadDir + "/lengths.json"))

// Check once that the Swift path returns the data it was given.
for p in payloads {
    let message = try roundTrip(p, body: ArraySlice(p.body))
    let response =
        message.isBinary
        ? try InferResponse.fromBytes(ArraySlice(message.joined()), jsonLength: message.jsonLength ?? 0)
        : try InferResponse.fromRest(ArraySlice(message.json))
    let ok: Bool
    switch p.name {
    case "binary-bytes": ok = response.outputs[0].data == .bytes(strings.map { ArraySlice($0) })
    default: ok = try response.outputs[0].asArray(of: Float.self) == floats
    }
    guard ok else {
        print("error: the \(p.name) round trip changed the data")
        exit(1)
    }
}

struct Row {
    var name: String
    var summary: String
    var bytes: Int
    var swiftMBps: Double
    var pythonMBps: Double?
}

var rows: [Row] = []
for p in payloads {
    let body = ArraySlice(p.body)
    let (_, seconds) = try measure(minSeconds: options.minSeconds, minIterations: options.minIterations) {
        _ = try roundTrip(p, body: body)
    }
    rows.append(Row(name: p.name, summary: p.summary, bytes: p.body.count, swiftMBps: Double(p.body.count) / seconds / 1e6))
    if p.name == "binary-fp32" {
        // The same, plus joining the response into one contiguous buffer (the one copy a writer may make).
        let (_, joinedSeconds) = try measure(minSeconds: options.minSeconds, minIterations: options.minIterations) {
            _ = try roundTrip(p, body: body).joined()
        }
        rows.append(
            Row(
                name: "binary-fp32+join", summary: "(a) + one copy of the body", bytes: p.body.count,
                swiftMBps: Double(p.body.count) / joinedSeconds / 1e6))
    }
}

// The Python side, on the same files.
var pythonNote = "KServe side skipped (pass --python PYTHON with kserve==0.21.0, or set KSERVE_BENCH_PYTHON)"
if let python = options.python {
    if let script = options.scriptPath {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            script, options.payloadDir, "--min-seconds", String(options.minSeconds),
            "--min-iterations", String(min(options.minIterations, 3)),
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationStatus == 0 {
            pythonNote = "KServe: kserve 0.21.0 (\(python))"
            for line in output.split(separator: UInt8(ascii: "\n")) {
                guard let v = try? JSONValue.parse(ArraySlice(line)), case .string(let name)? = v["case"] else { continue }
                let mbps: Double?
                switch v["mb_per_s"] {
                case .double(let d)?: mbps = d
                case .int(let i)?: mbps = Double(i)
                default: mbps = nil
                }
                for i in rows.indices where rows[i].name == name { rows[i].pythonMBps = mbps }
            }
        } else {
            pythonNote = "KServe side failed (exit \(process.terminationStatus))"
        }
    } else {
        pythonNote = "KServe side skipped: Tests/bench/codec_bench.py not found (pass --script)"
    }
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
func fmt(_ d: Double) -> String { String(format: d >= 100 ? "%.0f" : "%.1f", d) }

print("decode + re-encode (echo), MB/s of request body (1 MB = 10^6 bytes)")
print(pad("case", 18) + pad("payload", 28) + lpad("body MB", 9) + lpad("Swift", 10) + lpad("KServe", 10) + lpad("speedup", 9))
for r in rows {
    let python = r.pythonMBps.map(fmt) ?? "-"
    let speedup = r.pythonMBps.map { String(format: "%.0fx", r.swiftMBps / $0) } ?? "-"
    print(
        pad(r.name, 18) + pad(r.summary, 28) + lpad(String(format: "%.1f", Double(r.bytes) / 1e6), 9)
            + lpad(fmt(r.swiftMBps), 10) + lpad(python, 10) + lpad(speedup, 9))
}
print(pythonNote)
