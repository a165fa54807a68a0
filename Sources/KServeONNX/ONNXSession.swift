import CONNXRuntime
import Glibc
import KServeProtocol

/// How an ONNX Runtime session is set up.
public struct ONNXSessionOptions: Sendable, Hashable {
    /// ONNX Runtime's graph optimization levels.
    public enum GraphOptimizationLevel: String, Sendable, Hashable, CaseIterable {
        case disable, basic, extended, all

        var ortValue: Int32 {
            switch self {
            case .disable: return 0
            case .basic: return 1
            case .extended: return 2
            case .all: return 99
            }
        }
    }

    /// Threads inside one operator (default 1: in this server the worker processes are the parallelism). Above 1,
    /// the pool's threads do not spin while idle (`session.intra_op.allow_spinning = 0`).
    public var intraOpThreads: Int
    /// Threads running independent operators at once (default 1, sequential execution).
    public var interOpThreads: Int
    /// Graph rewrites applied at load (default `.all`).
    public var graphOptimizationLevel: GraphOptimizationLevel

    /// Creates options; the defaults suit a prefork pool (one thread per worker process).
    public init(intraOpThreads: Int = 1, interOpThreads: Int = 1, graphOptimizationLevel: GraphOptimizationLevel = .all) {
        self.intraOpThreads = intraOpThreads
        self.interOpThreads = interOpThreads
        self.graphOptimizationLevel = graphOptimizationLevel
    }
}

/// One input or output of an ONNX model, as its file declares it.
public struct ONNXTensorInfo: Sendable, Hashable {
    /// The tensor's name in the graph.
    public let name: String
    /// The Open Inference Protocol datatype (ONNX `string` is BYTES).
    public let datatype: DataType
    /// The declared shape; -1 for a dynamic or symbolic dimension.
    public let shape: [Int]
    /// The ONNX element type number (TensorProto.DataType).
    let elementType: Int32

    /// As reported by `/v2/models/{m}`, `/config` and gRPC ModelMetadata.
    public var metadata: TensorMetadata { TensorMetadata(name: name, datatype: datatype, shape: shape) }

    var shapeText: String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
}

/// An ONNX model loaded in ONNX Runtime: read its signature, run it on ``InferInput``s.
///
/// `run` is safe to call from several threads at once (ONNX Runtime's `Run` is). Fixed-width inputs are handed to
/// ONNX Runtime over their own bytes, with no copy (a binary REST or raw gRPC request's tensor is a slice of the
/// request body); only misaligned or non-canonical BOOL data is copied first.
public final class ONNXSession: @unchecked Sendable {
    // @unchecked: the pointers are set once in init, freed in deinit, and ONNX Runtime's Run is thread-safe.
    /// The model file.
    public let path: String
    /// The model's inputs, in graph order.
    public let inputs: [ONNXTensorInfo]
    /// The model's outputs, in graph order.
    public let outputs: [ONNXTensorInfo]
    /// The options the session was created with.
    public let options: ONNXSessionOptions
    let library: ONNXRuntimeLibrary
    private let session: OpaquePointer
    private let inputNames: [UnsafeMutablePointer<CChar>]
    private let outputNames: [UnsafeMutablePointer<CChar>]

