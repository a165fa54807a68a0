// libFuzzer target for the v2 request decoders (JSON and binary), the response decoders, the BYTES decoder and the
// generic JSON parser.
//
// Built with `-D KSERVE_FUZZ -sanitize=fuzzer,address` this file only exports `LLVMFuzzerTestOneInput` (libFuzzer
// provides `main`). In a normal build it is a replay tool: `kserve-fuzz FILE|DIR...` runs every input once, so crash
// reproducers can be checked without the sanitizer toolchain.
//
// Besides "never trap", every input that decodes is re-encoded and decoded again, and the two must agree.

import Foundation
import KServeProtocol

/// The first byte selects the decoder; the rest is its input. Returns whether the input decoded.
@discardableResult
func fuzzOne(_ data: [UInt8]) -> Bool {
    guard let selector = data.first else { return false }
    let input = data[1...]  // startIndex 1: exercises slices that do not start at zero
    switch selector % 6 {
    case 0:
        guard let request = try? InferRequest.fromJSON(input, modelName: "fuzz") else { return false }
        checkRoundTrips(request)
    case 1:
        guard let (jsonLength, body) = splitLength(input),
            let request = try? InferRequest.fromBytes(body, jsonLength: jsonLength, modelName: "fuzz")
        else { return false }
        checkRoundTrips(request)
    case 2:
        guard let elements = try? deserializeBytesTensor(input) else { return false }
        precondition(serializeByteTensor(elements) == Array(input), "BYTES round trip changed the buffer")
    case 3:
        guard let value = try? JSONValue.parse(input) else { return false }
        if isFinite(value) {
            let again = try? JSONValue.parse(ArraySlice(value.serialized()))
            precondition(again == value, "JSON round trip changed the value")
            let spaced = try? JSONValue.parse(ArraySlice(value.serialized(spaced: true)))
            precondition(spaced == value, "spaced JSON round trip changed the value")
        }
    case 4:
        guard let (jsonLength, body) = splitLength(input),
            let response = try? InferResponse.fromBytes(body, jsonLength: jsonLength)
        else { return false }
        _ = try? response.toRest()
    default:
        guard let response = try? InferResponse.fromRest(input) else { return false }
        _ = try? response.toRest()
    }
    return true
}

/// The first two bytes (little-endian) are the JSON length; the rest is the body.
func splitLength(_ input: ArraySlice<UInt8>) -> (Int, ArraySlice<UInt8>)? {
    guard input.count >= 2 else { return nil }
    let length = Int(input[input.startIndex]) | Int(input[input.startIndex + 1]) << 8
    return (length, input.dropFirst(2))
}

/// Whether a value has no NaN or infinity (which JSON writes as null).
func isFinite(_ value: JSONValue) -> Bool {
    switch value {
    case .double(let d): return d.isFinite
    case .array(let a): return a.allSatisfy(isFinite)
    case .object(let o): return o.members.allSatisfy { isFinite($0.value) }
    default: return true
    }
}

/// Whether JSON can carry the tensor's values unchanged (finite floats, BOOL as 0/1, UTF-8 BYTES, no FP16).
func jsonSafe(_ input: InferInput) -> Bool {
    guard let data = input.data else { return false }
    switch (input.datatype, data) {
    case (.fp16, _), (.bf16, _): return false
    case (.fp32, _): return (try? input.asArray(of: Float.self).allSatisfy(\.isFinite)) ?? false
    case (.fp64, _): return (try? input.asArray(of: Double.self).allSatisfy(\.isFinite)) ?? false
    case (.bool, .raw(let raw)): return raw.allSatisfy { $0 <= 1 }
    case (.bytes, .bytes(let elements)): return elements.allSatisfy { String(validating: $0, as: UTF8.self) != nil }
    default: return true
    }
}

/// Decoded requests must survive: an echo response (binary and, where JSON can carry it, JSON) and a re-encoded
/// binary request.
func checkRoundTrips(_ request: InferRequest) {
    let outputs = request.inputs.map {
        InferOutput(name: $0.name, shape: $0.shape, datatype: $0.datatype, data: $0.data)
    }
    // Binary echo: every tensor exactly as received.
    let binary = InferResponse(id: "f", modelName: "fuzz", outputs: outputs, useBinaryOutputs: true)
    do {
        let message = try binary.toRest()
        let back = try InferResponse.fromBytes(ArraySlice(message.joined()), jsonLength: message.jsonLength ?? -1)
        precondition(back.outputs.map(\.data) == outputs.map(\.data), "binary response round trip changed data")
    } catch {
        preconditionFailure("binary echo of a decoded request failed: \(error)")
    }
    // JSON echo of the tensors JSON can carry.
    let jsonOutputs = zip(request.inputs, outputs).filter { jsonSafe($0.0) }.map(\.1)
    let json = InferResponse(id: "f", modelName: "fuzz", outputs: jsonOutputs)
    do {
        let message = try json.toRest()
        let back = try InferResponse.fromRest(ArraySlice(message.json))
        precondition(back.outputs.map(\.data) == jsonOutputs.map(\.data), "JSON response round trip changed data")
    } catch {
        preconditionFailure("JSON echo of a decoded request failed: \(error)")
    }
    // The request itself, re-encoded with every input binary.
    var forward = request
    for i in forward.inputs.indices { forward.inputs[i].parameters["binary_data"] = .bool(true) }
    do {
        let message = try forward.toRest()
        let back = try InferRequest.fromBytes(
            ArraySlice(message.joined()), jsonLength: message.jsonLength ?? -1, modelName: "fuzz")
        precondition(back.inputs.map(\.data) == request.inputs.map(\.data), "request round trip changed data")
        precondition(request.id == nil || back.id == request.id, "request round trip changed the id")
        if request.parameters.allSatisfy({ isFinite($0.value.jsonValue) }) {
            precondition(back.parameters == request.parameters, "request round trip changed the parameters")
        }
    } catch {
        preconditionFailure("binary re-encoding of a decoded request failed: \(error)")
    }
}

#if KSERVE_FUZZ
/// The libFuzzer entry point.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    fuzzOne(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// libFuzzer's driver (declared here with the C calling convention; needs `-enable-experimental-feature Extern`).
@_extern(c, "LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// SwiftPM links every executable with its own entry point (`main` is an alias of `kserve_fuzz_main`), so libFuzzer's
/// `main` is not used: this one hands the command line to libFuzzer's driver.
@main
struct FuzzDriver {
    static func main() {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzerTestOneInput))
    }
}
#else
/// Replays inputs (files, or every file in a directory) through the fuzz checks.
@main
struct FuzzReplay {
    static func main() {
        var paths = Array(CommandLine.arguments.dropFirst())
        let verbose = paths.first == "-v"
        if verbose { paths.removeFirst() }
        if paths.isEmpty {
            print("usage: kserve-fuzz [-v] FILE|DIR...  (build with -D KSERVE_FUZZ -sanitize=fuzzer to fuzz)")
            return
        }
        var count = 0
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                print("missing: \(path)")
                continue
            }
            let files =
                isDirectory.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 }
                : [path]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                let decoded = fuzzOne(Array(data))
                if verbose { print("\(decoded ? "decoded" : "rejected"): \(file)") }
                count += 1
            }
        }
        print("replayed \(count) inputs without a failure")
    }
}
#endif
