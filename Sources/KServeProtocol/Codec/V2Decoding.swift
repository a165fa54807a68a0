// Decoding of v2 (Open Inference Protocol) REST documents, shared by requests (`inputs`, `outputs` = requested
// outputs) and responses (`outputs` = tensors), in JSON or with the binary tensor extension.
//
// The document is read with a streaming scanner: a tensor's `data` array is parsed straight into its raw typed
// buffer when `datatype` came before `data` in the tensor object (the usual order); otherwise the array is skipped
// and parsed again, typed, once the object is complete. Binary tensor data is never copied: each tensor is a slice of
// the body.

/// One tensor as decoded, before its binary data (if any) is attached.
struct DecodedTensor {
    var name: String
    var shape: [Int]
    var datatype: DataType
    var parameters: Parameters
    var data: TensorData?
    /// `binary_data_size`, when the data follows the JSON.
    var binaryDataSize: Int?
    /// The shape's element count.
    var elementCount: Int
}

/// A decoded v2 request or response document.
struct DecodedDocument {
    var id: String?
    var modelName: String?
    var modelVersion: String?
    var parameters: Parameters = [:]
    var tensors: [DecodedTensor] = []
    var sawTensors = false
    var requestedOutputs: [RequestedOutput]?
    /// Whether some tensor's data followed the JSON (binary extension).
    var hasBinaryTensors: Bool { tensors.contains { $0.binaryDataSize != nil } }
}

enum V2Decoder {
    /// Decodes a v2 body whose first `jsonLength` bytes are JSON, followed by binary tensor data.
    ///
    /// - Parameters:
    ///   - role: `.input` for requests (tensors under `inputs`), `.output` for responses (under `outputs`).
    ///   - modelName: used in messages (for requests, the model of the route).
    static func decode(
        body: ArraySlice<UInt8>, jsonLength: Int, role: TensorRole, modelName: String?, limits: DecodingLimits
    ) throws -> DecodedDocument {
        guard jsonLength >= 0 else {
            throw KServeError.invalidInput("Inference-Header-Content-Length must not be negative (got \(jsonLength))")
        }
        guard jsonLength <= body.count else {
            throw KServeError.invalidInput(
                "Inference-Header-Content-Length \(jsonLength) is larger than the body (\(body.count) bytes)")
        }
        var document = try body.withUnsafeBytes { raw in
            let text = UnsafeRawBufferPointer(rebasing: raw[0..<jsonLength])
            var scanner = JSONScanner(
                text, maxDepth: limits.maxDepth,
                context: role == .input ? "Unrecognized request format" : "Unrecognized response format")
            var reader = DocumentReader(body: body, role: role, modelName: modelName, limits: limits)
            return try reader.read(&scanner)
        }
        try attachBinaryData(&document, body: body, jsonLength: jsonLength, role: role, limits: limits)
        return document
    }

    /// Attaches the binary tensor data that follows the JSON, in order, as slices of the body.
    private static func attachBinaryData(
        _ document: inout DecodedDocument, body: ArraySlice<UInt8>, jsonLength: Int, role: TensorRole,
        limits: DecodingLimits
    ) throws {
        var offset = jsonLength
        for i in document.tensors.indices {
            guard let size = document.tensors[i].binaryDataSize else { continue }
            let t = document.tensors[i]
            let label = "\(role.rawValue) '\(t.name)'"
            guard size <= limits.maxTensorBytes else {
                throw KServeError(
                    .payloadTooLarge,
                    "\(label): binary_data_size \(size) exceeds the limit of \(limits.maxTensorBytes) bytes per tensor")
            }
            let (end, overflow) = offset.addingReportingOverflow(size)
            guard !overflow, end <= body.count else {
                throw KServeError.invalidInput(
                    "\(label): binary data of \(size) bytes at byte \(offset) runs past the end of the body "
                        + "(\(body.count) bytes)")
            }
            let chunk = body[(body.startIndex + offset)..<(body.startIndex + end)]
            if let elementSize = t.datatype.elementSize {
                // The element count times the size was checked against maxTensorBytes, so it cannot overflow.
                let needed = t.elementCount * elementSize
                guard size == needed else {
                    throw KServeError.invalidInput(
                        "\(label): binary_data_size is \(size) but shape \(describeShape(t.shape)) of "
                            + "\(t.datatype.rawValue) needs \(needed) bytes")
                }
                document.tensors[i].data = .raw(chunk)
            } else {
                document.tensors[i].data = .bytes(
                    try deserializeBytesTensor(chunk, expectedCount: t.elementCount, tensor: label))
            }
            offset = end
        }
        guard offset == body.count else {
            throw KServeError.invalidInput(
                "\(body.count - offset) bytes follow the last binary tensor; the binary_data_size values account "
                    + "for \(offset - jsonLength) of the \(body.count - jsonLength) bytes after the JSON")
        }
    }
}

