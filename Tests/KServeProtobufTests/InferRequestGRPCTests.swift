import Foundation
import KServeProtobuf
import KServeProtocol
import SwiftProtobuf
import Testing

@Suite("InferRequest.fromGRPC / toGRPC")
struct InferRequestGRPCTests {
    typealias Tensor = Inference_ModelInferRequest.InferInputTensor

    static func tensor(_ name: String, _ datatype: String, _ shape: [Int64], _ contents: Inference_InferTensorContents? = nil) -> Tensor {
        var t = Tensor()
        t.name = name
        t.datatype = datatype
        t.shape = shape
        if let contents { t.contents = contents }
        return t
    }

    static func request(_ inputs: [Tensor], raw: [Data] = []) -> Inference_ModelInferRequest {
        var r = Inference_ModelInferRequest()
        r.modelName = "echo"
        r.id = "req-1"
        r.inputs = inputs
        r.rawInputContents = raw
        return r
    }

    static func bytes<T>(_ values: [T]) -> Data { values.withUnsafeBytes { Data($0) } }

    @Test("typed contents of every fixed-width datatype")
    func typedContents() throws {
        var c = Inference_InferTensorContents()
        let cases: [(String, Inference_InferTensorContents, TensorData)] = [
            ("BOOL", { c = .init(); c.boolContents = [true, false]; return c }(), .from([true, false])),
            ("INT8", { c = .init(); c.intContents = [-128, 127]; return c }(), .from([Int8(-128), 127])),
            ("INT16", { c = .init(); c.intContents = [-300, 300]; return c }(), .from([Int16(-300), 300])),
            ("INT32", { c = .init(); c.intContents = [Int32.min, Int32.max]; return c }(), .from([Int32.min, Int32.max])),
            ("INT64", { c = .init(); c.int64Contents = [Int64.min, 5]; return c }(), .from([Int64.min, 5])),
            ("UINT8", { c = .init(); c.uintContents = [0, 255]; return c }(), .from([UInt8(0), 255])),
            ("UINT16", { c = .init(); c.uintContents = [1, 65535]; return c }(), .from([UInt16(1), 65535])),
            ("UINT32", { c = .init(); c.uintContents = [1, UInt32.max]; return c }(), .from([UInt32(1), UInt32.max])),
            ("UINT64", { c = .init(); c.uint64Contents = [1, UInt64.max]; return c }(), .from([UInt64(1), UInt64.max])),
            ("FP32", { c = .init(); c.fp32Contents = [1.5, -0.1]; return c }(), .from([Float(1.5), -0.1])),
            ("FP64", { c = .init(); c.fp64Contents = [1.5, 0.1]; return c }(), .from([1.5, 0.1])),
        ]
        for (datatype, contents, expected) in cases {
            let r = try InferRequest.fromGRPC(Self.request([Self.tensor("x", datatype, [2], contents)]))
            #expect(r.inputs[0].data == expected, "\(datatype)")
            #expect(r.inputs[0].datatype.rawValue == datatype)
            #expect(r.inputs[0].shape == [2])
            #expect(r.wireFormat == .grpc(rawInputs: false))
            #expect(r.useBinaryOutputs == false)
        }
    }

    @Test("typed BYTES contents")
    func typedBytes() throws {
        var c = Inference_InferTensorContents()
        c.bytesContents = [Data("cat".utf8), Data([0xFF, 0x00])]
        let r = try InferRequest.fromGRPC(Self.request([Self.tensor("s", "BYTES", [2], c)]))
        #expect(r.inputs[0].data == .bytes([ArraySlice("cat".utf8), [0xFF, 0x00]]))
    }

    @Test("raw contents, BYTES in the length-prefixed layout, FP16")
    func rawContents() throws {
        let bytesLayout = Data([3, 0, 0, 0] + Array("cat".utf8) + [2, 0, 0, 0] + Array("ok".utf8))
        let half: [Float16] = [1.5, -2]
        let r = try InferRequest.fromGRPC(Self.request(
            [Self.tensor("a", "FP32", [1, 2]), Self.tensor("b", "BYTES", [2]), Self.tensor("h", "FP16", [2])],
            raw: [Self.bytes([Float(1), 2]), bytesLayout, Self.bytes(half)]))
        #expect(r.wireFormat == .grpc(rawInputs: true))
        #expect(r.useBinaryOutputs)
        #expect(try r.inputs[0].asArray(of: Float.self) == [1, 2])
        #expect(try r.inputs[1].asString() == ["cat", "ok"])
        #expect(try r.inputs[2].asArray(of: Float16.self) == half)
        #expect(r.id == "req-1")
        #expect(r.requestOutputs == nil)
    }

