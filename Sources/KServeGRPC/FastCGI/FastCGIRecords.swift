import NIOCore

/// The FastCGI 1.0 wire format, client side: the records of one request and a streaming reader for the answer.
///
/// A record is an 8-byte header (version 1, type, request id (2 bytes), content length (2 bytes), padding
/// length, reserved) followed by its content and padding. A request is BEGIN_REQUEST (role RESPONDER, flags 0:
/// the worker closes the connection after answering), the PARAMS stream, then the STDIN stream; each stream is
/// records of at most 65535 bytes ended by an empty record. The answer is the STDOUT stream (a CGI response:
/// `Status: ...` and other header lines, an empty line, the body), possibly STDERR, then END_REQUEST.
enum FastCGI {
    /// Record types used here.
    enum RecordType: UInt8 {
        case beginRequest = 1
        case abortRequest = 2
        case endRequest = 3
        case params = 4
        case stdin = 5
        case stdout = 6
        case stderr = 7
    }

    /// The request id of the single request on each connection.
    static let requestID: UInt16 = 1
    /// Largest content of one record.
    static let maxContentLength = 65535
    /// The RESPONDER role.
    static let responderRole: UInt16 = 1

    /// `protocolStatus` values of END_REQUEST.
    enum ProtocolStatus: UInt8 {
        case requestComplete = 0
        case cantMultiplexConnection = 1
        case overloaded = 2
        case unknownRole = 3
    }

    /// Encodes a whole request: BEGIN_REQUEST, the PARAMS stream, the STDIN stream.
    /// - Parameters:
    ///   - params: name-value pairs, sent in this order.
    ///   - stdin: the request body.
    static func encodeRequest(params: [(String, String)], stdin: [UInt8]) -> [UInt8] {
        var pairs: [UInt8] = []
        for (name, value) in params {
            appendLength(name.utf8.count, to: &pairs)
            appendLength(value.utf8.count, to: &pairs)
            pairs.append(contentsOf: name.utf8)
            pairs.append(contentsOf: value.utf8)
        }
        let recordsFor = { (n: Int) in n / maxContentLength + 1 }
        var out: [UInt8] = []
        out.reserveCapacity(16 + pairs.count + stdin.count + 8 * (recordsFor(pairs.count) + recordsFor(stdin.count) + 2))
        let begin: [UInt8] = [UInt8(responderRole >> 8), UInt8(responderRole & 0xFF), 0, 0, 0, 0, 0, 0]
        appendRecord(.beginRequest, begin[...], to: &out)
        appendStream(.params, pairs[...], to: &out)
        appendStream(.stdin, stdin[...], to: &out)
        return out
    }

    /// The request as a gather list, so the STDIN body is sent from the caller's buffer and never copied into a
    /// request buffer: `head` (BEGIN_REQUEST and the PARAMS stream), then for STDIN record `k` its 8-byte header
    /// `stdinHeaders[8k..<8k+8]` followed by the body's `k`-th slice of at most 65535 bytes, then the empty STDIN
    /// record that ends the stream (the last 8 bytes of `stdinHeaders`). Sent in that order, the bytes are exactly
    /// ``encodeRequest(params:stdin:)``'s.
    static func encodeRequestHead(params: [(String, String)], stdinCount: Int) -> (head: [UInt8], stdinHeaders: [UInt8]) {
        var pairs: [UInt8] = []
        for (name, value) in params {
            appendLength(name.utf8.count, to: &pairs)
            appendLength(value.utf8.count, to: &pairs)
            pairs.append(contentsOf: name.utf8)
            pairs.append(contentsOf: value.utf8)
        }
        var head: [UInt8] = []
        head.reserveCapacity(16 + pairs.count + 8 * (pairs.count / maxContentLength + 2))
        let begin: [UInt8] = [UInt8(responderRole >> 8), UInt8(responderRole & 0xFF), 0, 0, 0, 0, 0, 0]
        appendRecord(.beginRequest, begin[...], to: &head)
        appendStream(.params, pairs[...], to: &head)
        var headers: [UInt8] = []
        headers.reserveCapacity(8 * (stdinCount / maxContentLength + 2))
        var left = stdinCount
        while left > 0 {
            let n = min(left, maxContentLength)
            appendHeader(.stdin, length: n, to: &headers)
            left -= n
        }
        appendRecord(.stdin, [], to: &headers)
        return (head, headers)
    }

