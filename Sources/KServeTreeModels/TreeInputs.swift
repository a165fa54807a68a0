#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import KServe

/// A floating-point element type a tree predictor consumes: Float for XGBoost, Double for LightGBM.
protocol TreeFeature: BinaryFloatingPoint, Sendable {
    init(int64 value: Int64)
    init(uint64 value: UInt64)
    init(double value: Double)
}

extension Float: TreeFeature {
    init(int64 value: Int64) { self = Float(value) }
    init(uint64 value: UInt64) { self = Float(value) }
    init(double value: Double) { self = Float(value) }
}

extension Double: TreeFeature {
    init(int64 value: Int64) { self = Double(value) }
    init(uint64 value: UInt64) { self = Double(value) }
    init(double value: Double) { self = value }
}

/// Turns request payloads into a row-major feature matrix, as KServe's `get_predict_input` + numpy would.
enum TreeInputs {
    /// The rows of a v1 body (`{"instances": [[...], ...]}` or `{"inputs": ...}`): numbers, JSON `null` = NaN;
    /// with `featureNames`, rows may also be objects keyed by feature name (absent names are NaN).
    static func rows<T: TreeFeature>(
        fromV1 json: JSONValue, numFeatures: Int, featureNames: [String]?, as: T.Type
    ) throws -> (values: [T], rows: Int) {
        guard let instances = json["instances"] ?? json["inputs"] else {
            throw KServeError.invalidInput(#"Expected "instances" or "inputs" in the request body"#)
        }
        guard case .array(let rows) = instances else {
            throw KServeError.invalidInput(#""instances" must be a list of rows"#)
        }
        var out = [T]()
        out.reserveCapacity(rows.count * numFeatures)
        var nameIndex: [String: Int]? = nil
        for (r, row) in rows.enumerated() {
            switch row {
            case .array(let values):
                guard values.count == numFeatures else {
                    throw KServeError.invalidInput(
                        "instance \(r) has \(values.count) features; the model expects \(numFeatures) features per row")
                }
                for (c, v) in values.enumerated() { out.append(try number(v, row: r, column: c)) }
            case .object(let object):
                guard let featureNames else {
                    throw KServeError.invalidInput(
                        "instance \(r) is an object; this model takes rows as lists of \(numFeatures) numbers")
                }
                if nameIndex == nil {
                    var index: [String: Int] = [:]
                    for (i, n) in featureNames.enumerated() { index[n] = i }
                    nameIndex = index
                }
                var rowValues = [T](repeating: .nan, count: numFeatures)
                var known = 0
                for (key, value) in object.members {
                    guard let i = nameIndex?[key] else { continue }
                    rowValues[i] = try number(value, row: r, column: i)
                    known += 1
                }
                if known == 0 && !object.members.isEmpty {
                    let sample = featureNames.prefix(5).joined(separator: ", ")
                    throw KServeError.invalidInput(
                        "instance \(r) names none of the model's features (\(sample)\(featureNames.count > 5 ? ", ..." : ""))")
                }
                out.append(contentsOf: rowValues)
            default:
                throw KServeError.invalidInput(
                    "instance \(r) is not a list of \(numFeatures) numbers")
            }
        }
        return (out, rows.count)
    }

    @inline(__always)
    static func number<T: TreeFeature>(_ v: JSONValue, row: Int, column: Int) throws -> T {
        switch v {
        case .double(let d): return T(double: d)
        case .int(let i): return T(int64: i)
        case .uint(let u): return T(uint64: u)
        case .bigInteger(let digits): return T(double: Double(digits) ?? .nan)
        case .null: return .nan
        case .bool(let b): return b ? 1 : 0
        default:
            throw KServeError.invalidInput("instance \(row), feature \(column): expected a number or null")
        }
    }

    /// The matrix of a v2 request: one input of shape `[n, features]`, or one input per feature (shape `[n]` or
    /// `[n, 1]`, matched to the model's feature names when every input name is one, else taken in order).
    static func rows<T: TreeFeature>(
        fromV2 request: InferRequest, numFeatures: Int, featureNames: [String]?, as: T.Type
    ) throws -> (values: [T], rows: Int) {
        guard !request.inputs.isEmpty else { throw KServeError.invalidInput("the request has no inputs") }
        if request.inputs.count == 1 {
            let input = request.inputs[0]
            guard input.shape.count == 2 else {
                throw KServeError.invalidInput(
                    "input '\(input.name)' has shape \(input.shape); expected [rows, \(numFeatures)]")
            }
            guard input.shape[1] == numFeatures else {
                throw KServeError.invalidInput(
                    "input '\(input.name)' has \(input.shape[1]) features per row; the model expects \(numFeatures)")
            }
            let values: [T] = try elements(input)
            guard input.shape[0] >= 0, values.count == input.shape[0] * numFeatures else {
                throw KServeError.invalidInput(
                    "input '\(input.name)' holds \(values.count) values for shape \(input.shape)")
            }
            return (values, input.shape[0])
        }
        // One column per input.
        guard request.inputs.count == numFeatures else {
            throw KServeError.invalidInput(
                "the request has \(request.inputs.count) inputs; the model expects one input of shape [rows, "
                    + "\(numFeatures)] or \(numFeatures) single-column inputs")
        }
        var order = Array(0..<numFeatures)
        if let featureNames {
            var index: [String: Int] = [:]
            for (i, n) in featureNames.enumerated() { index[n] = i }
            let mapped = request.inputs.map { index[$0.name] }
            if mapped.allSatisfy({ $0 != nil }), Set(mapped.compactMap { $0 }).count == numFeatures {
                order = mapped.compactMap { $0 }
            }
        }
        var columns: [[T]] = []
        var rows = -1
        for input in request.inputs {
            guard input.shape.count == 1 || (input.shape.count == 2 && input.shape[1] == 1) else {
                throw KServeError.invalidInput("input '\(input.name)' has shape \(input.shape); expected [rows] or [rows, 1]")
            }
            let col: [T] = try elements(input)
            if rows >= 0 && col.count != rows {
                throw KServeError.invalidInput("input '\(input.name)' has \(col.count) rows; the others have \(rows)")
            }
            rows = col.count
            columns.append(col)
        }
        var out = [T](repeating: 0, count: rows * numFeatures)
        for (k, col) in columns.enumerated() {
            let f = order[k]
            for r in 0..<rows { out[r * numFeatures + f] = col[r] }
        }
        return (out, rows)
    }

    /// The elements of a numeric input converted to `T` (as numpy's astype would).
    static func elements<T: TreeFeature>(_ input: InferInput) throws -> [T] {
        switch input.datatype {
        case .fp32:
            let v = try input.asArray(of: Float.self)
            return T.self == Float.self ? v as? [T] ?? v.map { T(double: Double($0)) } : v.map { T(double: Double($0)) }
        case .fp64:
            let v = try input.asArray(of: Double.self)
            return T.self == Double.self ? v as? [T] ?? v.map { T(double: $0) } : v.map { T(double: $0) }
        case .fp16: return try input.asArray(of: Float16.self).map { T(double: Double($0)) }
        case .int8: return try input.asArray(of: Int8.self).map { T(int64: Int64($0)) }
        case .int16: return try input.asArray(of: Int16.self).map { T(int64: Int64($0)) }
        case .int32: return try input.asArray(of: Int32.self).map { T(int64: Int64($0)) }
        case .int64: return try input.asArray(of: Int64.self).map { T(int64: $0) }
        case .uint8: return try input.asArray(of: UInt8.self).map { T(uint64: UInt64($0)) }
        case .uint16: return try input.asArray(of: UInt16.self).map { T(uint64: UInt64($0)) }
        case .uint32: return try input.asArray(of: UInt32.self).map { T(uint64: UInt64($0)) }
        case .uint64: return try input.asArray(of: UInt64.self).map { T(uint64: $0) }
        case .bool: return try input.asArray(of: Bool.self).map { $0 ? 1 : 0 }
        default:
            throw KServeError.invalidInput(
                "input '\(input.name)' has datatype \(input.datatype.rawValue); expected FP32 or FP64 (or an integer type)")
        }
    }

    /// A v1 body sent without a JSON content type (`curl -d` posts form-encoded): read it as JSON anyway.
    static func jsonIfBytes(_ payload: Payload, model: String) throws -> Payload {
        guard case .bytes(let bytes, _) = payload else { return payload }
        do {
            return .json(try JSONValue.parse(ArraySlice(bytes)))
        } catch {
            throw KServeError.invalidInput("model \(model) takes a JSON body (v1) or a v2 inference request: \(error)")
        }
    }

    /// A boolean request parameter (v2 `parameters`, or v1 `parameters` object / top-level key).
    static func flag(_ name: String, in payload: Payload) throws -> Bool {
        switch payload {
        case .request(let r):
            guard let v = r.parameters[name] else { return false }
            guard let b = v.boolValue else { throw KServeError.invalidInput("parameter \(name) must be a boolean") }
            return b
        case .json(let j):
            guard let v = j["parameters"]?[name] ?? j[name] else { return false }
            guard case .bool(let b) = v else { throw KServeError.invalidInput("parameter \(name) must be a boolean") }
            return b
        case .bytes:
            return false
        }
    }
}

/// Finds the model file of a `path` option: the file itself, or the one file in the folder whose name ends with
/// one of `extensions` (as xgbserver and lgbserver do).
enum TreeModelFiles {
    static func resolve(_ path: String, extensions: [String], kind: String) throws -> String {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw KServeError(.internalError, "cannot load \(kind) model \(path): \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return path }
        guard let names = DirectoryListing.entries(path) else {
            throw KServeError(.internalError, "cannot list \(kind) model folder \(path): \(String(cString: strerror(errno)))")
        }
        var found: [String] = []
        for name in names {
            guard extensions.contains(where: { name.hasSuffix($0) }) else { continue }
            let full = path.hasSuffix("/") ? path + name : path + "/" + name
            var fst = stat()
            if stat(full, &fst) == 0 && (fst.st_mode & S_IFMT) == S_IFREG { found.append(full) }
        }
        found.sort()
        let pattern = extensions.map { "*" + $0 }.joined(separator: ", ")
        guard !found.isEmpty else {
            throw KServeError(.internalError, "no \(kind) model file (\(pattern)) in folder \(path)")
        }
        guard found.count == 1 else {
            throw KServeError(
                .internalError,
                "more than one \(kind) model file in folder \(path) (\(found.map { String($0.split(separator: "/").last ?? "") }.joined(separator: ", "))); only one is allowed")
        }
        return found[0]
    }
}