    /// Loads a model file.
    /// - Parameters:
    ///   - path: the `.onnx` file.
    ///   - options: threads and graph optimization.
    /// - Throws: ``KServeError`` (`internalError`) when the library is missing, the file is unreadable, corrupt or
    ///   truncated, or the model has an input or output that is not a tensor of a supported type (e.g. skl2onnx's
    ///   ZipMap output): the message names the file, the tensor and what to do.
    public init(path: String, options: ONNXSessionOptions = ONNXSessionOptions()) throws(KServeError) {
        let library = try ONNXRuntimeLibrary.shared()
        let api = library.api.pointee
        guard options.intraOpThreads >= 0, options.intraOpThreads <= 1024, options.interOpThreads >= 0,
              options.interOpThreads <= 1024
        else {
            throw KServeError(.internalError, "ONNX thread counts must be from 0 to 1024")
        }
        var sessionOptions: OpaquePointer?
        try library.check(api.createSessionOptions?(&sessionOptions), "creating ONNX Runtime session options")
        guard let sessionOptions else { throw KServeError(.internalError, "ONNX Runtime returned no session options") }
        defer { api.releaseSessionOptions?(sessionOptions) }
        try library.check(api.setIntraOpNumThreads?(sessionOptions, Int32(options.intraOpThreads)), "setting intra_op_threads")
        try library.check(api.setInterOpNumThreads?(sessionOptions, Int32(options.interOpThreads)), "setting inter_op_threads")
        try library.check(api.setGraphOptimizationLevel?(sessionOptions, options.graphOptimizationLevel.ortValue),
                          "setting graph_optimization_level")
        if options.intraOpThreads != 1 {
            try library.check(api.addSessionConfigEntry?(sessionOptions, "session.intra_op.allow_spinning", "0"),
                              "turning off thread spinning")
            try library.check(api.addSessionConfigEntry?(sessionOptions, "session.inter_op.allow_spinning", "0"),
                              "turning off thread spinning")
        }
        var created: OpaquePointer?
        try library.check(api.createSession?(library.env, path, sessionOptions, &created), "cannot load ONNX model \(path)")
        guard let created else { throw KServeError(.internalError, "cannot load ONNX model \(path): no session") }
        do {
            let ins = try Self.signature(library, created, path: path, outputs: false)
            let outs = try Self.signature(library, created, path: path, outputs: true)
            self.inputs = ins
            self.outputs = outs
        } catch {
            api.releaseSession?(created)
            throw error
        }
        self.session = created
        self.path = path
        self.options = options
        self.library = library
        self.inputNames = inputs.map { strdup($0.name) }
        self.outputNames = outputs.map { strdup($0.name) }
    }

    deinit {
        library.api.pointee.releaseSession?(session)
        inputNames.forEach { free($0) }
        outputNames.forEach { free($0) }
    }

    /// The library version serving this session.
    public var runtimeVersion: String { library.version }

    /// The input named `name`, if the model has one.
    public func input(named name: String) -> ONNXTensorInfo? { inputs.first { $0.name == name } }
    /// The output named `name`, if the model has one.
    public func output(named name: String) -> ONNXTensorInfo? { outputs.first { $0.name == name } }

    private static func signature(_ library: ONNXRuntimeLibrary, _ session: OpaquePointer, path: String, outputs: Bool) throws(KServeError) -> [ONNXTensorInfo] {
        let api = library.api.pointee
        let side = outputs ? "output" : "input"
        var count = 0
        try library.check(outputs ? api.sessionGetOutputCount?(session, &count) : api.sessionGetInputCount?(session, &count),
                          "reading the \(side) count of \(path)")
        var result: [ONNXTensorInfo] = []
        for i in 0..<count {
            var rawName: UnsafeMutablePointer<CChar>?
            try library.check(outputs ? api.sessionGetOutputName?(session, i, library.allocator, &rawName)
                                      : api.sessionGetInputName?(session, i, library.allocator, &rawName),
                              "reading the name of \(side) \(i) of \(path)")
            let name = rawName.map { cString(UnsafePointer($0)) } ?? "\(side)-\(i)"
            if let rawName { _ = api.allocatorFree?(library.allocator, rawName) }
            var typeInfo: OpaquePointer?
            try library.check(outputs ? api.sessionGetOutputTypeInfo?(session, i, &typeInfo)
                                      : api.sessionGetInputTypeInfo?(session, i, &typeInfo),
                              "reading the type of \(side) '\(name)' of \(path)")
            guard let typeInfo else { throw KServeError(.internalError, "no type for \(side) '\(name)' of \(path)") }
            defer { api.releaseTypeInfo?(typeInfo) }
            var onnxType: Int32 = 0
            try library.check(api.getOnnxTypeFromTypeInfo?(typeInfo, &onnxType), "reading the type of \(side) '\(name)'")
            guard onnxType == Int32(KS_ORT_TYPE_TENSOR) else {
                let what = onnxType == Int32(KS_ORT_TYPE_SEQUENCE) ? "a sequence" : onnxType == Int32(KS_ORT_TYPE_MAP) ? "a map" : "not a tensor"
                var advice = "only tensor inputs and outputs can be served"
                if outputs && onnxType == Int32(KS_ORT_TYPE_SEQUENCE) {
                    advice = "this is usually skl2onnx's ZipMap (a sequence of maps of class probabilities): convert "
                        + "the classifier again with options={id(model): {\"zipmap\": False}} (or \"zipmap\": False for "
                        + "every classifier in a pipeline) to get a probabilities tensor"
                }
                throw KServeError(.internalError, "cannot serve ONNX model \(path): \(side) '\(name)' is \(what), not a tensor; \(advice)")
            }
            var tensorInfo: OpaquePointer?
            try library.check(api.castTypeInfoToTensorInfo?(typeInfo, &tensorInfo), "reading the tensor type of \(side) '\(name)'")
            guard let tensorInfo else { throw KServeError(.internalError, "no tensor type for \(side) '\(name)' of \(path)") }
            var elementType: Int32 = 0
            try library.check(api.getTensorElementType?(tensorInfo, &elementType), "reading the element type of \(side) '\(name)'")
            guard let datatype = ONNXElementType.dataType(elementType) else {
                throw KServeError(
                    .internalError,
                    "cannot serve ONNX model \(path): \(side) '\(name)' has element type \(ONNXElementType.name(elementType)), which has no KServe datatype (supported: \(ONNXElementType.supportedNames))")
            }
            var rank = 0
            try library.check(api.getDimensionsCount?(tensorInfo, &rank), "reading the rank of \(side) '\(name)'")
            var dims = [Int64](repeating: 0, count: rank)
            if rank > 0 {
                try library.check(api.getDimensions?(tensorInfo, &dims, rank), "reading the shape of \(side) '\(name)'")
            }
            result.append(ONNXTensorInfo(name: name, datatype: datatype, shape: dims.map { $0 < 0 ? -1 : Int($0) }, elementType: elementType))
        }
        return result
    }