/// The streaming reader of one document.
private struct DocumentReader {
    let body: ArraySlice<UInt8>
    let role: TensorRole
    let modelName: String?
    let limits: DecodingLimits

    var tensorsKey: String { role == .input ? "inputs" : "outputs" }

    mutating func read(_ s: inout JSONScanner) throws -> DecodedDocument {
        var doc = DecodedDocument()
        guard try s.peek() == UInt8(ascii: "{") else { throw s.syntaxError("expected a JSON object") }
        if try s.beginObject() {
            repeat {
                let key = try s.readKey()
                switch key {
                case "id":
                    doc.id = try s.readOptionalString("'id'")
                case "parameters":
                    doc.parameters = try readParameters(&s, "'parameters'")
                case tensorsKey:
                    let tensors = try readTensors(&s, modelName: role == .input ? modelName : doc.modelName)
                    doc.sawTensors = tensors != nil
                    doc.tensors = tensors ?? []
                case "outputs" where role == .input:
                    doc.requestedOutputs = try readRequestedOutputs(&s)
                case "model_name" where role == .output:
                    doc.modelName = try s.readOptionalString("'model_name'")
                case "model_version" where role == .output:
                    doc.modelVersion = try s.readOptionalString("'model_version'")
                default:
                    try s.skipValue()
                }
            } while try s.nextMember()
        }
        try s.expectEnd()

        guard doc.sawTensors else {
            throw KServeError.invalidInput("\(s.context): '\(tensorsKey)' field is missing")
        }
        if role == .input && doc.tensors.isEmpty {
            throw KServeError.invalidInput("'inputs' must contain at least one input tensor")
        }
        if doc.tensors.count > 1 {
            var seen = Set<String>()
            for t in doc.tensors where !seen.insert(t.name).inserted {
                throw KServeError.invalidInput("duplicate \(role.rawValue) name '\(t.name)'")
            }
        }
        return doc
    }

    /// `parameters`: an object (or null) of name -> value.
    func readParameters(_ s: inout JSONScanner, _ what: String) throws -> Parameters {
        if try s.consumeNull() { return [:] }
        guard try s.peek() == UInt8(ascii: "{") else { throw s.syntaxError("\(what) must be an object") }
        guard case .object(let object) = try s.parseValue() else { return [:] }
        var parameters = Parameters()
        for (key, value) in object.members { parameters[key] = ParameterValue(json: value) }
        return parameters
    }

    /// The tensor list, or nil for `null`.
    func readTensors(_ s: inout JSONScanner, modelName: String?) throws -> [DecodedTensor]? {
        guard try !s.consumeNull() else { return nil }
        guard try s.peek() == UInt8(ascii: "[") else { throw s.syntaxError("'\(tensorsKey)' must be an array") }
        var tensors: [DecodedTensor] = []
        if try s.beginArray() {
            repeat {
                tensors.append(try readTensor(&s, modelName: modelName))
            } while try s.nextElement()
        }
        return tensors
    }

