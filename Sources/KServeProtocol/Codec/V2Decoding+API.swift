extension InferRequest {
    /// Decodes a v2 REST JSON request body (the seed's `from_rest` / `from_inference_request`).
    ///
    /// Tensor `data` may be nested (it is flattened) and must hold exactly the shape's element count. Fixed-width
    /// data is stored as raw little-endian bytes; FP32/FP64 values are correctly rounded for their own type, integers
    /// are range-checked for their datatype, BYTES are UTF-8 strings. `model_name` / `model_version` in the body are
    /// ignored in favour of `modelName` (the route's model).
    ///
    /// - Throws: ``KServeError`` `invalidInput` (400) for malformed JSON (with its position), nesting deeper than
    ///   `limits.maxDepth`, a missing or empty `inputs`, duplicate input names, an unknown datatype, a negative or
    ///   overflowing shape, a wrong element count, FP16/BF16 data in JSON or a missing `data`; `payloadTooLarge` (413)
    ///   for a tensor over `limits.maxTensorBytes` / `limits.maxElements`. Messages name the tensor.
    public static func fromJSON(
        _ body: ArraySlice<UInt8>, modelName: String, limits: DecodingLimits = .default
    ) throws -> InferRequest {
        try fromBytes(body, jsonLength: body.count, modelName: modelName, limits: limits)
    }

    /// Decodes a v2 REST request with the binary tensor extension (the seed's `from_bytes`).
    ///
    /// The first `jsonLength` bytes (the `Inference-Header-Content-Length` header) are the JSON document; the raw
    /// data of the inputs that carry `parameters.binary_data_size` follows in order. Those inputs' data are slices of
    /// `body` (no copy), and `binary_data_size` is removed from their parameters. Inputs may also carry JSON `data`.
    ///
    /// - Throws: as ``fromJSON(_:modelName:limits:)``, plus `invalidInput` when `jsonLength` is negative or larger
    ///   than the body, a `binary_data_size` does not match shape × datatype or runs past the body, a BYTES buffer
    ///   does not hold exactly the shape's element count (or a length prefix runs past it), or bytes are left over.
    public static func fromBytes(
        _ body: ArraySlice<UInt8>, jsonLength: Int, modelName: String, limits: DecodingLimits = .default
    ) throws -> InferRequest {
        let doc = try V2Decoder.decode(
            body: body, jsonLength: jsonLength, role: .input, modelName: modelName, limits: limits)
        return InferRequest(
            modelName: modelName,
            inputs: doc.tensors.map {
                InferInput(name: $0.name, shape: $0.shape, datatype: $0.datatype, data: $0.data, parameters: $0.parameters)
            },
            id: doc.id, parameters: doc.parameters, requestOutputs: doc.requestedOutputs, wireFormat: .rest,
            hasRawInputs: doc.hasBinaryTensors)
    }
}

extension InferResponse {
    /// Decodes a v2 REST JSON response (the seed's `from_rest`), e.g. a predictor's reply.
    ///
    /// A missing `id` or `model_name` decodes as an empty string.
    /// - Throws: ``KServeError`` `invalidInput` for a malformed document or tensor (as
    ///   ``InferRequest/fromJSON(_:modelName:limits:)``).
    public static func fromRest(_ json: ArraySlice<UInt8>, limits: DecodingLimits = .default) throws -> InferResponse {
        try fromBytes(json, jsonLength: json.count, limits: limits)
    }

    /// Decodes a v2 REST response with the binary tensor extension (the seed's `from_bytes`); binary outputs are
    /// slices of `body`.
    /// - Throws: as ``InferRequest/fromBytes(_:jsonLength:modelName:limits:)``.
    public static func fromBytes(
        _ body: ArraySlice<UInt8>, jsonLength: Int, limits: DecodingLimits = .default
    ) throws -> InferResponse {
        let doc = try V2Decoder.decode(body: body, jsonLength: jsonLength, role: .output, modelName: nil, limits: limits)
        return InferResponse(
            id: doc.id ?? "", modelName: doc.modelName ?? "",
            outputs: doc.tensors.map {
                InferOutput(name: $0.name, shape: $0.shape, datatype: $0.datatype, data: $0.data, parameters: $0.parameters)
            },
            modelVersion: doc.modelVersion, parameters: doc.parameters)
    }
}