    /// Runs the model.
    /// - Parameters:
    ///   - inputs: every model input, by name, with data (fixed-width data as raw little-endian bytes).
    ///   - requested: the outputs to compute, in the order to return them; `nil` computes and returns all of them.
    ///     Only the requested outputs are computed.
    /// - Returns: the outputs, each with its datatype, shape and data.
    /// - Throws: ``KServeError`` `invalidInput` (400) naming the input and saying what was expected and what came
    ///   (unknown or missing input, wrong datatype or rank, a dimension that breaks a fixed one, a data size that
    ///   does not match the shape, an unknown output); `inferenceError` (500) with ONNX Runtime's own message when
    ///   the run itself fails.
    public func run(_ inputs: [InferInput], outputs requested: [String]? = nil) throws(KServeError) -> [InferOutput] {
        let prepared = try validate(inputs)
        let outputIndices: [Int]
        if let requested {
            outputIndices = try requested.map { name throws(KServeError) in
                guard let i = outputs.firstIndex(where: { $0.name == name }) else {
                    throw KServeError.invalidInput(
                        "unknown output '\(name)'; the model's outputs are: \(outputs.map(\.name).joined(separator: ", "))")
                }
                return i
            }
        } else {
            outputIndices = Array(outputs.indices)
        }
        var values = [OpaquePointer?](repeating: nil, count: prepared.count)
        defer { for v in values { if let v { library.api.pointee.releaseValue?(v) } } }
        let results: [OpaquePointer?]
        do {
            results = try withInputValues(prepared, from: 0, into: &values) { (ready: [OpaquePointer?]) throws(KServeError) -> [OpaquePointer?] in
                try self.runSession(ready, outputIndices: outputIndices)
            }
        }
        defer { for r in results { if let r { library.api.pointee.releaseValue?(r) } } }
        var answer: [InferOutput] = []
        answer.reserveCapacity(outputIndices.count)
        for (slot, i) in outputIndices.enumerated() {
            guard let value = results[slot] else {
                throw KServeError.inferenceError("ONNX Runtime returned no value for output '\(outputs[i].name)'")
            }
            answer.append(try readOutput(value, info: outputs[i]))
        }
        return answer
    }

