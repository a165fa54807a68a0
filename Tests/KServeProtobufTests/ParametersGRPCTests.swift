import Foundation
import KServeProtobuf
import KServeProtocol
import SwiftProtobuf
import Testing

@Suite("Parameters and Triton compatibility")
struct ParametersGRPCTests {
    @Test("to_http takes whichever oneof member is set")
    func toHTTP() {
        #expect(ParameterValue(grpc: .with { $0.boolParam = false }) == .bool(false))
        #expect(ParameterValue(grpc: .with { $0.int64Param = 0 }) == .int(0))
        #expect(ParameterValue(grpc: .with { $0.stringParam = "" }) == .string(""))
        #expect(ParameterValue(grpc: Inference_InferParameter()) == nil)
    }

    @Test("Triton's double_param (4) and uint64_param (5) are read from unknown fields")
    func tritonParameters() throws {
        var double: [UInt8] = [0x21]  // field 4, wire type 1
        withUnsafeBytes(of: (1.25).bitPattern.littleEndian) { double += $0 }
        let d = try Inference_InferParameter(serializedBytes: double)
        #expect(ParameterValue(grpc: d) == .double(1.25))
        let u = try Inference_InferParameter(serializedBytes: [0x28, 0x07] as [UInt8])  // field 5, varint 7
        #expect(ParameterValue(grpc: u) == .int(7))
    }

    @Test("to_grpc carries bool, int and string and rejects the rest")
    func toGRPC() throws {
        let p: Parameters = ["b": .bool(true), "i": .int(5), "s": .string("x")]
        let m = try p.toGRPC()
        #expect(m["b"]?.boolParam == true)
        #expect(m["i"]?.int64Param == 5)
        #expect(m["s"]?.stringParam == "x")
        #expect(Parameters.fromGRPC(m) == p)
        #expect(throws: KServeError.invalidInput("to_grpc: invalid parameter value: 1.3")) {
            try ParameterValue.double(1.3).toGRPC()
        }
        let json = #expect(throws: KServeError.self) { try ParameterValue.json(.array([.int(1)])).toGRPC() }
        #expect(json?.code == .invalidInput)
    }

    @Test("repository requests accept KServe's and Triton's layouts")
    func repositoryRequests() throws {
        let kserve = Inference_RepositoryModelLoadRequest.with { $0.modelName = "a" }
        #expect(kserve.requestedModelName == "a")
        // Triton: repository_name = 1 (empty, so absent), model_name = 2.
        let triton: [UInt8] = [0x12, 0x03] + Array("abc".utf8)
        #expect(try Inference_RepositoryModelLoadRequest(serializedBytes: triton).requestedModelName == "abc")
        #expect(try Inference_RepositoryModelUnloadRequest(serializedBytes: triton).requestedModelName == "abc")
        // Triton with a repository name and a config parameter map (field 3).
        let full: [UInt8] = [0x0A, 0x01, 0x72, 0x12, 0x01, 0x6D, 0x1A, 0x02, 0x0A, 0x00]
        #expect(try Inference_RepositoryModelLoadRequest(serializedBytes: full).requestedModelName == "m")
    }

    @Test("method paths")
    func paths() {
        #expect(InferenceRPC.modelInfer.path == "/inference.GRPCInferenceService/ModelInfer")
        #expect(InferenceRPC(path: "/inference.GRPCInferenceService/ServerLive") == .serverLive)
        #expect(InferenceRPC(path: "/inference.GRPCInferenceService/ModelConfig") == nil)
        #expect(InferenceRPC(path: "/other.Service/ServerLive") == nil)
    }
}
