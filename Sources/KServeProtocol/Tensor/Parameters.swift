/// One inference parameter value.
///
/// gRPC carries bool, int64 and string (`InferParameter`); REST also accepts floating-point numbers and, for
/// compatibility, any other JSON value, which cannot be forwarded to gRPC.
public enum ParameterValue: Sendable, Hashable {
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    /// Any other JSON value (object, array, null, or an integer beyond Int64) sent over REST.
    case json(JSONValue)

    /// The value as a JSON value.
    public var jsonValue: JSONValue {
        switch self {
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        case .json(let j): return j
        }
    }

    /// Builds a parameter from a JSON value (REST), keeping bools, integers, floats and strings typed.
    public init(json: JSONValue) {
        switch json {
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        default: self = .json(json)
        }
    }

    /// The integer value if this is an integer (or an integral double).
    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9.2e18: return Int64(d)
        case .string(let s): return Int64(s)
        default: return nil
        }
    }
    /// The boolean value if this is a bool.
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    /// The string value if this is a string.
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    /// The numeric value as Double if numeric.
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .string(let s): return Double(s)
        default: return nil
        }
    }
}

/// Inference parameters, keyed by name, in insertion order.
public typealias Parameters = OrderedParameters

/// An insertion-ordered map of parameter names to values (KServe keeps dict order on the wire).
public struct OrderedParameters: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    public private(set) var keys: [String] = []
    private var storage: [String: ParameterValue] = [:]

    public init() {}
    public init(dictionaryLiteral elements: (String, ParameterValue)...) {
        for (k, v) in elements { self[k] = v }
    }

    public subscript(key: String) -> ParameterValue? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    public var isEmpty: Bool { keys.isEmpty }
    public var count: Int { keys.count }

    public func makeIterator() -> some IteratorProtocol<(key: String, value: ParameterValue)> {
        var i = 0
        let keys = self.keys, storage = self.storage
        return AnyIterator { () -> (key: String, value: ParameterValue)? in
            guard i < keys.count else { return nil }
            defer { i += 1 }
            return (keys[i], storage[keys[i]]!)
        }
    }

    /// A copy without `key`.
    public func removing(_ key: String) -> OrderedParameters {
        var copy = self
        copy[key] = nil
        return copy
    }

    public static func == (a: OrderedParameters, b: OrderedParameters) -> Bool { a.storage == b.storage }
    public func hash(into hasher: inout Hasher) { hasher.combine(storage) }
}
