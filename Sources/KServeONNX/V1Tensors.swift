import KServeProtocol

/// v1 `instances` to a tensor of a model input's datatype, and an output tensor back to nested lists.
enum V1Tensors {
    /// The tensor for `instances`: its shape is the nesting of the lists (rows first), its datatype the input's.
    /// - Throws: ``KServeError`` `invalidInput` for ragged lists or values that do not fit the datatype.
    static func input(from instances: JSONValue, info: ONNXTensorInfo) throws(KServeError) -> InferInput {
        var shape: [Int] = []
        var probe = instances
        while case .array(let items) = probe {
            shape.append(items.count)
            guard let first = items.first else { break }
            probe = first
        }
        var leaves: [JSONValue] = []
        leaves.reserveCapacity(elementCount(of: shape) ?? 0)
        try flatten(instances, depth: 0, shape: shape, into: &leaves, input: info.name)
        let data = try encode(leaves, as: info.datatype, input: info.name)
        return InferInput(name: info.name, shape: shape, datatype: info.datatype, data: data)
    }

    private static func flatten(_ value: JSONValue, depth: Int, shape: [Int], into leaves: inout [JSONValue], input: String) throws(KServeError) {
        if depth == shape.count {
            if case .array = value {
                throw KServeError.invalidInput("input '\(input)': instances are ragged (nested deeper than the first row)")
            }
            leaves.append(value)
            return
        }
        guard case .array(let items) = value, items.count == shape[depth] else {
            throw KServeError.invalidInput(
                "input '\(input)': instances are ragged: every list at depth \(depth) must have \(shape[depth]) elements, as the first one does")
        }
        for item in items { try flatten(item, depth: depth + 1, shape: shape, into: &leaves, input: input) }
    }

    private static func encode(_ leaves: [JSONValue], as type: DataType, input: String) throws(KServeError) -> TensorData {
        func bad(_ i: Int, _ v: JSONValue) -> KServeError {
            KServeError.invalidInput("input '\(input)': element \(i) (\(v)) is not a valid \(type.rawValue) value")
        }
        func double(_ i: Int, _ v: JSONValue) throws(KServeError) -> Double {
            switch v {
            case .double(let d): return d
            case .int(let n): return Double(n)
            case .uint(let n): return Double(n)
            case .null: return .nan
            default: throw bad(i, v)
            }
        }
        func integer<T: FixedWidthInteger>(_ i: Int, _ v: JSONValue, _: T.Type) throws(KServeError) -> T {
            switch v {
            case .int(let n): if let x = T(exactly: n) { return x }
            case .uint(let n): if let x = T(exactly: n) { return x }
            case .double(let d): if let x = T(exactly: d) { return x }
            case .bool(let b): return b ? 1 : 0
            default: break
            }
            throw bad(i, v)
        }
        switch type {
        case .fp32: return .from(try leaves.enumerated().map { (i, v) throws(KServeError) in Float(try double(i, v)) })
        case .fp64: return .from(try leaves.enumerated().map { (i, v) throws(KServeError) in try double(i, v) })
        case .fp16: return .from(try leaves.enumerated().map { (i, v) throws(KServeError) in Float16(try double(i, v)) })
        case .int8: return .from(try leaves.enumerated().map { (i, v) throws(KServeError) in try integer(i, v, Int8.self) })
        case .int16: return .from(try leaves.enumerated().map { (i, v) throws(KServeError) in try integer(i, v, Int16.self) })
        case .int32: return .from(try leaves.enumerated().map { (i, v) throws(KServeError) in try integer(i, v, Int32.self) })
        case .int64: return .from(try leaves.enumerated().map { (i, v) throws(KServeError) in try integer(i, v, Int64.self) })
        case .uint8: return .from(try leaves.enumerated().map { (i, v) throws(KServeError) in try integer(i, v, UInt8.self) })
        case .uint16: return .from(try leaves.enumerated().map { (i, v) throws(KServeError) in try integer(i, v, UInt16.self) })
        case .uint32: return .from(try leaves.enumerated().map { (i, v) throws(KServeError) in try integer(i, v, UInt32.self) })
        case .uint64: return .from(try leaves.enumerated().map { (i, v) throws(KServeError) in try integer(i, v, UInt64.self) })
        case .bool:
            return .from(try leaves.enumerated().map { (i, v) throws(KServeError) -> Bool in
                if case .bool(let b) = v { return b }
                return try integer(i, v, UInt8.self) != 0
            })
        case .bytes:
            return .bytes(try leaves.enumerated().map { (i, v) throws(KServeError) -> ArraySlice<UInt8> in
                guard case .string(let s) = v else { throw bad(i, v) }
                return ArraySlice(s.utf8)
            })
        case .bf16:
            throw KServeError.invalidInput("input '\(input)' is BF16, which JSON cannot carry: send a v2 binary request")
        }
    }

    /// The output as nested lists following its shape (numpy's `tolist()`): FP32 values widened to double, as
    /// KServe's v1 answers them.
    static func nestedList(_ output: InferOutput) throws(KServeError) -> JSONValue {
        let flat = try values(output)
        guard output.shape.count > 1 else { return .array(flat) }
        func build(_ axis: Int, _ offset: Int, _ stride: Int) -> JSONValue {
            let n = output.shape[axis]
            let inner = stride / max(n, 1)
            if axis == output.shape.count - 1 { return .array(Array(flat[offset..<offset + n])) }
            return .array((0..<n).map { build(axis + 1, offset + $0 * inner, inner) })
        }
        return build(0, 0, flat.count)
    }

    private static func values(_ output: InferOutput) throws(KServeError) -> [JSONValue] {
        guard let data = output.data else { return [] }
        func typed<T: TensorElement>(_: T.Type, _ f: (T) -> JSONValue) throws(KServeError) -> [JSONValue] {
            do { return try data.values(as: T.self).map(f) } catch let e as KServeError { throw e } catch {
                throw KServeError.inferenceError("\(error)")
            }
        }
        switch output.datatype {
        case .fp32: return try typed(Float.self) { .double(Double($0)) }
        case .fp64: return try typed(Double.self) { .double($0) }
        case .fp16: return try typed(Float16.self) { .double(Double($0)) }
        case .int8: return try typed(Int8.self) { .int(Int64($0)) }
        case .int16: return try typed(Int16.self) { .int(Int64($0)) }
        case .int32: return try typed(Int32.self) { .int(Int64($0)) }
        case .int64: return try typed(Int64.self) { .int($0) }
        case .uint8: return try typed(UInt8.self) { .int(Int64($0)) }
        case .uint16: return try typed(UInt16.self) { .int(Int64($0)) }
        case .uint32: return try typed(UInt32.self) { .int(Int64($0)) }
        case .uint64: return try typed(UInt64.self) { .uint($0) }
        case .bool: return try typed(Bool.self) { .bool($0) }
        case .bf16:
            return try typed(UInt16.self) { .double(Double(Float(bitPattern: UInt32($0) << 16))) }
        case .bytes:
            guard case .bytes(let elements) = data else { return [] }
            return try elements.map { (e: ArraySlice<UInt8>) throws(KServeError) -> JSONValue in
                guard let s = String(validating: e, as: UTF8.self) else {
                    throw KServeError.inferenceError(
                        "output '\(output.name)' holds bytes that are not UTF-8, which JSON cannot carry: use a v2 binary request")
                }
                return .string(s)
            }
        }
    }
}
