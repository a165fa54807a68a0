import Foundation
import KServeModel
import KServeProtobuf
import KServeProtocol
import KServeWorker
import SwiftProtobuf
import Testing

/// Drives ``handleGRPC(_:dataPlane:)`` in process, as the FastCGI layer calls it for `KSERVE_PROTOCOL=grpc`.
struct GRPCDispatcherTests {
    /// Echoes every input as `output-<i>` with the request's parameters, and the request headers it saw.
    final class Echo: Model, @unchecked Sendable {
        let seenHeaders = Locked<Headers>([:])

        override func predict(_ payload: Payload, headers: Headers, responseHeaders: ResponseHeaders?) async throws -> Prediction {
            seenHeaders.value = headers
            let request = try payload.inferRequest()
            let outputs = request.inputs.enumerated().map { i, input in
                InferOutput(name: "output-\(i)", shape: input.shape, datatype: input.datatype, data: input.data, parameters: input.parameters)
            }
            return .response(InferResponse(id: request.id ?? "", modelName: name, outputs: outputs, parameters: request.parameters))
        }

        override func inputTypes() -> [TensorMetadata] { [TensorMetadata(name: "x", datatype: .fp32, shape: [-1, 2])] }
    }

    final class Broken: Model, @unchecked Sendable {
        override func load() async throws { throw KServeError(.internalError, "fails on purpose") }
    }

    static func makeDataPlane() async -> (DataPlane, Echo) {
        let repository = ModelRepository()
        let echo = Echo(name: "echo")
        repository.update(echo)
        repository.update(Broken(name: "broken"))
        for (name, _) in repository.models { try? await repository.load(name) }
        let dataPlane = DataPlane(
            repository: repository, metrics: ServerMetrics(storage: InMemoryCounterStorage()), options: DataPlaneOptions(),
            stateStore: nil)
        return (dataPlane, echo)
    }

    static func call(_ dataPlane: DataPlane, _ rpc: InferenceRPC, _ message: some SwiftProtobuf.Message, headers: Headers = [:]) async throws -> HTTPResponse {
        var h = headers
        h["content-type"] = GRPCBridgeContract.contentType
        return await handleGRPC(HTTPRequest(method: "POST", path: rpc.path, headers: h, body: try message.serializedBytes()), dataPlane: dataPlane)
    }

    static func body(_ r: HTTPResponse) -> [UInt8] {
        switch r.body {
        case .bytes(let b): return b
        case .parts(let parts): return Array(parts.joined())
        default: return []
        }
    }

    static func grpcStatus(_ r: HTTPResponse) -> String? {
        r.headers.first { $0.0 == GRPCBridgeContract.statusHeader }?.1
    }

    @Test func serverRPCs() async throws {
        let (dp, _) = await Self.makeDataPlane()
        let live = try await Self.call(dp, .serverLive, Inference_ServerLiveRequest())
        #expect(live.status == 200)
        #expect(live.headers.contains { $0 == ("Content-Type", "application/grpc+proto") })
        #expect(try Inference_ServerLiveResponse(serializedBytes: Self.body(live)).live)
        let ready = try await Self.call(dp, .serverReady, Inference_ServerReadyRequest())
        #expect(try Inference_ServerReadyResponse(serializedBytes: Self.body(ready)).ready)
        let md = try Inference_ServerMetadataResponse(serializedBytes: Self.body(try await Self.call(dp, .serverMetadata, Inference_ServerMetadataRequest())))
        #expect(md.name == "kserve")
        #expect(md.extensions.contains("model_repository_extension"))
    }

    @Test func modelRPCs() async throws {
        let (dp, _) = await Self.makeDataPlane()
        let ready = try await Self.call(dp, .modelReady, Inference_ModelReadyRequest.with { $0.name = "echo" })
        #expect(try Inference_ModelReadyResponse(serializedBytes: Self.body(ready)).ready)
        let broken = try await Self.call(dp, .modelReady, Inference_ModelReadyRequest.with { $0.name = "broken" })
        #expect(try Inference_ModelReadyResponse(serializedBytes: Self.body(broken)).ready == false)
        let missing = try await Self.call(dp, .modelReady, Inference_ModelReadyRequest.with { $0.name = "nope" })
        #expect(missing.status == 404)
        #expect(Self.grpcStatus(missing) == "5")
        #expect(Self.body(missing) == Array(#"{"error":"Model with name nope does not exist."}"#.utf8))
        let md = try Inference_ModelMetadataResponse(serializedBytes: Self.body(
            try await Self.call(dp, .modelMetadata, Inference_ModelMetadataRequest.with { $0.name = "echo" })))
        #expect(md.versions == ["1"])
        #expect(md.inputs.map(\.name) == ["x"])
        #expect(md.inputs.first?.shape == [-1, 2])
    }