    /// A name or value length: one byte below 128, else four bytes with the top bit set.
    static func appendLength(_ n: Int, to out: inout [UInt8]) {
        if n < 128 {
            out.append(UInt8(n))
        } else {
            let v = UInt32(truncatingIfNeeded: n) | 0x8000_0000
            out.append(UInt8(truncatingIfNeeded: v >> 24))
            out.append(UInt8(truncatingIfNeeded: v >> 16))
            out.append(UInt8(truncatingIfNeeded: v >> 8))
            out.append(UInt8(truncatingIfNeeded: v))
        }
    }

    /// A stream: its content split into records of at most 65535 bytes, then the empty record that ends it.
    static func appendStream(_ type: RecordType, _ content: ArraySlice<UInt8>, to out: inout [UInt8]) {
        var i = content.startIndex
        while i < content.endIndex {
            let end = min(i + maxContentLength, content.endIndex)
            appendRecord(type, content[i..<end], to: &out)
            i = end
        }
        appendRecord(type, [], to: &out)
    }

    /// One record without padding (the content length is at most 65535).
    static func appendRecord(_ type: RecordType, _ content: ArraySlice<UInt8>, to out: inout [UInt8]) {
        precondition(content.count <= maxContentLength)
        out.append(1)
        out.append(type.rawValue)
        out.append(UInt8(requestID >> 8))
        out.append(UInt8(requestID & 0xFF))
        out.append(UInt8(content.count >> 8))
        out.append(UInt8(content.count & 0xFF))
        out.append(0)
        out.append(0)
        out.append(contentsOf: content)
    }

    /// The 8-byte header of a record of `length` content bytes (the content is sent separately).
    static func appendHeader(_ type: RecordType, length: Int, to out: inout [UInt8]) {
        precondition(length <= maxContentLength)
        out.append(1)
        out.append(type.rawValue)
        out.append(UInt8(requestID >> 8))
        out.append(UInt8(requestID & 0xFF))
        out.append(UInt8(length >> 8))
        out.append(UInt8(length & 0xFF))
        out.append(0)
        out.append(0)
    }
}

/// An error in the worker's FastCGI answer (not a failure of the call itself).
struct FastCGIProtocolError: Error, CustomStringConvertible {
    var description: String
}

/// Splits the answer's bytes, as they arrive in buffers of any size, into record contents: STDOUT and STDERR
/// content is handed on as slices of the arriving buffers (never copied), END_REQUEST as its two statuses.
struct FastCGIRecordSplitter {
    enum Event {
        case stdout(ByteBuffer)
        case stderr(ByteBuffer)
        case end(appStatus: UInt32, protocolStatus: UInt8)
    }

    private enum Phase {
        case header
        case content(type: UInt8, remaining: Int, padding: Int)
        case padding(type: UInt8, remaining: Int)
    }

    private var phase = Phase.header
    private var header: [UInt8] = []
    private var endBody: [UInt8] = []
    /// Set once END_REQUEST has been read; later bytes are ignored.
    private(set) var ended = false

    init() {}

    /// Consumes `buffer`, calling `emit` for each piece of content in order.
    /// - Throws: ``FastCGIProtocolError`` for a bad version, a record of another request or a short END_REQUEST.
    mutating func consume(_ buffer: ByteBuffer, _ emit: (Event) throws -> Void) throws {
        var buffer = buffer
        while buffer.readableBytes > 0, !ended {
            switch phase {
            case .header:
                let n = min(8 - header.count, buffer.readableBytes)
                header.append(contentsOf: buffer.readBytes(length: n) ?? [])
                guard header.count == 8 else { continue }
                guard header[0] == 1 else { throw FastCGIProtocolError(description: "FastCGI record with version \(header[0])") }
                let id = UInt16(header[2]) << 8 | UInt16(header[3])
                let type = header[1]
                guard id == FastCGI.requestID || id == 0 else {
                    throw FastCGIProtocolError(description: "FastCGI record for request \(id), expected \(FastCGI.requestID)")
                }
                let length = Int(header[4]) << 8 | Int(header[5])
                let padding = Int(header[6])
                header.removeAll(keepingCapacity: true)
                phase = .content(type: type, remaining: length, padding: padding)
                if length == 0 { try finishContent(type: type, padding: padding, emit) }
            case .content(let type, let remaining, let padding):
                let n = min(remaining, buffer.readableBytes)
                let chunk = buffer.readSlice(length: n) ?? ByteBuffer()
                switch FastCGI.RecordType(rawValue: type) {
                case .stdout?: try emit(.stdout(chunk))
                case .stderr?: try emit(.stderr(chunk))
                case .endRequest?: endBody.append(contentsOf: chunk.readableBytesView)
                default: break  // FCGI_UNKNOWN_TYPE and others: skipped
                }
                if remaining - n == 0 {
                    try finishContent(type: type, padding: padding, emit)
                } else {
                    phase = .content(type: type, remaining: remaining - n, padding: padding)
                }
            case .padding(let type, let remaining):
                let n = min(remaining, buffer.readableBytes)
                buffer.moveReaderIndex(forwardBy: n)
                if remaining - n == 0 {
                    try finishRecord(type: type, emit)
                } else {
                    phase = .padding(type: type, remaining: remaining - n)
                }
            }
        }
    }

