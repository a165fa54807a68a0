/// A value from the config file, kept for the model kinds to interpret (``ModelConfig/options``).
public enum ConfigValue: Sendable, Hashable, CustomStringConvertible {
    /// A TOML string.
    case string(String)
    /// A TOML integer.
    case int(Int)
    /// A TOML float.
    case double(Double)
    /// A TOML boolean.
    case bool(Bool)
    /// A TOML array (elements may mix types).
    case array([ConfigValue])
    /// A TOML table or inline table.
    case table([String: ConfigValue])

    /// The integer, or `nil` unless this is ``int(_:)``.
    public var intValue: Int? {
        if case .int(let v) = self { return v }
        return nil
    }

    /// The number as a `Double`: ``double(_:)``, or ``int(_:)`` converted; `nil` otherwise.
    public var doubleValue: Double? {
        switch self {
        case .double(let v): return v
        case .int(let v): return Double(v)
        default: return nil
        }
    }

    /// The string, or `nil` unless this is ``string(_:)``.
    public var stringValue: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    /// The boolean, or `nil` unless this is ``bool(_:)``.
    public var boolValue: Bool? {
        if case .bool(let v) = self { return v }
        return nil
    }

    /// The elements, or `nil` unless this is ``array(_:)``.
    public var arrayValue: [ConfigValue]? {
        if case .array(let v) = self { return v }
        return nil
    }

    /// The entries, or `nil` unless this is ``table(_:)``.
    public var tableValue: [String: ConfigValue]? {
        if case .table(let v) = self { return v }
        return nil
    }

    /// The value as TOML would write it (strings quoted), for messages.
    public var description: String {
        switch self {
        case .string(let s): return quoted(s)
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .bool(let b): return String(b)
        case .array(let a): return "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .table(let t):
            return "{ " + t.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }.joined(separator: ", ") + " }"
        }
    }
}

/// `"text"` with `"` and `\` escaped, for messages.
func quoted(_ s: String) -> String {
    var out = "\""
    for ch in s {
        switch ch {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default: out.append(ch)
        }
    }
    return out + "\""
}
