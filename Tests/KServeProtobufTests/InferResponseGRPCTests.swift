import Foundation
import KServeProtobuf
import KServeProtocol
import SwiftProtobuf
import Testing

@Suite("InferResponse.toGRPC / fromGRPC")
struct InferResponseGRPCTests {
    static func response(_ outputs: [InferOutput], requested: [String]? = nil) -> InferResponse {
        InferResponse(
            id: "r", modelName: "m", outputs: outputs, parameters: ["p": .int(1)],
            requestedOutputs: requested?.map { RequestedOutput(name: $0) })
    }

    @Test("typed contents follow KServe's datatype table")
    func typedTable() throws {
        let r = Self.response([
            InferOutput(name: "i8", shape: [2], values: [Int8(-1), 2]),
            InferOutput(name: "i16", shape: [1], values: [Int16(-300)]),
            InferOutput(name: "i32", shape: [1], values: [Int32(7)]),
            InferOutput(name: "i64", shape: [1], values: [Int64(-8)]),
            InferOutput(name: "u8", shape: [1], values: [UInt8(255)]),
            InferOutput(name: "u16", shape: [1], values: [UInt16(65535)]),
            InferOutput(name: "u32", shape: [1], values: [UInt32.max]),
            InferOutput(name: "u64", shape: [1], values: [UInt64.max]),
            InferOutput(name: "f32", shape: [1], values: [Float(0.5)]),
            InferOutput(name: "f64", shape: [1], values: [0.25]),
            InferOutput(name: "b", shape: [2], values: [true, false]),
            InferOutput(name: "s", shape: [1], datatype: .bytes, data: .from(strings: ["x"])),
        ])
        let m = try r.toGRPC(rawOutputs: false)
        #expect(m.rawOutputContents.isEmpty)
        #expect(m.id == "r")
        #expect(m.modelName == "m")
        #expect(m.parameters["p"]?.int64Param == 1)
        let c = m.outputs.map(\.contents)
        #expect(c[0].intContents == [-1, 2])
        #expect(c[1].intContents == [-300])
        #expect(c[2].intContents == [7])
        #expect(c[3].int64Contents == [-8])
        #expect(c[4].uintContents == [255])
        #expect(c[5].uintContents == [65535])
        #expect(c[6].uintContents == [UInt32.max])
        #expect(c[7].uint64Contents == [UInt64.max])
        #expect(c[8].fp32Contents == [0.5])
        #expect(c[9].fp64Contents == [0.25])
        #expect(c[10].boolContents == [true, false])
        #expect(c[11].bytesContents == [Data("x".utf8)])
        #expect(m.outputs[0].datatype == "INT8")
        #expect(m.outputs[0].shape == [2])
        #expect(m.outputs.allSatisfy { $0.parameters["binary_data_size"] == nil })
    }

    @Test("raw outputs carry binary_data_size; FP16 forces raw")
    func rawOutputs() throws {
        let r = Self.response([
            InferOutput(name: "f", shape: [2], values: [Float(1), 2]),
            InferOutput(name: "s", shape: [2], datatype: .bytes, data: .from(strings: ["cat", "ok"])),
        ])
        let m = try r.toGRPC(rawOutputs: true)
        #expect(m.rawOutputContents.count == 2)
        #expect(m.rawOutputContents[1] == Data([3, 0, 0, 0] + Array("cat".utf8) + [2, 0, 0, 0] + Array("ok".utf8)))
        #expect(m.outputs[0].parameters["binary_data_size"]?.int64Param == 8)
        #expect(!m.outputs[0].hasContents)

        let half = Self.response([
            InferOutput(name: "h", shape: [1], values: [Float16(1)]),
            InferOutput(name: "i", shape: [1], values: [Int32(3)]),
        ])
        let forced = try half.toGRPC(rawOutputs: false)
        #expect(forced.rawOutputContents.count == 2)
    }

    @Test("requested outputs select and order; an unknown one is invalid input")
    func requestedOutputs() throws {
        let outputs = [
            InferOutput(name: "a", shape: [1], values: [Int32(1)]),
            InferOutput(name: "b", shape: [1], values: [Int32(2)]),
            InferOutput(name: "c", shape: [1], values: [Float16(1)]),
        ]
        let m = try Self.response(outputs, requested: ["b", "a"]).toGRPC(rawOutputs: false)
        #expect(m.outputs.map(\.name) == ["b", "a"])
        #expect(m.rawOutputContents.isEmpty)  // the FP16 output was not asked for
        #expect(throws: KServeError.invalidInput("Unexpected inference output 'zzz' for model 'm'")) {
            try Self.response(outputs, requested: ["zzz"]).toGRPC(rawOutputs: false)
        }
    }

    @Test("model bugs are internal errors; doubles cannot travel as gRPC parameters")
    func errors() {
        let short = Self.response([InferOutput(name: "a", shape: [3], values: [Int32(1)])])
        let error = #expect(throws: KServeError.self) { try short.toGRPC(rawOutputs: false) }
        #expect(error?.code == .internalError)
        var withDouble = Self.response([])
        withDouble.parameters["x"] = .double(1.3)
        #expect(throws: KServeError.invalidInput("to_grpc: invalid parameter value: 1.3")) {
            try withDouble.toGRPC(rawOutputs: false)
        }
    }

    @Test("fromGRPC reads typed and raw outputs")
    func fromGRPC() throws {
        let r = Self.response([
            InferOutput(name: "f", shape: [2], values: [Float(1), 2], parameters: ["q": .string("s")]),
            InferOutput(name: "s", shape: [1], datatype: .bytes, data: .from(strings: ["x"])),
        ])
        for raw in [false, true] {
            let bytes: [UInt8] = try r.toGRPC(rawOutputs: raw).serializedBytes()
            let back = try InferResponse.fromGRPC(try Inference_ModelInferResponse(serializedBytes: bytes))
            #expect(back.outputs == r.outputs)
            #expect(back.id == "r")
            #expect(back.parameters == ["p": .int(1)])
            #expect(back.useBinaryOutputs == raw)
        }
    }
}
