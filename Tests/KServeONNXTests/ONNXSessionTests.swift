import Glibc
import KServeProtocol
import Testing

@testable import KServeONNX

/// The committed fixtures (Fixtures/make_fixtures.py): models and the outputs Python's onnxruntime computed.
enum Fixture {
    static let root: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast()
        return parts.joined(separator: "/") + "/Fixtures"
    }()

    static func model(_ name: String) -> String { "\(root)/\(name)/model.onnx" }

    static func cases(_ name: String) throws -> JSONValue {
        let path = "\(root)/\(name)/cases.json"
        guard let f = fopen(path, "rb") else { throw KServeError.invalidInput("cannot open \(path)") }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return try JSONValue.parse(bytes[...])
    }

    static func numbers(_ v: JSONValue?) -> [Double] {
        guard case .array(let items)? = v else { return [] }
        return items.map {
            switch $0 {
            case .double(let d): return d
            case .int(let n): return Double(n)
            case .uint(let n): return Double(n)
            default: return .nan
            }
        }
    }

    static func ints(_ v: JSONValue?) -> [Int] {
        guard case .array(let items)? = v else { return [] }
        return items.compactMap { if case .int(let n) = $0 { return Int(n) } else { return nil } }
    }

    static func string(_ v: JSONValue?) -> String {
        if case .string(let s)? = v { return s }
        return ""
    }

    /// A tensor from a fixture's `{"name", "datatype", "shape", "data"}`.
    static func tensor(_ json: JSONValue) -> InferInput {
        let name = string(json["name"])
        let datatype = DataType(rawValue: string(json["datatype"])) ?? .bytes
        let shape = ints(json["shape"])
        let values = numbers(json["data"])
        let data: TensorData
        switch datatype {
        case .fp32: data = .from(values.map { Float($0) })
        case .fp64: data = .from(values)
        case .fp16: data = .from(values.map { Float16($0) })
        case .int32: data = .from(values.map { Int32($0) })
        case .int64: data = .from(values.map { Int64($0) })
        case .uint8: data = .from(values.map { UInt8($0) })
        case .uint16: data = .from(values.map { UInt16($0) })
        case .bool:
            guard case .array(let items)? = json["data"] else { fatalError("fixture bool data") }
            data = .from(items.map { $0 == .bool(true) })
        case .bytes:
            guard case .array(let items)? = json["data"] else { fatalError("fixture bytes data") }
            data = .from(strings: items.map { string($0) })
        default: fatalError("fixture datatype \(datatype) not handled")
        }
        return InferInput(name: name, shape: shape, datatype: datatype, data: data)
    }
}

@Suite("ONNX sessions against Python's onnxruntime")
struct ONNXSessionTests {
    static let fixtures = ["sklearn_pipeline", "mlp_regressor", "multi_io", "dynamic_fixed", "fp16"]

    @Test("metadata comes from the file", arguments: fixtures)
    func metadata(_ name: String) throws {
        let session = try ONNXSession(path: Fixture.model(name))
        let doc = try Fixture.cases(name)
        guard case .array(let ins)? = doc["inputs"], case .array(let outs)? = doc["outputs"] else {
            Issue.record("fixture \(name) has no signature")
            return
        }
        #expect(session.inputs.map(\.name) == ins.map { Fixture.string($0["name"]) })
        #expect(session.outputs.map(\.name) == outs.map { Fixture.string($0["name"]) })
        #expect(session.inputs.map(\.shape) == ins.map { Fixture.ints($0["shape"]) })
        #expect(session.outputs.map(\.shape) == outs.map { Fixture.ints($0["shape"]) })
    }

    @Test("outputs are bit-identical to Python's onnxruntime", arguments: fixtures)
    func outputs(_ name: String) throws {
        let session = try ONNXSession(path: Fixture.model(name))
        guard case .array(let cases)? = try Fixture.cases(name)["cases"] else {
            Issue.record("fixture \(name) has no cases")
            return
        }
        for c in cases {
            guard case .array(let inputs)? = c["inputs"], case .array(let expected)? = c["outputs"] else { continue }
            let got = try session.run(inputs.map(Fixture.tensor))
            #expect(got.count == expected.count)
            for (g, e) in zip(got, expected) {
                let want = Fixture.tensor(e)
                #expect(g.name == want.name)
                #expect(g.datatype == want.datatype, "\(name).\(g.name)")
                #expect(g.shape == want.shape, "\(name).\(g.name)")
                #expect(g.data == want.data, "\(name).\(g.name): values differ from Python's onnxruntime")
            }
        }
    }

