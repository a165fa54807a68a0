import Foundation
import KServeProtobuf
import KServeProtocol
import SwiftProtobuf
import Testing

@Suite("ModelInfer messages without copying their raw tensors")
struct ModelInferWireTests {
    static func request(raw: [[UInt8]]) -> Inference_ModelInferRequest {
        var r = Inference_ModelInferRequest()
        r.modelName = "echo"
        r.id = "r1"
        r.parameters["p"] = .with { $0.stringParam = "v" }
        for (k, bytes) in raw.enumerated() {
            r.inputs.append(.with {
                $0.name = "x\(k)"
                $0.datatype = "UINT8"
                $0.shape = [Int64(bytes.count)]
            })
            r.rawInputContents.append(Data(bytes))
        }
        return r
    }

    @Test("a serialized request decodes as SwiftProtobuf decodes it, each raw tensor a slice of the request bytes")
    func decodeInPlace() throws {
        let big = (0..<100_000).map { UInt8(truncatingIfNeeded: $0) }
        let serialized: [UInt8] = try Self.request(raw: [big, [1, 2, 3]]).serializedBytes()
        let (message, raw) = try InferRequest.decodeGRPC(serialized: serialized[...])
        #expect(message.modelName == "echo" && message.id == "r1" && message.inputs.count == 2)
        #expect(message.rawInputContents.isEmpty)
        #expect(raw.map { Array($0) } == [big, [1, 2, 3]])
        let request = try InferRequest.fromGRPC(message, raw: raw)
        let expected = try InferRequest.fromGRPC(Inference_ModelInferRequest(serializedBytes: serialized))
        #expect(request == expected)
        // No copy: the first tensor's bytes live inside `serialized`.
        guard case .raw(let data)? = request.inputs[0].data else {
            Issue.record("input 0 is not raw")
            return
        }
        serialized.withUnsafeBufferPointer { whole in
            data.withUnsafeBufferPointer { part in
                #expect(part.baseAddress! >= whole.baseAddress! && part.baseAddress! + part.count <= whole.baseAddress! + whole.count)
            }
        }
    }

    @Test("raw contents before other fields (any order is valid protobuf) are found too")
    func interleaved() throws {
        let head: [UInt8] = try Self.request(raw: []).serializedBytes()
        // field 7 first, then the rest, then field 7 again
        let bytes = ModelInferWire.fieldHeader(7, length: 2) + [9, 8] + head + ModelInferWire.fieldHeader(7, length: 1) + [7]
        let (rest, values) = try ModelInferWire.split(bytes[...], bytesField: 7)
        #expect(Array(rest) == head)
        #expect(values.map { Array($0) } == [[9, 8], [7]])
    }

    @Test("malformed bytes are refused with a reason", arguments: [
        [0xFF, 0xFF, 0xFF],          // truncated varint
        [0x3A, 0x05, 1, 2],          // field 7 longer than the message
        [0x38, 0x01],                // field 7 as a varint
        [0x0B],                      // a group
    ] as [[UInt8]])
    func malformed(bytes: [UInt8]) {
        #expect(throws: ModelInferWire.MalformedMessage.self) { try InferRequest.decodeGRPC(serialized: bytes[...]) }
    }

    @Test("a response serialized in parts is SwiftProtobuf's serialization, its raw outputs the outputs' own buffers")
    func responseParts() throws {
        let storage = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var response = InferResponse(id: "i", modelName: "m", outputs: [
            InferOutput(name: "a", shape: [70_000], datatype: .uint8, data: .raw(storage[...])),
            InferOutput(name: "s", shape: [2], datatype: .bytes, data: .bytes([Array("hi".utf8)[...], [][...]])),
        ])
        response.parameters["k"] = .string("v")
        for raw in [true, false] {
            let parts = try response.serializedGRPC(rawOutputs: raw)
            let expected: [UInt8] = try response.toGRPC(rawOutputs: raw).serializedBytes()
            #expect(Array(parts.joined()) == expected)
            if raw {
                let decoded = try Inference_ModelInferResponse(serializedBytes: Array(parts.joined()))
                #expect(decoded.rawOutputContents.count == 2)
                #expect(parts.contains { part in
                    part.count == storage.count && part.withUnsafeBufferPointer { p in
                        storage.withUnsafeBufferPointer { $0.baseAddress == p.baseAddress }
                    }
                })
            }
        }
    }
}