    /// Runs the model and returns one output as a typed array (the seed's `as_numpy` on the result).
    /// - Throws: as ``run(_:outputs:)``, and `invalidInput` when `T` is not the output's datatype.
    public func run<T: TensorElement>(_ inputs: [InferInput], output: String, as type: T.Type) throws(KServeError) -> [T] {
        guard let out = try run(inputs, outputs: [output]).first else {
            throw KServeError.inferenceError("ONNX Runtime returned no value for output '\(output)'")
        }
        do { return try out.asArray(of: T.self) } catch let e as KServeError { throw e } catch {
            throw KServeError.inferenceError("\(error)")
        }
    }

    // MARK: - Inputs

    /// One checked input, in the model's input order.
    private struct Prepared {
        let info: ONNXTensorInfo
        let shape: [Int64]
        let data: TensorData
    }

    private func validate(_ given: [InferInput]) throws(KServeError) -> [Prepared] {
        var byName: [String: InferInput] = [:]
        for input in given {
            guard self.inputs.contains(where: { $0.name == input.name }) else {
                throw KServeError.invalidInput(
                    "unknown input '\(input.name)'; the model's inputs are: "
                        + self.inputs.map { "\($0.name) (\($0.datatype.rawValue) \($0.shapeText))" }.joined(separator: ", "))
            }
            guard byName.updateValue(input, forKey: input.name) == nil else {
                throw KServeError.invalidInput("input '\(input.name)' is given more than once")
            }
        }
        var prepared: [Prepared] = []
        prepared.reserveCapacity(self.inputs.count)
        for info in self.inputs {
            guard let input = byName[info.name] else {
                throw KServeError.invalidInput(
                    "missing input '\(info.name)': the model expects \(info.datatype.rawValue) \(info.shapeText)")
            }
            guard input.datatype == info.datatype else {
                throw KServeError.invalidInput(
                    "input '\(info.name)': expected datatype \(info.datatype.rawValue), got \(input.datatype.rawValue)")
            }
            guard input.shape.count == info.shape.count else {
                throw KServeError.invalidInput(
                    "input '\(info.name)': expected rank \(info.shape.count) (shape \(info.shapeText)), got shape \(shapeText(input.shape)) of rank \(input.shape.count)")
            }
            for (axis, (want, got)) in zip(info.shape, input.shape).enumerated() {
                guard got >= 0 else {
                    throw KServeError.invalidInput("input '\(info.name)': dimension \(axis) is negative (\(got))")
                }
                if want >= 0 && want != got {
                    throw KServeError.invalidInput(
                        "input '\(info.name)': dimension \(axis) must be \(want) (shape \(info.shapeText)), got \(got) (shape \(shapeText(input.shape)))")
                }
            }
            guard let count = elementCount(of: input.shape) else {
                throw KServeError.invalidInput("input '\(info.name)': shape \(shapeText(input.shape)) is too large")
            }
            guard let data = input.data else {
                throw KServeError.invalidInput("input '\(info.name)' has no data")
            }
            switch data {
            case .raw(let raw):
                guard let size = info.datatype.elementSize else {
                    throw KServeError.invalidInput("input '\(info.name)': BYTES data must be a list of elements")
                }
                guard raw.count == count * size else {
                    throw KServeError.invalidInput(
                        "input '\(info.name)': shape \(shapeText(input.shape)) needs \(count) elements (\(count * size) bytes of \(info.datatype.rawValue)), got \(raw.count) bytes")
                }
            case .bytes(let elements):
                guard info.datatype == .bytes else {
                    throw KServeError.invalidInput("input '\(info.name)': expected \(info.datatype.rawValue) data, got BYTES elements")
                }
                guard elements.count == count else {
                    throw KServeError.invalidInput(
                        "input '\(info.name)': shape \(shapeText(input.shape)) needs \(count) elements, got \(elements.count)")
                }
                if let bad = elements.firstIndex(where: { $0.contains(0) }) {
                    throw KServeError.invalidInput(
                        "input '\(info.name)': element \(bad) contains a NUL byte, which ONNX Runtime string tensors cannot hold")
                }
            }
            prepared.append(Prepared(info: info, shape: input.shape.map(Int64.init), data: data))
        }
        return prepared
    }