    @Test("raw content count must be 0 or the number of inputs")
    func rawCountMismatch() {
        let request = Self.request([Self.tensor("a", "INT32", [1]), Self.tensor("b", "INT32", [1])], raw: [Self.bytes([Int32(1)])])
        #expect(throws: KServeError.invalidInput(
            "the number of inputs (2) does not match the expected number of raw input contents (1) for model 'echo'.")) {
            try InferRequest.fromGRPC(request)
        }
    }

    @Test("contents and raw contents must not be mixed")
    func noMixing() {
        var c = Inference_InferTensorContents()
        c.intContents = [1]
        let request = Self.request([Self.tensor("a", "INT32", [1], c)], raw: [Self.bytes([Int32(1)])])
        #expect(throws: KServeError.invalidInput(
            "contents field must not be specified when using raw_input_contents for input 'a' for model 'echo'")) {
            try InferRequest.fromGRPC(request)
        }
    }

    @Test("FP16 and BF16 only as raw")
    func fp16Typed() throws {
        for datatype in ["FP16", "BF16"] {
            var c = Inference_InferTensorContents()
            c.fp32Contents = [1]
            let error = #expect(throws: KServeError.self) {
                try InferRequest.fromGRPC(Self.request([Self.tensor("h", datatype, [1], c)]))
            }
            #expect(error?.code == .invalidInput)
            #expect(error?.message.contains("raw_input_contents") == true)
        }
    }

    @Test("element counts must match the shape")
    func countMismatch() {
        var c = Inference_InferTensorContents()
        c.fp32Contents = [1, 2, 3]
        let typed = #expect(throws: KServeError.self) {
            try InferRequest.fromGRPC(Self.request([Self.tensor("x", "FP32", [2, 2], c)]))
        }
        #expect(typed?.message == "fp32_contents for input 'x' hold 3 elements, but its shape needs 4 FP32 elements")
        let raw = #expect(throws: KServeError.self) {
            try InferRequest.fromGRPC(Self.request([Self.tensor("x", "FP32", [3])], raw: [Self.bytes([Float(1), 2])]))
        }
        #expect(raw?.code == .invalidInput)
        #expect(raw?.message.contains("hold 8 bytes") == true)
        let bytes = #expect(throws: KServeError.self) {
            try InferRequest.fromGRPC(Self.request([Self.tensor("s", "BYTES", [2])], raw: [Data([1, 0, 0, 0, 65])]))
        }
        #expect(bytes?.message.contains("hold 1 elements, but its shape needs 2") == true)
        let past = #expect(throws: KServeError.self) {
            try InferRequest.fromGRPC(Self.request([Self.tensor("s", "BYTES", [1])], raw: [Data([9, 0, 0, 0, 65])]))
        }
        #expect(past?.message.contains("past the end") == true)
        let negative = #expect(throws: KServeError.self) {
            try InferRequest.fromGRPC(Self.request([Self.tensor("x", "FP32", [-1])]))
        }
        #expect(negative?.code == .invalidInput)
    }

    @Test("narrow integer ranges and unknown datatypes")
    func ranges() {
        var c = Inference_InferTensorContents()
        c.intContents = [128]
        let error = #expect(throws: KServeError.self) {
            try InferRequest.fromGRPC(Self.request([Self.tensor("x", "INT8", [1], c)]))
        }
        #expect(error?.message == "contents for input 'x': 128 is out of range for INT8")
        let unknown = #expect(throws: KServeError.self) {
            try InferRequest.fromGRPC(Self.request([Self.tensor("x", "FLOAT", [1])]))
        }
        #expect(unknown?.message == "invalid datatype 'FLOAT' for input 'x'")
    }

    @Test("parameters, requested outputs, version")
    func parametersAndOutputs() throws {
        var request = Self.request([Self.tensor("x", "INT64", [0])])
        request.modelVersion = "1"
        request.parameters["b"] = .with { $0.boolParam = true }
        request.parameters["i"] = .with { $0.int64Param = -3 }
        request.parameters["s"] = .with { $0.stringParam = "x" }
        request.parameters["unset"] = Inference_InferParameter()
        request.inputs[0].parameters["p"] = .with { $0.stringParam = "q" }
        request.outputs = [.with { $0.name = "out"; $0.parameters["binary_data"] = .with { $0.boolParam = true } }]
        let r = try InferRequest.fromGRPC(request)
        #expect(r.parameters == ["b": .bool(true), "i": .int(-3), "s": .string("x")])
        #expect(r.parameters.keys == ["b", "i", "s"])
        #expect(r.inputs[0].parameters == ["p": .string("q")])
        #expect(r.requestOutputs == [RequestedOutput(name: "out", parameters: ["binary_data": .bool(true)])])
        #expect(r.modelVersion == "1")
    }

    @Test("toGRPC then fromGRPC, raw and typed")
    func roundTrip() throws {
        var request = InferRequest(
            modelName: "m",
            inputs: [
                InferInput(name: "f", shape: [2], datatype: .fp32, data: .from([Float(1), 2])),
                InferInput(name: "s", shape: [1], datatype: .bytes, data: .from(strings: ["héllo"])),
                InferInput(name: "b", shape: [3], datatype: .bool, data: .from([true, false, true]), parameters: ["k": .int(1)]),
            ],
            id: "7", parameters: ["p": .string("v")], requestOutputs: [RequestedOutput(name: "o")])
        for raw in [true, false] {
            let message = try request.toGRPC(rawInputs: raw)
            #expect(message.rawInputContents.count == (raw ? 3 : 0))
            let bytes: [UInt8] = try message.serializedBytes()
            let back = try InferRequest.fromGRPC(try Inference_ModelInferRequest(serializedBytes: bytes))
            request.wireFormat = .grpc(rawInputs: raw)
            request.hasRawInputs = raw
            #expect(back == request)
        }
        let fp16 = InferRequest(modelName: "m", inputs: [InferInput(name: "h", shape: [1], datatype: .fp16, data: .from([Float16(1)]))])
        #expect(try fp16.toGRPC(rawInputs: false).rawInputContents.count == 1)
        let badParameter = InferRequest(modelName: "m", inputs: [], parameters: ["x": .double(1.3)])
        #expect(throws: KServeError.invalidInput("to_grpc: invalid parameter value: 1.3")) {
            try badParameter.toGRPC()
        }
    }
}
