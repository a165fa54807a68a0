#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KServeProtocol
import SwiftProtobuf

extension InferRequest {
    /// KServe's `InferRequest.from_grpc` plus the servicer's `validate_grpc_request`: a `ModelInferRequest` as an
    /// ``InferRequest`` with ``WireFormat/grpc(rawInputs:)``.
    ///
    /// Inputs carry either typed `contents` or `raw_input_contents`, matched to the inputs by position:
    /// - the number of raw contents must be 0 or equal the number of inputs, and with raw contents no input may
    ///   also set `contents` (KServe's messages);
    /// - FP16 and BF16 can only arrive raw;
    /// - every tensor's element count must match its shape (raw: byte count = elements x size; BYTES: the
    ///   4-byte length-prefixed layout with exactly that many elements).
    ///
    /// Input and request parameters go through KServe's `to_http_parameters`. An empty `id` or `model_version`
    /// becomes `nil`; an empty output list means "all outputs".
    ///
    /// - Parameters:
    ///   - request: the decoded protobuf message.
    ///   - limits: per-tensor size limits (a larger tensor is `payloadTooLarge`).
    /// - Throws: ``KServeError`` `invalidInput` naming the model and tensor for every malformed request.
    public static func fromGRPC(_ request: Inference_ModelInferRequest, limits: DecodingLimits = .default) throws -> InferRequest {
        try fromGRPC(request, raw: request.rawInputContents.map { ArraySlice($0) }, limits: limits)
    }

    /// A serialized `ModelInferRequest` decoded without copying its raw input contents: the message without
    /// them (through SwiftProtobuf: a few hundred bytes), and the contents as slices of `serialized`.
    /// - Throws: ``ModelInferWire/MalformedMessage`` when the bytes are not a valid `ModelInferRequest`.
    public static func decodeGRPC(
        serialized: ArraySlice<UInt8>
    ) throws(ModelInferWire.MalformedMessage) -> (message: Inference_ModelInferRequest, raw: [ArraySlice<UInt8>]) {
        let (rest, raw) = try ModelInferWire.split(serialized, bytesField: ModelInferWire.rawInputContentsField)
        do {
            return (try Inference_ModelInferRequest(serializedBytes: Array(rest)), raw)
        } catch {
            throw ModelInferWire.MalformedMessage(reason: "\(error)")
        }
    }

    /// ``fromGRPC(_:limits:)`` for a message decoded by ``decodeGRPC(serialized:)``: `raw` replaces the
    /// message's own (empty) `raw_input_contents`, and each tensor's data is a slice of it.
    public static func fromGRPC(
        _ request: Inference_ModelInferRequest, raw: [ArraySlice<UInt8>], limits: DecodingLimits = .default
    ) throws -> InferRequest {
        let model = request.modelName
        if !raw.isEmpty && raw.count != request.inputs.count {
            throw KServeError.invalidInput(
                "the number of inputs (\(request.inputs.count)) does not match the expected number of raw input contents (\(raw.count)) for model '\(model)'.")
        }
        var inputs: [InferInput] = []
        inputs.reserveCapacity(request.inputs.count)
        for (i, tensor) in request.inputs.enumerated() {
            if !raw.isEmpty && tensor.hasContents {
                throw KServeError.invalidInput(
                    "contents field must not be specified when using raw_input_contents for input '\(tensor.name)' for model '\(model)'")
            }
            let datatype = try grpcDataType(tensor.datatype, tensor: tensor.name, role: .input)
            let (shape, count) = try grpcElementCount(tensor.shape, tensor: tensor.name, role: .input)
            let data: TensorData
            if raw.isEmpty {
                data = try GRPCTensorCodec.decode(
                    contents: tensor.contents, datatype: datatype, count: count, tensor: tensor.name, role: .input, limits: limits)
            } else {
                data = try GRPCTensorCodec.decode(
                    raw: raw[i], datatype: datatype, count: count, tensor: tensor.name, role: .input, limits: limits)
            }
            inputs.append(InferInput(
                name: tensor.name, shape: shape, datatype: datatype, data: data, parameters: .fromGRPC(tensor.parameters)))
        }
        let outputs = request.outputs.map { RequestedOutput(name: $0.name, parameters: .fromGRPC($0.parameters)) }
        return InferRequest(
            modelName: model, inputs: inputs, id: request.id.isEmpty ? nil : request.id,
            parameters: .fromGRPC(request.parameters), requestOutputs: outputs.isEmpty ? nil : outputs,
            modelVersion: request.modelVersion.isEmpty ? nil : request.modelVersion,
            wireFormat: .grpc(rawInputs: !raw.isEmpty), hasRawInputs: !raw.isEmpty)
    }

    /// KServe's `InferRequest.to_grpc`: this request as a `ModelInferRequest`.
    ///
    /// - Parameter rawInputs: send every input as `raw_input_contents` (the default, as KServe does for array
    ///   data) or as typed `contents`. An FP16 or BF16 input forces raw, since typed contents cannot carry it.
    /// - Throws: ``KServeError`` `invalidInput` for a parameter gRPC cannot carry (`to_grpc: invalid parameter
    ///   value: 1.3`) or an input without data.
    public func toGRPC(rawInputs: Bool = true) throws -> Inference_ModelInferRequest {
        let raw = rawInputs || inputs.contains { $0.datatype == .fp16 || $0.datatype == .bf16 }
        var out = Inference_ModelInferRequest()
        out.modelName = modelName
        out.modelVersion = modelVersion ?? ""
        out.id = id ?? ""
        out.parameters = try parameters.toGRPC()
        for input in inputs {
            guard let data = input.data else { throw KServeError.invalidInput("input '\(input.name)' has no data") }
            var t = Inference_ModelInferRequest.InferInputTensor()
            t.name = input.name
            t.datatype = input.datatype.rawValue
            t.shape = input.shape.map { Int64($0) }
            t.parameters = try input.parameters.toGRPC()
            if raw {
                out.rawInputContents.append(GRPCTensorCodec.rawBytes(data))
            } else {
                t.contents = try GRPCTensorCodec.contents(data, datatype: input.datatype, tensor: input.name, role: .input)
            }
            out.inputs.append(t)
        }
        for requested in requestOutputs ?? [] {
            var o = Inference_ModelInferRequest.InferRequestedOutputTensor()
            o.name = requested.name
            o.parameters = try requested.parameters.toGRPC()
            out.outputs.append(o)
        }
        return out
    }
}
