#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// KServe's `access_log_format` (gunicorn / asgi-logger atoms), parsed once at start-up and rendered per request
/// by the workers (REST) and the gRPC process (gRPC calls).
///
/// Atoms (`%(x)s`): `h` remote address, `r` request line, `s` status, `b` response body bytes (`-` when none),
/// `B` the same with `0`, `m` method, `U` path, `q` query, `H` protocol, `a` user agent, `f` referer, `t` time
/// (`[10/Oct/2000:13:55:36 +0000]`), `L` request time in decimal seconds, `M` in milliseconds, `D` in
/// microseconds, `T` in whole seconds, `p` the process id, `l` and `u` (`-`, as gunicorn), `{Header}i` a request
/// header, `{Header}o` a response header; `%%` is a `%`. A missing value prints `-`. Anything else is refused.
///
/// ```swift
/// let format = try AccessLogFormat(parsing: #"%(h)s "%(r)s" %(s)s %(b)s %(M)sms"#)
/// let line = format.render(entry, requestHeader: { headers[$0] }, responseHeader: { _ in nil })
/// ```
public struct AccessLogFormat: Sendable, Hashable {
    /// One piece of the format.
    public enum Part: Sendable, Hashable {
        case literal(String)
        case remoteAddress, requestLine, status, bodyBytes, bodyBytesZero, method, path, query, protocolName
        case userAgent, referer, time, seconds, milliseconds, microseconds, wholeSeconds, processID, dash
        case requestHeader(String)
        case responseHeader(String)
    }

    /// The pieces in order.
    public let parts: [Part]
    /// The text it was parsed from.
    public let text: String

    /// The atoms this server knows, for messages.
    public static let knownAtoms = "%(h)s %(r)s %(s)s %(b)s %(B)s %(m)s %(U)s %(q)s %(H)s %(a)s %(f)s %(t)s %(L)s %(M)s %(D)s %(T)s %(p)s %(l)s %(u)s %({Header}i)s %({Header}o)s %%"

    /// Parses a format.
    /// - Throws: ``AccessLogFormatError`` naming the first atom this server does not know.
    public init(parsing text: String) throws(AccessLogFormatError) {
        self.text = text
        var parts: [Part] = []
        var literal = ""
        var i = text.startIndex
        func flush() {
            if !literal.isEmpty { parts.append(.literal(literal)) }
            literal = ""
        }
        while i < text.endIndex {
            let c = text[i]
            guard c == "%" else {
                literal.append(c)
                i = text.index(after: i)
                continue
            }
            let next = text.index(after: i)
            if next < text.endIndex, text[next] == "%" {
                literal.append("%")
                i = text.index(after: next)
                continue
            }
            guard next < text.endIndex, text[next] == "(" else {
                throw .unknownAtom(String(text[i...].prefix(4)))
            }
            // The name ends at the ")" that closes it; a {Header} may itself hold anything but "}".
            var j = text.index(after: next)
            if j < text.endIndex, text[j] == "{" {
                guard let close = text[j...].firstIndex(of: "}") else { throw .unknownAtom(String(text[i...].prefix(24))) }
                j = close
            }
            guard let end = text[j...].firstIndex(of: ")") else { throw .unknownAtom(String(text[i...].prefix(24))) }
            let name = String(text[text.index(after: next)..<end])
            let conversion = text.index(after: end)
            let atom = String(text[i...(conversion < text.endIndex ? conversion : end)])
            guard conversion < text.endIndex, text[conversion] == "s" else { throw .unknownAtom(atom) }
            let part: Part
            switch name {
            case "h": part = .remoteAddress
            case "r": part = .requestLine
            case "s": part = .status
            case "b": part = .bodyBytes
            case "B": part = .bodyBytesZero
            case "m": part = .method
            case "U": part = .path
            case "q": part = .query
            case "H": part = .protocolName
            case "a": part = .userAgent
            case "f": part = .referer
            case "t": part = .time
            case "L": part = .seconds
            case "M": part = .milliseconds
            case "D": part = .microseconds
            case "T": part = .wholeSeconds
            case "p": part = .processID
            case "l", "u": part = .dash
            default:
                if name.count > 3, name.hasPrefix("{"), name.hasSuffix("}i") {
                    part = .requestHeader(String(name.dropFirst().dropLast(2)).lowercased())
                } else if name.count > 3, name.hasPrefix("{"), name.hasSuffix("}o") {
                    part = .responseHeader(String(name.dropFirst().dropLast(2)).lowercased())
                } else {
                    throw .unknownAtom(atom)
                }
            }
            flush()
            parts.append(part)
            i = text.index(after: conversion)
        }
        flush()
        self.parts = parts
    }

