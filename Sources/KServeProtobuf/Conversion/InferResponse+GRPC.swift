#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KServeProtocol
import SwiftProtobuf

extension InferResponse {
    /// KServe's `InferResponse.to_grpc`: this response as a `ModelInferResponse`.
    ///
    /// - When ``requestedOutputs`` is set, only those outputs are returned, in the order asked for (as REST does);
    ///   an unknown name is `invalidInput` `Unexpected inference output 'x' for model 'm'`.
    /// - Outputs go to `raw_output_contents` when `rawOutputs` is true (the inputs were raw) or when any returned
    ///   output is FP16 or BF16 (typed contents cannot carry them), each with the parameter `binary_data_size`
    ///   as KServe sets it; otherwise to typed `contents` per KServe's datatype table.
    /// - Parameters go through KServe's `to_grpc_parameters`.
    ///
    /// - Parameter rawOutputs: whether the request's inputs were raw (``InferRequest/useBinaryOutputs`` for gRPC).
    /// - Throws: ``KServeError`` `invalidInput` for an unknown requested output or a parameter gRPC cannot carry
    ///   (`to_grpc: invalid parameter value: 1.3`); `internalError` for an output whose data does not match its
    ///   shape and datatype.
    public func toGRPC(rawOutputs: Bool) throws -> Inference_ModelInferResponse {
        var (message, raw) = try grpcMessage(rawOutputs: rawOutputs)
        message.rawOutputContents = raw.map { Data($0) }
        return message
    }

    /// ``toGRPC(rawOutputs:)`` serialized, as parts to write in order: the message without its raw output
    /// contents (SwiftProtobuf), then each raw output's field header and the output's own bytes, not copied.
    /// `raw_output_contents` is the message's last field, so the joined parts are byte for byte SwiftProtobuf's
    /// serialization of ``toGRPC(rawOutputs:)``.
    public func serializedGRPC(rawOutputs: Bool) throws -> [ArraySlice<UInt8>] {
        let (message, raw) = try grpcMessage(rawOutputs: rawOutputs)
        let head: [UInt8] = try message.serializedBytes()
        var parts: [ArraySlice<UInt8>] = [head[...]]
        parts.reserveCapacity(1 + 2 * raw.count)
        for bytes in raw {
            parts.append(ModelInferWire.fieldHeader(ModelInferWire.rawOutputContentsField, length: bytes.count)[...])
            parts.append(bytes)
        }
        return parts
    }

    /// The message without raw contents, and the raw contents (slices of the outputs' data where possible).
    private func grpcMessage(rawOutputs: Bool) throws -> (Inference_ModelInferResponse, [ArraySlice<UInt8>]) {
        var rawContents: [ArraySlice<UInt8>] = []
        let selected = try selectedOutputs()
        let raw = rawOutputs || selected.contains { $0.datatype == .fp16 || $0.datatype == .bf16 }
        var out = Inference_ModelInferResponse()
        out.modelName = modelName
        out.modelVersion = modelVersion ?? ""
        out.id = id
        out.parameters = try parameters.toGRPC()
        out.outputs.reserveCapacity(selected.count)
        for output in selected {
            let data = try checkedData(output)
            var t = Inference_ModelInferResponse.InferOutputTensor()
            t.name = output.name
            t.datatype = output.datatype.rawValue
            t.shape = output.shape.map { Int64($0) }
            var parameters = output.parameters
            if raw {
                let bytes = GRPCTensorCodec.rawSlice(data)
                parameters["binary_data_size"] = .int(Int64(bytes.count))
                rawContents.append(bytes)
            } else {
                t.contents = try GRPCTensorCodec.contents(data, datatype: output.datatype, tensor: output.name, role: .output)
            }
            t.parameters = try parameters.toGRPC()
            out.outputs.append(t)
        }
        return (out, rawContents)
    }

    /// KServe's `InferResponse.from_grpc`: a `ModelInferResponse` as an ``InferResponse``.
    ///
    /// Raw output contents are matched to the outputs by position (their number must be 0 or equal the number of
    /// outputs); ``useBinaryOutputs`` tells whether they were raw. `binary_data_size` is dropped from the output
    /// parameters once the data is attached.
    /// - Throws: ``KServeError`` `invalidInput` for a malformed response (the same checks as ``InferRequest/fromGRPC(_:limits:)``).
    public static func fromGRPC(_ response: Inference_ModelInferResponse, limits: DecodingLimits = .default) throws -> InferResponse {
        let raw = response.rawOutputContents
        if !raw.isEmpty && raw.count != response.outputs.count {
            throw KServeError.invalidInput(
                "the number of outputs (\(response.outputs.count)) does not match the number of raw output contents (\(raw.count)) from model '\(response.modelName)'.")
        }
        var outputs: [InferOutput] = []
        outputs.reserveCapacity(response.outputs.count)
        for (i, tensor) in response.outputs.enumerated() {
            let datatype = try grpcDataType(tensor.datatype, tensor: tensor.name, role: .output)
            let (shape, count) = try grpcElementCount(tensor.shape, tensor: tensor.name, role: .output)
            let data: TensorData
            if raw.isEmpty {
                data = try GRPCTensorCodec.decode(
                    contents: tensor.contents, datatype: datatype, count: count, tensor: tensor.name, role: .output, limits: limits)
            } else {
                data = try GRPCTensorCodec.decode(
                    raw: raw[i], datatype: datatype, count: count, tensor: tensor.name, role: .output, limits: limits)
            }
            var parameters = OrderedParameters.fromGRPC(tensor.parameters)
            if !raw.isEmpty { parameters["binary_data_size"] = nil }
            outputs.append(InferOutput(name: tensor.name, shape: shape, datatype: datatype, data: data, parameters: parameters))
        }
        return InferResponse(
            id: response.id, modelName: response.modelName, outputs: outputs,
            modelVersion: response.modelVersion.isEmpty ? nil : response.modelVersion,
            parameters: .fromGRPC(response.parameters), useBinaryOutputs: !raw.isEmpty)
    }

    /// The outputs to return: the requested ones in request order, or all.
    private func selectedOutputs() throws -> [InferOutput] {
        guard let requested = requestedOutputs, !requested.isEmpty else { return outputs }
        return try requested.map { r in
            guard let o = output(named: r.name) else {
                throw KServeError.invalidInput("Unexpected inference output '\(r.name)' for model '\(modelName)'")
            }
            return o
        }
    }

    /// An output's data, checked against its shape and datatype (a model bug is `internalError`).
    private func checkedData(_ output: InferOutput) throws -> TensorData {
        let count = elementCount(of: output.shape)
        guard let data = output.data else {
            if count == 0 { return output.datatype == .bytes ? .bytes([]) : .raw([]) }
            throw KServeError(.internalError, "output '\(output.name)' of model '\(modelName)' has no data")
        }
        switch (data, output.datatype.elementSize) {
        case (.raw(let r), let size?):
            guard let count, r.count == count * size else {
                throw KServeError(.internalError,
                    "output '\(output.name)' of model '\(modelName)' holds \(r.count) bytes, which does not match shape \(output.shape) of \(output.datatype.rawValue)")
            }
        case (.bytes(let e), nil):
            guard e.count == count else {
                throw KServeError(.internalError,
                    "output '\(output.name)' of model '\(modelName)' holds \(e.count) BYTES elements, which does not match shape \(output.shape)")
            }
        default:
            throw KServeError(.internalError,
                "output '\(output.name)' of model '\(modelName)' holds data of the wrong kind for datatype \(output.datatype.rawValue)")
        }
        return data
    }
}
