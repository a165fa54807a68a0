import KServeModel
import KServeProtobuf
import KServeProtocol
import SwiftProtobuf

/// Answers one `inference.GRPCInferenceService` call that the gRPC process forwarded over FastCGI.
///
/// The request is a FastCGI request with the parameter `KSERVE_PROTOCOL=grpc` (see
/// ``KServeProtobuf/GRPCBridgeContract``): its path names the RPC (`/inference.GRPCInferenceService/ModelInfer`),
/// its body is the serialized request message and its `HTTP_*` parameters are the call's metadata. The answer is
/// `200` with the serialized response message (`Content-Type: application/grpc+proto`), or the error's HTTP
/// status with a `Grpc-Status: <code>` header and `{"error": "..."}`.
///
/// All eight RPCs, with the status codes of the project's decisions (never UNKNOWN):
/// - `ServerLive`, `ServerReady`, `ServerMetadata`;
/// - `ModelReady` (a missing model is NOT_FOUND), `ModelMetadata`;
/// - `ModelInfer`: the model must be ready; typed or raw inputs with KServe's rules; outputs raw iff the inputs
///   were (or an FP16/BF16 output forces it); the request id echoed; the metadata passed to the model as headers;
/// - `RepositoryModelLoad` / `RepositoryModelUnload`: OK with `isLoaded` / `isUnloaded` true, applied through the
///   ``DataPlane`` so that the whole pool agrees; Triton's request layout (`model_name` = 2) is accepted too.
///
/// - Parameters:
///   - request: the request as the FastCGI layer decoded it.
///   - dataPlane: this worker's data plane.
/// - Returns: the FastCGI answer; never throws.
public func handleGRPC(_ request: HTTPRequest, dataPlane: DataPlane) async -> HTTPResponse {
    switch await answerGRPC(request, message: request.body[...], dataPlane: dataPlane) {
    case .success(let parts):
        return HTTPResponse(status: 200, headers: [("Content-Type", GRPCBridgeContract.contentType)], body: .parts(parts))
    case .failure(let error):
        return .error(error, headers: [(GRPCBridgeContract.statusHeader, String(error.grpcStatusCode))])
    }
}

/// Runs one `inference.GRPCInferenceService` call, whichever way it came (the gRPC process's bridge or nginx's
/// HTTP/2 listener).
///
/// - Parameters:
///   - request: the call: its path names the RPC, its headers are the metadata.
///   - message: the serialized request message (a slice of the request body: nothing is copied).
///   - dataPlane: this worker's data plane.
/// - Returns: the serialized response message in parts, or the error the call ends with (the registered
///   exception handler has seen every 5xx one).
func answerGRPC(
    _ request: HTTPRequest, message: ArraySlice<UInt8>, dataPlane: DataPlane
) async -> Result<[ArraySlice<UInt8>], KServeError> {
    do {
        guard let rpc = InferenceRPC(path: request.path) else {
            throw KServeError(.notImplemented, "Method not found: \(request.path)")
        }
        if request.method != "POST" {
            throw KServeError(.methodNotAllowed, "gRPC calls are forwarded with POST, not \(request.method)")
        }
        await dataPlane.synchronize()
        let dispatcher = GRPCDispatcher(dataPlane: dataPlane, request: request, message: message)
        return .success(rpc == .modelInfer ? try await dispatcher.infer() : [try await dispatcher.answer(rpc)[...]])
    } catch let error as KServeError {
        if error.httpStatus >= 500 { dataPlane.options.exceptionHandler?(error, request.path) }
        return .failure(error)
    } catch {
        dataPlane.options.exceptionHandler?(error, request.path)
        return .failure(KServeError(.internalError, "\(type(of: error)) : \(error)"))
    }
}

/// One forwarded call: decodes the request message, runs it on the data plane, encodes the response message.
private struct GRPCDispatcher {
    let dataPlane: DataPlane
    let request: HTTPRequest
    /// The serialized request message.
    let message: ArraySlice<UInt8>