    /// Whether the format prints a response header (the renderer then needs them).
    public var usesResponseHeaders: Bool {
        parts.contains { if case .responseHeader = $0 { return true } else { return false } }
    }

    /// Renders one line (without the newline).
    /// - Parameters:
    ///   - entry: the request.
    ///   - requestHeader: a request header by lower-cased name (`user-agent`), or nil.
    ///   - responseHeader: a response header by lower-cased name, or nil.
    public func render(
        _ entry: AccessLogEntry, requestHeader: (String) -> String?, responseHeader: (String) -> String?
    ) -> String {
        var out = ""
        out.reserveCapacity(128)
        func put(_ value: String?) {
            if let value, !value.isEmpty { out += value } else { out += "-" }
        }
        for part in parts {
            switch part {
            case .literal(let text): out += text
            case .remoteAddress: put(entry.remoteAddress)
            case .requestLine:
                out += entry.method
                out += " "
                out += entry.path
                if !entry.query.isEmpty {
                    out += "?"
                    out += entry.query
                }
                out += " "
                out += entry.protocolName
            case .status: out += entry.status
            case .bodyBytes: out += entry.bodyBytes > 0 ? String(entry.bodyBytes) : "-"
            case .bodyBytesZero: out += String(entry.bodyBytes)
            case .method: put(entry.method)
            case .path: put(entry.path)
            case .query: put(entry.query)
            case .protocolName: put(entry.protocolName)
            case .userAgent: put(requestHeader("user-agent"))
            case .referer: put(requestHeader("referer"))
            case .time: out += Self.timestamp(entry.startTime)
            case .seconds: out += Self.decimalSeconds(entry.duration)
            case .milliseconds: out += String(Int((entry.duration * 1000).rounded(.down)))
            case .microseconds: out += String(Int((entry.duration * 1_000_000).rounded()))
            case .wholeSeconds: out += String(Int(entry.duration.rounded(.down)))
            case .processID: out += String(getpid())
            case .dash: out += "-"
            case .requestHeader(let name): put(requestHeader(name))
            case .responseHeader(let name): put(responseHeader(name))
            }
        }
        return out
    }

    /// `1.234567`: seconds with six decimals (gunicorn's `%(L)s`).
    static func decimalSeconds(_ seconds: Double) -> String {
        let micros = Int((max(0, seconds) * 1_000_000).rounded())
        let fraction = String(micros % 1_000_000)
        return "\(micros / 1_000_000)." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }

    /// `[10/Oct/2000:13:55:36 +0000]` in local time (the C locale's month names), as gunicorn's `%(t)s`.
    static func timestamp(_ time: Int) -> String {
        var t = time_t(time)
        var parts = tm()
        localtime_r(&t, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "[%d/%b/%Y:%H:%M:%S %z]", &parts)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// One request, as the access line sees it.
public struct AccessLogEntry: Sendable {
    /// The client's address (nginx's `$remote_addr`; the gRPC peer's address).
    public var remoteAddress: String
    /// `GET`, `POST` (gRPC calls are `POST`).
    public var method: String
    /// The decoded path (`/v2/models/m/infer`; `/inference.GRPCInferenceService/ModelInfer` for gRPC).
    public var path: String
    /// The query string without `?` (empty for none).
    public var query: String
    /// `HTTP/1.1`, `HTTP/2.0`.
    public var protocolName: String
    /// The HTTP status (`200`), or for gRPC the status code's number (`0` OK, `3` INVALID_ARGUMENT, ...).
    public var status: String
    /// Bytes of the response body (the response message for gRPC).
    public var bodyBytes: Int
    /// Seconds the request took.
    public var duration: Double
    /// When it started (Unix seconds).
    public var startTime: Int

    /// Creates an entry.
    public init(
        remoteAddress: String, method: String, path: String, query: String, protocolName: String, status: String,
        bodyBytes: Int, duration: Double, startTime: Int
    ) {
        self.remoteAddress = remoteAddress
        self.method = method
        self.path = path
        self.query = query
        self.protocolName = protocolName
        self.status = status
        self.bodyBytes = bodyBytes
        self.duration = duration
        self.startTime = startTime
    }
}

/// A format this server cannot render.
public enum AccessLogFormatError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An atom it does not know (`%(x)s`), as written.
    case unknownAtom(String)

    public var description: String {
        switch self {
        case .unknownAtom(let atom):
            return "unknown atom \(atom) in the access log format; the atoms are: \(AccessLogFormat.knownAtoms)"
        }
    }
}
