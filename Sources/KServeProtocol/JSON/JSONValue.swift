/// A JSON value that keeps numbers exact: integers stay integers (Int64, UInt64 above Int64.max, or their exact
/// digits beyond 64 bits) and
/// floating-point numbers parse correctly rounded. Objects keep their key order.
///
/// Used for v1 `instances` / `inputs` / `predictions`, parameters, and any JSON a model returns.
public indirect enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    /// An integer literal beyond 64 bits, kept as its exact decimal digits (e.g. `-1000000000000000000000000`).
    case bigInteger(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// Member lookup for objects; `nil` for other values or a missing key.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
}

/// A JSON object: members in their original order, with lookup by key (last duplicate wins, as most parsers do).
public struct JSONObject: Sendable, Hashable, ExpressibleByDictionaryLiteral {
    /// Members in order.
    public private(set) var members: [(key: String, value: JSONValue)] = []

    public init() {}
    public init(_ members: [(key: String, value: JSONValue)]) {
        for (k, v) in members { self[k] = v }
    }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        for (k, v) in elements { self[k] = v }
    }
    /// Members whose keys are already known to be distinct (the parser deduplicates in O(n)).
    init(uniqueMembers: [(key: String, value: JSONValue)]) {
        self.members = uniqueMembers
    }

    public subscript(key: String) -> JSONValue? {
        get {
            for m in members.reversed() where m.key == key { return m.value }
            return nil
        }
        set {
            if let i = members.firstIndex(where: { $0.key == key }) {
                if let newValue { members[i].value = newValue } else { members.remove(at: i) }
            } else if let newValue {
                members.append((key, newValue))
            }
        }
    }

    public var keys: [String] { members.map(\.key) }
    public var count: Int { members.count }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        a.members.count == b.members.count && zip(a.members, b.members).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(members.count)
        for m in members { hasher.combine(m.key); hasher.combine(m.value) }
    }
}