    /// Creates the `OrtValue` of input `index` (and of every later one, recursively, so that every borrowed buffer
    /// stays valid), then runs `body` with all of them in `values`.
    private func withInputValues<R>(
        _ prepared: [Prepared], from index: Int, into values: inout [OpaquePointer?],
        _ body: ([OpaquePointer?]) throws(KServeError) -> R
    ) throws(KServeError) -> R {
        guard index < prepared.count else { return try body(values) }
        let p = prepared[index]
        let api = library.api.pointee
        switch p.data {
        case .bytes(let elements):
            var value: OpaquePointer?
            try library.check(api.createTensorAsOrtValue?(library.allocator, p.shape, p.shape.count, p.info.elementType, &value),
                              "creating string tensor '\(p.info.name)'")
            values[index] = value
            let cStrings: [UnsafeMutablePointer<CChar>?] = elements.map { e in
                let s = UnsafeMutablePointer<CChar>.allocate(capacity: e.count + 1)
                e.withUnsafeBytes { UnsafeMutableRawPointer(s).copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(s), byteCount: $0.count) }
                s[e.count] = 0
                return s
            }
            defer { cStrings.forEach { $0?.deallocate() } }
            let constStrings: [UnsafePointer<CChar>?] = cStrings.map { $0.map { UnsafePointer($0) } }
            try library.check(api.fillStringTensor?(value, constStrings, constStrings.count),
                              "filling string tensor '\(p.info.name)'")
            return try withInputValues(prepared, from: index + 1, into: &values, body)
        case .raw(let raw):
            let size = p.info.datatype.elementSize ?? 1
            let needsCopy: Bool = raw.withUnsafeBytes { buf in
                if let base = buf.baseAddress, Int(bitPattern: base) % size != 0 { return true }
                return p.info.datatype == .bool && buf.contains { $0 > 1 }
            }
            // Misaligned (a binary body's tensor can start anywhere) or BOOL bytes other than 0/1: one normalised
            // copy. Otherwise the request's own bytes are lent to ONNX Runtime, which only reads an input tensor:
            // through a read-only borrow, since a mutable one of storage the request shares would copy it.
            var source = raw
            if needsCopy {
                var copy = Array(raw)
                if p.info.datatype == .bool { for i in copy.indices where copy[i] > 1 { copy[i] = 1 } }
                source = copy[...]
            }
            let result = source.withUnsafeBytes { buf -> Result<R, KServeError> in
                do throws(KServeError) {
                    values[index] = try wrap(UnsafeMutableRawBufferPointer(mutating: buf), p)
                    return .success(try withInputValues(prepared, from: index + 1, into: &values, body))
                } catch {
                    return .failure(error)
                }
            }
            return try result.get()
        }
    }

    private func wrap(_ buffer: UnsafeMutableRawBufferPointer, _ p: Prepared) throws(KServeError) -> OpaquePointer? {
        var value: OpaquePointer?
        // A zero-element tensor may have no storage; ONNX Runtime still wants a non-NULL pointer.
        var empty: UInt64 = 0
        let status = withUnsafeMutableBytes(of: &empty) { fallback in
            library.api.pointee.createTensorWithDataAsOrtValue?(
                library.cpuMemory, buffer.baseAddress ?? fallback.baseAddress, buffer.count, p.shape, p.shape.count,
                p.info.elementType, &value)
        }
        try library.check(status, "wrapping input '\(p.info.name)'", code: .invalidInput)
        return value
    }

    private func runSession(_ values: [OpaquePointer?], outputIndices: [Int]) throws(KServeError) -> [OpaquePointer?] {
        var results = [OpaquePointer?](repeating: nil, count: outputIndices.count)
        let names: [UnsafePointer<CChar>?] = inputNames.map { UnsafePointer($0) }
        let wanted: [UnsafePointer<CChar>?] = outputIndices.map { UnsafePointer(outputNames[$0]) }
        let status = library.api.pointee.run?(session, nil, names, values, values.count, wanted, wanted.count, &results)
        if let status {
            let message = library.api.pointee.getErrorMessage.map { cString($0(status)) } ?? "unknown error"
            library.api.pointee.releaseStatus?(status)
            for r in results { if let r { library.api.pointee.releaseValue?(r) } }
            throw KServeError.inferenceError("ONNX Runtime failed to run the model: \(message)")
        }
        return results
    }

    // MARK: - Outputs

    private func readOutput(_ value: OpaquePointer, info: ONNXTensorInfo) throws(KServeError) -> InferOutput {
        let api = library.api.pointee
        var shapeInfo: OpaquePointer?
        try library.check(api.getTensorTypeAndShape?(value, &shapeInfo), "reading output '\(info.name)'", code: .inferenceError)
        guard let shapeInfo else { throw KServeError.inferenceError("output '\(info.name)' has no shape") }
        defer { api.releaseTensorInfo?(shapeInfo) }
        var elementType: Int32 = 0
        try library.check(api.getTensorElementType?(shapeInfo, &elementType), "reading output '\(info.name)'", code: .inferenceError)
        var rank = 0
        try library.check(api.getDimensionsCount?(shapeInfo, &rank), "reading output '\(info.name)'", code: .inferenceError)
        var dims = [Int64](repeating: 0, count: rank)
        if rank > 0 { try library.check(api.getDimensions?(shapeInfo, &dims, rank), "reading output '\(info.name)'", code: .inferenceError) }
        let shape = dims.map { Int($0) }
        guard let datatype = ONNXElementType.dataType(elementType), let count = elementCount(of: shape) else {
            throw KServeError.inferenceError("output '\(info.name)' has an unsupported type or shape")
        }
        if datatype == .bytes {
            var total = 0
            try library.check(api.getStringTensorDataLength?(value, &total), "reading output '\(info.name)'", code: .inferenceError)
            var bytes = [UInt8](repeating: 0, count: total)
            var offsets = [Int](repeating: 0, count: count)
            if count > 0 && total > 0 {
                let status = bytes.withUnsafeMutableBytes { b in
                    api.getStringTensorContent?(value, b.baseAddress, total, &offsets, count)
                }
                try library.check(status, "reading output '\(info.name)'", code: .inferenceError)
            }
            var elements: [ArraySlice<UInt8>] = []
            elements.reserveCapacity(count)
            for i in 0..<count {
                let start = offsets[i], end = i + 1 < count ? offsets[i + 1] : total
                guard start <= end, end <= total else { throw KServeError.inferenceError("output '\(info.name)': bad string offsets") }
                elements.append(bytes[start..<end])
            }
            return InferOutput(name: info.name, shape: shape, datatype: .bytes, data: .bytes(elements))
        }
        let byteCount = count * (datatype.elementSize ?? 1)
        var pointer: UnsafeMutableRawPointer?
        try library.check(api.getTensorMutableData?(value, &pointer), "reading output '\(info.name)'", code: .inferenceError)
        let raw: [UInt8]
        if byteCount == 0 {
            raw = []
        } else if let pointer {
            raw = Array(UnsafeRawBufferPointer(start: pointer, count: byteCount))
        } else {
            throw KServeError.inferenceError("output '\(info.name)' has no data")
        }
        return InferOutput(name: info.name, shape: shape, datatype: datatype, data: .raw(raw[...]))
    }
}

func shapeText(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }

/// ONNX element types (TensorProto.DataType) and their KServe datatypes.
enum ONNXElementType {
    static let table: [(Int32, DataType)] = [
        (1, .fp32), (2, .uint8), (3, .int8), (4, .uint16), (5, .int16), (6, .int32), (7, .int64), (8, .bytes),
        (9, .bool), (10, .fp16), (11, .fp64), (12, .uint32), (13, .uint64), (16, .bf16),
    ]

    static func dataType(_ type: Int32) -> DataType? { table.first { $0.0 == type }?.1 }

    static func name(_ type: Int32) -> String {
        switch type {
        case 14: return "complex64"
        case 15: return "complex128"
        case 17: return "float8e4m3fn"
        case 18: return "float8e4m3fnuz"
        case 19: return "float8e5m2"
        case 20: return "float8e5m2fnuz"
        case 21: return "uint4"
        case 22: return "int4"
        case 23: return "float4e2m1"
        default: return "\(type)"
        }
    }

    static var supportedNames: String { table.map { $0.1.rawValue }.joined(separator: ", ") }
}