    func readShape(_ s: inout JSONScanner) throws -> [Int] {
        guard try s.peek() == UInt8(ascii: "[") else { throw s.syntaxError("'shape' must be an array of integers") }
        var dims: [Int] = []
        if try s.beginArray() {
            repeat {
                let c = try s.peek()
                guard c == UInt8(ascii: "-") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) else {
                    throw s.syntaxError("'shape' must be an array of integers")
                }
                let number = try s.scanNumber()
                guard number.isInteger, let magnitude = number.integerMagnitude(in: s.text),
                    magnitude <= UInt64(Int.max)
                else {
                    throw KServeError.invalidInput("invalid dimension \(s.literal(number)) in 'shape'")
                }
                dims.append(number.negative ? -Int(magnitude) : Int(magnitude))
            } while try s.nextElement()
        }
        return dims
    }

    func readTensor(_ s: inout JSONScanner, modelName: String?) throws -> DecodedTensor {
        guard try s.peek() == UInt8(ascii: "{") else {
            throw s.syntaxError("each entry of '\(tensorsKey)' must be an object")
        }
        var name: String?
        var shape: [Int]?
        var datatypeName: String?
        var parameters = Parameters()
        var parsedData: (data: TensorData, count: Int)?
        var deferredData: (pos: Int, depth: Int)?
        if try s.beginObject() {
            repeat {
                let key = try s.readKey()
                switch key {
                case "name":
                    name = try s.readOptionalString("'name'")
                case "shape":
                    shape = try readShape(&s)
                case "datatype":
                    datatypeName = try s.readOptionalString("'datatype'")
                case "parameters":
                    parameters = try readParameters(&s, "'parameters'")
                case "data":
                    parsedData = nil
                    deferredData = nil
                    if try s.consumeNull() { break }
                    if let name, let datatypeName, let datatype = DataType(rawValue: datatypeName) {
                        // Fast path: typed parse straight into the tensor's buffer.
                        parsedData = try s.readTensorData(
                            datatype, expectedCount: shape.flatMap(elementCount(of:)), body: body, role: role,
                            name: name, limits: limits)
                    } else {
                        deferredData = (s.pos, s.depth)
                        try s.skipValue()
                    }
                default:
                    try s.skipValue()
                }
            } while try s.nextMember()
        }

        let kind = role.rawValue
        guard let name else { throw KServeError.invalidInput("an \(kind) tensor has no 'name'") }
        let label = "\(kind) '\(name)'"
        guard let datatypeName, let datatype = DataType(rawValue: datatypeName) else {
            throw KServeError.invalidInput("invalid datatype \(datatypeName ?? "None") in the \(kind) '\(name)'")
        }
        guard let shape else { throw KServeError.invalidInput("'shape' field is missing for \(label)") }
        if let d = shape.first(where: { $0 < 0 }) {
            throw KServeError.invalidInput(
                "\(label) has a negative dimension (\(d)) in shape \(describeShape(shape))")
        }
        guard let count = elementCount(of: shape) else {
            throw KServeError.invalidInput("the element count of shape \(describeShape(shape)) of \(label) overflows")
        }
        guard count <= limits.maxElements else {
            throw KServeError(
                .payloadTooLarge, "\(label) has \(count) elements, over the limit of \(limits.maxElements) per tensor")
        }
        if let size = datatype.elementSize {
            let (bytes, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow, bytes <= limits.maxTensorBytes else {
                throw KServeError(
                    .payloadTooLarge,
                    "\(label) with shape \(describeShape(shape)) needs more than the limit of "
                        + "\(limits.maxTensorBytes) bytes per tensor")
            }
        }
        if let deferred = deferredData {
            // `data` came before `datatype` (or `name`): parse it again, typed.
            let (savedPos, savedDepth) = (s.pos, s.depth)
            s.pos = deferred.pos
            s.depth = deferred.depth
            parsedData = try s.readTensorData(
                datatype, expectedCount: count, body: body, role: role, name: name, limits: limits)
            s.pos = savedPos
            s.depth = savedDepth
        }

        var tensor = DecodedTensor(
            name: name, shape: shape, datatype: datatype, parameters: parameters, data: nil, binaryDataSize: nil,
            elementCount: count)
        let binarySize = parameters["binary_data_size"]
        if let parsedData {
            guard binarySize == nil else {
                throw KServeError.invalidInput("\(label) has both 'data' and 'binary_data_size'")
            }
            guard parsedData.count == count else {
                throw KServeError.invalidInput(
                    "\(label) has shape \(describeShape(shape)) (\(count) elements) but 'data' holds "
                        + "\(parsedData.count) elements")
            }
            tensor.data = parsedData.data
        } else if let binarySize {
            let size: Int?
            switch binarySize {
            case .int(let v): size = Int(exactly: v)
            case .double(let v): size = Int(exactly: v)
            default: size = nil
            }
            guard let size, size >= 0 else {
                throw KServeError.invalidInput("'binary_data_size' of \(label) must be a non-negative integer")
            }
            tensor.binaryDataSize = size
            tensor.parameters = parameters.removing("binary_data_size")
        } else {
            throw KServeError.invalidInput(
                "'data' field is missing for \(label) for model '\(modelName ?? "")'")
        }
        return tensor
    }

    func readRequestedOutputs(_ s: inout JSONScanner) throws -> [RequestedOutput]? {
        if try s.consumeNull() { return nil }
        guard try s.peek() == UInt8(ascii: "[") else { throw s.syntaxError("'outputs' must be an array") }
        var outputs: [RequestedOutput] = []
        if try s.beginArray() {
            repeat {
                guard try s.peek() == UInt8(ascii: "{") else {
                    throw s.syntaxError("each entry of 'outputs' must be an object")
                }
                var name: String?
                var parameters = Parameters()
                if try s.beginObject() {
                    repeat {
                        switch try s.readKey() {
                        case "name": name = try s.readOptionalString("'name'")
                        case "parameters": parameters = try readParameters(&s, "'parameters'")
                        default: try s.skipValue()
                        }
                    } while try s.nextMember()
                }
                guard let name else { throw KServeError.invalidInput("a requested output has no 'name'") }
                outputs.append(RequestedOutput(name: name, parameters: parameters))
            } while try s.nextElement()
        }
        return outputs.isEmpty ? nil : outputs
    }
}