    @Test("datatypes map both ways")
    func datatypes() throws {
        let session = try ONNXSession(path: Fixture.model("multi_io"))
        #expect(session.inputs.map(\.datatype) == [.fp32, .int32, .bool, .bytes, .uint8])
        #expect(session.outputs.map(\.datatype) == [.fp64, .bool, .int64, .bytes, .uint16])
        #expect(try ONNXSession(path: Fixture.model("fp16")).inputs.first?.datatype == .fp16)
    }

    @Test("only the requested outputs are computed and returned, in the order asked")
    func requestedOutputs() throws {
        let session = try ONNXSession(path: Fixture.model("multi_io"))
        guard case .array(let cases)? = try Fixture.cases("multi_io")["cases"], case .array(let inputs)? = cases.first?["inputs"] else {
            Issue.record("no case")
            return
        }
        let got = try session.run(inputs.map(Fixture.tensor), outputs: ["s_out", "idx"])
        #expect(got.map(\.name) == ["s_out", "idx"])
        #expect(try got[0].asString() == ["cat", "", "naïve café"])
        #expect(try got[1].asArray(of: Int64.self) == [2, 0, 1])
        #expect(throws: KServeError.self) { try session.run(inputs.map(Fixture.tensor), outputs: ["nope"]) }
    }

    @Test("typed results")
    func typed() throws {
        let session = try ONNXSession(path: Fixture.model("dynamic_fixed"))
        var x = InferInput(name: "x", shape: [2, 3, 2], datatype: .fp32)
        x.setData([Float](repeating: 0, count: 12))
        let out = try session.run([x], output: "out", as: Float.self)
        #expect(out == [0.25, -0.5, 0.25, -0.5])
    }

    @Test("misaligned raw bytes (a binary body's tensor can start anywhere) give the same result")
    func misaligned() throws {
        let session = try ONNXSession(path: Fixture.model("dynamic_fixed"))
        let values: [Float] = (0..<6).map { Float($0) * 0.5 }
        var aligned = InferInput(name: "x", shape: [1, 3, 2], datatype: .fp32)
        aligned.setData(values)
        let bytes = [UInt8](repeating: 0xAB, count: 1) + values.withUnsafeBytes { Array($0) }
        let shifted = InferInput(name: "x", shape: [1, 3, 2], datatype: .fp32, data: .raw(bytes[1...]))
        #expect(try session.run([shifted]) == session.run([aligned]))
    }

    @Test("bad inputs are 400s that name the input and say what was expected")
    func badInputs() throws {
        let session = try ONNXSession(path: Fixture.model("dynamic_fixed"))
        func failure(_ inputs: [InferInput]) -> KServeError? {
            do {
                _ = try session.run(inputs)
                return nil
            } catch {
                return error
            }
        }
        func x(_ shape: [Int], _ count: Int, _ type: DataType = .fp32) -> InferInput {
            InferInput(name: "x", shape: shape, datatype: type, data: .raw(ArraySlice(repeating: 0, count: count)))
        }
        let cases: [([InferInput], [String])] = [
            ([x([1, 3, 2], 24), InferInput(name: "extra", shape: [1], datatype: .fp32, data: .raw([0, 0, 0, 0]))],
             ["unknown input 'extra'", "x (FP32 [-1, 3, 2])"]),
            ([], ["missing input 'x'", "FP32 [-1, 3, 2]"]),
            ([x([1, 3, 2], 48, .fp64)], ["input 'x'", "expected datatype FP32, got FP64"]),
            ([x([6, 2], 48)], ["input 'x'", "expected rank 3", "[6, 2]"]),
            ([x([1, 4, 2], 32)], ["input 'x'", "dimension 1 must be 3", "got 4"]),
            ([x([1, 3, 2], 20)], ["input 'x'", "needs 6 elements", "got 20 bytes"]),
        ]
        for (inputs, phrases) in cases {
            let error = failure(inputs)
            #expect(error?.httpStatus == 400)
            for phrase in phrases {
                #expect(error?.message.contains(phrase) == true, "\(error?.message ?? "no error") lacks \(phrase)")
            }
        }
    }