    func answer(_ rpc: InferenceRPC) async throws -> [UInt8] {
        let dp = dataPlane
        switch rpc {
        case .serverLive:
            _ = try decode(Inference_ServerLiveRequest.self, rpc)
            return try encode(Inference_ServerLiveResponse.with { $0.live = dp.live() })

        case .serverReady:
            _ = try decode(Inference_ServerReadyRequest.self, rpc)
            let ready = await dp.ready()
            return try encode(Inference_ServerReadyResponse.with { $0.ready = ready })

        case .modelReady:
            let message = try decode(Inference_ModelReadyRequest.self, rpc)
            let ready = try await dp.modelReady(message.name)
            return try encode(Inference_ModelReadyResponse.with { $0.ready = ready })

        case .serverMetadata:
            _ = try decode(Inference_ServerMetadataRequest.self, rpc)
            return try encode(Inference_ServerMetadataResponse.with {
                $0.name = dp.options.serverName
                $0.version = dp.options.serverVersion
                $0.extensions = ["model_repository_extension"]
            })

        case .modelMetadata:
            let message = try decode(Inference_ModelMetadataRequest.self, rpc)
            let model = try dp.model(message.name)
            try dp.checkVersion(message.name, message.version.isEmpty ? nil : message.version)
            func tensor(_ t: TensorMetadata) -> Inference_ModelMetadataResponse.TensorMetadata {
                .with {
                    $0.name = t.name
                    $0.datatype = t.datatype.rawValue
                    $0.shape = t.shape.map { Int64($0) }
                }
            }
            return try encode(Inference_ModelMetadataResponse.with {
                $0.name = message.name
                $0.versions = [dp.version(of: message.name)]
                $0.platform = ""
                $0.inputs = model.metadataInputs.map(tensor)
                $0.outputs = model.metadataOutputs.map(tensor)
            })

        case .modelInfer:
            return Array(try await infer().joined())

        case .repositoryModelLoad:
            let name = try decode(Inference_RepositoryModelLoadRequest.self, rpc).requestedModelName
            try requireName(name)
            try await dp.load(name)
            return try encode(Inference_RepositoryModelLoadResponse.with {
                $0.modelName = name
                $0.isLoaded = true
            })

        case .repositoryModelUnload:
            let name = try decode(Inference_RepositoryModelUnloadRequest.self, rpc).requestedModelName
            try requireName(name)
            try await dp.unload(name)
            return try encode(Inference_RepositoryModelUnloadResponse.with {
                $0.modelName = name
                $0.isUnloaded = true
            })
        }
    }

    /// ModelInfer: the request decoded in place (its raw tensors are slices of the body), the response as parts
    /// (its raw tensors are the outputs' own buffers).
    func infer() async throws -> [ArraySlice<UInt8>] {
        let dp = dataPlane
        let message: Inference_ModelInferRequest
        let raw: [ArraySlice<UInt8>]
        do {
            (message, raw) = try InferRequest.decodeGRPC(serialized: self.message)
        } catch {
            throw KServeError.invalidInput("ModelInfer: the request is not a valid \(Inference_ModelInferRequest.protoMessageName) message (\(error))")
        }
        let name = message.modelName
        try dp.checkVersion(name, message.modelVersion.isEmpty ? nil : message.modelVersion)
        _ = try await dp.readyModel(name)
        let inferRequest = try InferRequest.fromGRPC(message, raw: raw, limits: dp.options.limits)
        let (result, _) = try await dp.infer(model: name, payload: .request(inferRequest), headers: request.headers, verb: .predict)
        guard case .response(var response) = result else {
            throw KServeError(.internalError,
                "model '\(name)' returned a v1 answer; gRPC ModelInfer needs an InferResponse (a v2 response)")
        }
        if response.id.isEmpty { response.id = inferRequest.id ?? uuid4() }
        if response.modelName.isEmpty { response.modelName = name }
        if response.requestedOutputs == nil { response.requestedOutputs = inferRequest.requestOutputs }
        return try response.serializedGRPC(rawOutputs: response.useBinaryOutputs || inferRequest.useBinaryOutputs)
    }

    private func requireName(_ name: String) throws {
        if name.isEmpty { throw KServeError.invalidInput("model_name must not be empty") }
    }

    private func decode<M: SwiftProtobuf.Message>(_ type: M.Type, _ rpc: InferenceRPC) throws -> M {
        do {
            return try M(serializedBytes: message)
        } catch {
            throw KServeError.invalidInput("\(rpc.rawValue): the request is not a valid \(M.protoMessageName) message (\(error))")
        }
    }

    private func encode<M: SwiftProtobuf.Message>(_ message: M) throws -> [UInt8] {
        do {
            return try message.serializedBytes()
        } catch {
            throw KServeError(.internalError, "could not serialize \(M.protoMessageName): \(error)")
        }
    }
}