    private mutating func finishContent(type: UInt8, padding: Int, _ emit: (Event) throws -> Void) throws {
        if padding > 0 {
            phase = .padding(type: type, remaining: padding)
        } else {
            try finishRecord(type: type, emit)
        }
    }

    private mutating func finishRecord(type: UInt8, _ emit: (Event) throws -> Void) throws {
        phase = .header
        guard type == FastCGI.RecordType.endRequest.rawValue else { return }
        guard endBody.count >= 5 else {
            throw FastCGIProtocolError(description: "FastCGI END_REQUEST with \(endBody.count) content bytes")
        }
        let app = UInt32(endBody[0]) << 24 | UInt32(endBody[1]) << 16 | UInt32(endBody[2]) << 8 | UInt32(endBody[3])
        ended = true
        try emit(.end(appStatus: app, protocolStatus: endBody[4]))
    }
}

/// The CGI response a worker wrote on STDOUT: status, headers and body.
struct CGIResponse: Sendable {
    /// The `Status:` code (200 when absent, as nginx assumes).
    var status: Int
    /// Header lines in order, names as written.
    var headers: [(name: String, value: String)]
    /// The body: a slice of the STDOUT stream, not a copy of it.
    var body: ByteBuffer

    /// The first header of that name (case-insensitive).
    func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }

    /// A response from its parts.
    init(status: Int, headers: [(name: String, value: String)], body: ByteBuffer) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// Parses `Name: value` lines up to an empty line (CRLF or LF line ends), then the body.
    /// - Throws: ``FastCGIProtocolError`` when there is no end of headers or the status is not a number.
    init(stdout bytes: [UInt8]) throws {
        try self.init(stdout: ByteBuffer(bytes: bytes))
    }

    /// Parses `Name: value` lines up to an empty line (CRLF or LF line ends); the body is the rest of `stdout`.
    /// - Throws: ``FastCGIProtocolError`` when there is no end of headers or the status is not a number.
    init(stdout buffer: ByteBuffer) throws {
        let stdout = buffer.readableBytesView
        let base = stdout.startIndex
        var headers: [(name: String, value: String)] = []
        var status = 200
        var lineStart = base
        var i = base
        var bodyStart: Int?
        while i < stdout.endIndex {
            guard stdout[i] == UInt8(ascii: "\n") else {
                i += 1
                continue
            }
            var lineEnd = i
            if lineEnd > lineStart && stdout[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
            if lineEnd == lineStart {
                bodyStart = i + 1
                break
            }
            let line = String(decoding: stdout[lineStart..<lineEnd], as: UTF8.self)
            if let colon = line.firstIndex(of: ":") {
                let name = String(line[..<colon])
                let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
                if name.lowercased() == "status" {
                    guard let code = Int(value.prefix(3)) else {
                        throw FastCGIProtocolError(description: "invalid CGI status line '\(line)'")
                    }
                    status = code
                } else {
                    headers.append((name, String(value)))
                }
            }
            i += 1
            lineStart = i
        }
        guard let bodyStart else { throw FastCGIProtocolError(description: "the worker's answer has no end of headers") }
        self.status = status
        self.headers = headers
        self.body = buffer.getSlice(at: bodyStart, length: stdout.endIndex - bodyStart) ?? ByteBuffer()
    }
}