    @Test("a ZipMap output is refused at load with the advice to convert with zipmap=False")
    func zipMap() {
        #expect {
            _ = try ONNXSession(path: Fixture.model("zipmap"))
        } throws: { error in
            let message = (error as? KServeError)?.message ?? ""
            return message.contains("not a tensor") && message.contains("\"zipmap\": False") && message.contains("output_probability")
        }
    }

    @Test("a truncated file is refused at load, naming it")
    func corrupt() {
        #expect {
            _ = try ONNXSession(path: Fixture.model("corrupt"))
        } throws: { error in
            (error as? KServeError)?.message.contains(Fixture.model("corrupt")) == true
        }
    }

    @Test("the library search order: config or environment alone, else beside the executable, ../lib, build tree, system")
    func searchOrder() {
        #expect(ONNXRuntimeLibrary.candidatePaths(explicit: "/opt/ort/libonnxruntime.so") == ["/opt/ort/libonnxruntime.so"])
        let paths = ONNXRuntimeLibrary.candidatePaths(explicit: nil)
        #expect(paths.last == "libonnxruntime.so")
        #expect(paths.contains { $0.hasSuffix("/../lib/libonnxruntime.so") })
        #expect(paths.contains { $0.hasSuffix("/.build/onnxruntime/libonnxruntime.so") })
        let beside = paths.firstIndex { $0.hasSuffix("/../lib/libonnxruntime.so") } ?? 0
        let tree = paths.firstIndex { $0.hasSuffix("/.build/onnxruntime/libonnxruntime.so") } ?? 0
        #expect(beside < tree)
    }
}

@Suite("ONNX model files and v1 tensors")
struct ONNXFilesAndV1Tests {
    func tempDir() -> String {
        var template = Array("/tmp/kserve-onnx-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }

    func copy(_ from: String, _ to: String) {
        guard let src = fopen(from, "rb"), let dst = fopen(to, "wb") else { return }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, src)
            if n <= 0 { break }
            fwrite(buffer, 1, n, dst)
        }
        fclose(src)
        fclose(dst)
    }

    @Test("a folder: model.onnx first, else its one .onnx, else Triton's <version>/model.onnx")
    func folders() throws {
        let dir = tempDir()
        mkdir(dir + "/3", 0o755)
        copy(Fixture.model("fp16"), dir + "/3/model.onnx")
        #expect(try ONNXModelFiles.resolve(dir) == dir + "/3/model.onnx")
        copy(Fixture.model("fp16"), dir + "/other.onnx")
        #expect(try ONNXModelFiles.resolve(dir) == dir + "/other.onnx")
        copy(Fixture.model("fp16"), dir + "/second.onnx")
        #expect(throws: KServeError.self) { try ONNXModelFiles.resolve(dir) }
        copy(Fixture.model("fp16"), dir + "/model.onnx")
        #expect(try ONNXModelFiles.resolve(dir) == dir + "/model.onnx")
        #expect(throws: KServeError.self) { try ONNXModelFiles.resolve(dir + "/missing") }
    }

    @Test("v1 instances become a tensor of the input's datatype shaped by the rows")
    func v1Input() throws {
        let info = ONNXTensorInfo(name: "X", datatype: .fp32, shape: [-1, 2], elementType: 1)
        let rows: JSONValue = .array([.array([.double(1.5), .int(2)]), .array([.int(3), .double(-4.25)])])
        let input = try V1Tensors.input(from: rows, info: info)
        #expect(input.shape == [2, 2])
        #expect(try input.asArray(of: Float.self) == [1.5, 2, 3, -4.25])
        let ragged: JSONValue = .array([.array([.int(1), .int(2)]), .array([.int(3)])])
        #expect(throws: KServeError.self) { try V1Tensors.input(from: ragged, info: info) }
        let ints = ONNXTensorInfo(name: "ids", datatype: .int64, shape: [-1, 2], elementType: 7)
        #expect(throws: KServeError.self) { try V1Tensors.input(from: .array([.array([.double(1.5), .int(2)])]), info: ints) }
    }

    @Test("v1 predictions are nested lists following the output's shape")
    func v1Output() throws {
        let out = InferOutput(name: "p", shape: [2, 3], values: [Float](arrayLiteral: 1, 2, 3, 4, 5, 6))
        #expect(try V1Tensors.nestedList(out) == .array([
            .array([.double(1), .double(2), .double(3)]), .array([.double(4), .double(5), .double(6)]),
        ]))
        let labels = InferOutput(name: "label", shape: [3], values: [Int64](arrayLiteral: 0, 2, 1))
        #expect(try V1Tensors.nestedList(labels) == .array([.int(0), .int(2), .int(1)]))
        let cube = InferOutput(name: "c", shape: [2, 1, 2], values: [Int32](arrayLiteral: 1, 2, 3, 4))
        #expect(try V1Tensors.nestedList(cube) == .array([.array([.array([.int(1), .int(2)])]), .array([.array([.int(3), .int(4)])])]))
    }
}