    @Test func modelInfer() async throws {
        let (dp, echo) = await Self.makeDataPlane()
        var request = Inference_ModelInferRequest()
        request.modelName = "echo"
        request.id = "r1"
        request.inputs = [.with { $0.name = "a"; $0.datatype = "INT32"; $0.shape = [2]; $0.contents.intContents = [1, 2] }]
        request.parameters["p"] = .with { $0.stringParam = "v" }
        let typed = try await Self.call(dp, .modelInfer, request, headers: ["x-request-id": "trace-1"])
        #expect(typed.status == 200)
        let message = try Inference_ModelInferResponse(serializedBytes: Self.body(typed))
        #expect(message.id == "r1")
        #expect(message.modelName == "echo")
        #expect(message.outputs.first?.contents.intContents == [1, 2])
        #expect(message.rawOutputContents.isEmpty)
        #expect(message.parameters["p"]?.stringParam == "v")
        #expect(echo.seenHeaders.value["x-request-id"] == "trace-1")

        request.inputs[0].clearContents()
        request.rawInputContents = [.init([1, 0, 0, 0, 2, 0, 0, 0])]
        request.id = ""
        let raw = try Inference_ModelInferResponse(serializedBytes: Self.body(try await Self.call(dp, .modelInfer, request)))
        #expect(raw.rawOutputContents.count == 1)
        #expect(raw.id.count == 36)  // generated
    }

    @Test func inferErrors() async throws {
        let (dp, _) = await Self.makeDataPlane()
        func status(_ r: Inference_ModelInferRequest) async throws -> (Int, String?) {
            let response = try await Self.call(dp, .modelInfer, r)
            return (response.status, Self.grpcStatus(response))
        }
        let one = Inference_ModelInferRequest.InferInputTensor.with { $0.name = "a"; $0.datatype = "INT32"; $0.shape = [1]; $0.contents.intContents = [1] }
        #expect(try await status(.with { $0.modelName = "nope"; $0.inputs = [one] }) == (404, "5"))
        #expect(try await status(.with { $0.modelName = "broken"; $0.inputs = [one] }) == (503, "14"))
        #expect(try await status(.with { $0.modelName = "echo"; $0.inputs = [one, one]; $0.rawInputContents = [.init([1, 0, 0, 0])] }) == (400, "3"))
        #expect(try await status(.with { $0.modelName = "echo"; $0.modelVersion = "9"; $0.inputs = [one] }) == (404, "5"))
        let garbage = await handleGRPC(
            HTTPRequest(method: "POST", path: InferenceRPC.modelInfer.path, body: [0xFF, 0xFF, 0xFF]), dataPlane: dp)
        #expect(garbage.status == 400)
        #expect(Self.grpcStatus(garbage) == "3")
        let unknown = await handleGRPC(HTTPRequest(method: "POST", path: "/inference.GRPCInferenceService/ModelConfig"), dataPlane: dp)
        #expect(Self.grpcStatus(unknown) == "12")
    }

    @Test func repository() async throws {
        let (dp, _) = await Self.makeDataPlane()
        let unload = try await Self.call(dp, .repositoryModelUnload, Inference_RepositoryModelUnloadRequest.with { $0.modelName = "echo" })
        #expect(unload.status == 200)
        let u = try Inference_RepositoryModelUnloadResponse(serializedBytes: Self.body(unload))
        #expect(u.modelName == "echo" && u.isUnloaded)
        let gone = try await Self.call(dp, .modelReady, Inference_ModelReadyRequest.with { $0.name = "echo" })
        #expect(Self.grpcStatus(gone) == "5")
        // Triton's layout: model_name is field 2.
        let triton = await handleGRPC(
            HTTPRequest(method: "POST", path: InferenceRPC.repositoryModelLoad.path, body: [0x12, 4] + Array("echo".utf8)),
            dataPlane: dp)
        #expect(triton.status == 200)
        let l = try Inference_RepositoryModelLoadResponse(serializedBytes: Self.body(triton))
        #expect(l.modelName == "echo" && l.isLoaded)
        let broken = try await Self.call(dp, .repositoryModelLoad, Inference_RepositoryModelLoadRequest.with { $0.modelName = "broken" })
        #expect(Self.grpcStatus(broken) == "14")
        let missing = try await Self.call(dp, .repositoryModelUnload, Inference_RepositoryModelUnloadRequest.with { $0.modelName = "nope" })
        #expect(Self.grpcStatus(missing) == "5")
    }
}
