import Glibc
import KServeProtobuf
import NIOCore
import NIOHPACK
import NIOPosix
import Testing

@testable import KServeGRPC

@Suite("FastCGI records and CGI answers")
struct FastCGIRecordsTests {
    /// Splits an encoded request back into (type, content) records.
    static func records(_ bytes: [UInt8]) -> [(UInt8, [UInt8])] {
        var out: [(UInt8, [UInt8])] = []
        var i = 0
        while i < bytes.count {
            let type = bytes[i + 1]
            let length = Int(bytes[i + 4]) << 8 | Int(bytes[i + 5])
            let padding = Int(bytes[i + 6])
            #expect(bytes[i] == 1)
            #expect(bytes[i + 2] == 0 && bytes[i + 3] == 1)
            out.append((type, Array(bytes[(i + 8)..<(i + 8 + length)])))
            i += 8 + length + padding
        }
        return out
    }

    static func record(_ type: UInt8, _ content: [UInt8], padding: Int = 0) -> [UInt8] {
        [1, type, 0, 1, UInt8(content.count >> 8), UInt8(content.count & 0xFF), UInt8(padding), 0]
            + content + [UInt8](repeating: 0, count: padding)
    }

    @Test("a request is BEGIN_REQUEST, PARAMS and STDIN streams, split at 65535 bytes")
    func encodeRequest() {
        let longValue = String(repeating: "v", count: 200)
        let body = [UInt8](repeating: 7, count: 70_000)
        let records = Self.records(FastCGI.encodeRequest(params: [("A", "b"), ("LONG", longValue)], stdin: body))
        #expect(records.map(\.0) == [1, 4, 4, 5, 5, 5])
        #expect(records[0].1 == [0, 1, 0, 0, 0, 0, 0, 0])  // RESPONDER, flags 0 (no keep-conn)
        let expectedPairs: [UInt8] = [1, 1] + Array("Ab".utf8) + [4, 0x80, 0, 0, 200] + Array("LONG".utf8) + Array(longValue.utf8)
        #expect(records[1].1 == expectedPairs)
        #expect(records[2].1.isEmpty)
        #expect(records[3].1.count == 65535)
        #expect(records[4].1.count == 70_000 - 65535)
        #expect(records[5].1.isEmpty)
    }

    @Test("an exchange sends exactly the encoded request, body sliced from the caller's buffer, and reads the answer", arguments: [0, 1, 65535, 65536, 131_075])
    func exchange(bodySize: Int) async throws {
        let params = [("A", "b"), ("CONTENT_LENGTH", String(bodySize))]
        let body = (0..<bodySize).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let expected = FastCGI.encodeRequest(params: params, stdin: body)
        let path = "/tmp/kserve-fcgi-test-\(getpid())-\(bodySize).sock"
        unlink(path)
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(listener >= 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8))
            raw[path.utf8.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0 && listen(listener, 4) == 0)
        defer {
            close(listener)
            unlink(path)
        }
        // The peer: reads the whole request (until the empty STDIN record), answers, closes.
        let answer = Self.record(6, Array("Status: 200 OK\r\nContent-Type: application/grpc+proto\r\n\r\nhi".utf8))
            + Self.record(7, Array("note".utf8)) + Self.record(6, []) + Self.record(3, [0, 0, 0, 0, 0, 0, 0, 0])
        let peer = Task.detached { () -> [UInt8] in
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return [] }
            defer { close(fd) }
            var received: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while received.count < expected.count {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                received += chunk[0..<n]
            }
            _ = answer.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            return received
        }
        let loop = CallLimiterTests.group.next()
        let result = try await loop.flatSubmit {
            FastCGIExchange(socketPath: path, params: params, body: ByteBuffer(bytes: body), on: loop).futureResult
        }.get()
        #expect(await peer.value == expected)
        #expect(result.response.status == 200)
        #expect(Array(result.response.body.readableBytesView) == Array("hi".utf8))
        #expect(String(decoding: result.stderr, as: UTF8.self) == "note")
    }

    @Test("no socket: the exchange fails at once with a connect error")
    func noSocket() async throws {
        let loop = CallLimiterTests.group.next()
        let future = loop.flatSubmit {
            FastCGIExchange(socketPath: "/tmp/kserve-no-such-socket-\(getpid())", params: [], body: ByteBuffer(), on: loop).futureResult
        }
        await #expect(throws: FastCGIClientError.self) { try await future.get() }
    }

    @Test("the reader collects STDOUT across arbitrary chunk boundaries until END_REQUEST")
    func reader() throws {
        let stream = Self.record(6, Array("Status: 200 OK\r\nContent-Type: x\r\n\r\nhel".utf8), padding: 5)
            + Self.record(7, Array("warning".utf8))
            + Self.record(6, Array("lo".utf8))
            + Self.record(6, [])
            + Self.record(3, [0, 0, 0, 0, 0, 0, 0, 0])
            + [9, 9, 9]  // ignored after END_REQUEST
        for chunkSize in [1, 3, 8, 1000] {
            var reader = FastCGIRecordReader()
            var i = 0
            while i < stream.count {
                let end = min(i + chunkSize, stream.count)
                try stream[i..<end].withUnsafeBytes { try reader.consume($0) }
                i = end
            }
            #expect(reader.end?.protocolStatus == 0)
            #expect(String(decoding: reader.stderr, as: UTF8.self) == "warning")
            let response = try CGIResponse(stdout: reader.stdout)
            #expect(response.status == 200)
            #expect(response.header("content-type") == "x")
            #expect(Array(response.body.readableBytesView) == Array("hello".utf8))
        }
    }

    @Test("a truncated answer has no END_REQUEST")
    func truncated() throws {
        var reader = FastCGIRecordReader()
        let partial = Self.record(6, Array("Status: 200 OK\r\n\r\nabc".utf8))
        try partial.withUnsafeBytes { try reader.consume($0) }
        #expect(reader.end == nil)
    }

    @Test("CGI status lines, LF-only answers, missing end of headers")
    func cgi() throws {
        let e = try CGIResponse(stdout: Array("Status: 404 Not Found\nGrpc-Status: 5\n\n{\"error\":\"x\"}".utf8))
        #expect(e.status == 404)
        #expect(e.header("grpc-status") == "5")
        #expect(throws: FastCGIProtocolError.self) { try CGIResponse(stdout: Array("Status: 200".utf8)) }
    }

    @Test("worker answers map to gRPC results")
    func results() throws {
        let ok = try CGIResponse(stdout: Array("Status: 200 OK\r\nContent-Type: application/grpc+proto\r\n\r\n\u{8}\u{1}".utf8))
        #expect(Array(try WorkerBridge.result(ok).readableBytesView) == [8, 1])
        let notFound = try CGIResponse(stdout: Array("Status: 404 Not Found\r\nGrpc-Status: 5\r\n\r\n{\"error\":\"Model with name x does not exist.\"}".utf8))
        let error = #expect(throws: GRPCStatus.self) { try WorkerBridge.result(notFound) }
        #expect(error?.code == .notFound)
        #expect(error?.message == "Model with name x does not exist.")
        let tooLarge = try CGIResponse(stdout: Array("Status: 413 Payload Too Large\r\n\r\nbig".utf8))
        #expect((#expect(throws: GRPCStatus.self) { try WorkerBridge.result(tooLarge) })?.code == .resourceExhausted)
    }

    @Test("metadata becomes HTTP_ parameters")
    func params() {
        let metadata: HPACKHeaders = ["x-request-id": "abc", "content-type": "application/grpc", "grpc-timeout": "1S",
                                      "te": "trailers", "trace-bin": "AQ==", "my_key": "v", "x-multi": "1", "X-Multi": "2"]
        let params = WorkerBridge.params(.modelInfer, contentLength: 12, metadata: metadata)
        let dict = Dictionary(params, uniquingKeysWith: { a, _ in a })
        #expect(dict["REQUEST_URI"] == "/inference.GRPCInferenceService/ModelInfer")
        #expect(dict["DOCUMENT_URI"] == "/inference.GRPCInferenceService/ModelInfer")
        #expect(dict["CONTENT_TYPE"] == "application/grpc+proto")
        #expect(dict["CONTENT_LENGTH"] == "12")
        #expect(dict["KSERVE_PROTOCOL"] == "grpc")
        #expect(dict["REQUEST_METHOD"] == "POST")
        #expect(dict["HTTP_X_REQUEST_ID"] == "abc")
        #expect(dict["HTTP_MY_KEY"] == "v")
        #expect(dict["HTTP_X_MULTI"] == "1, 2")
        #expect(dict["HTTP_GRPC_TIMEOUT"] == nil)
        #expect(dict["HTTP_TE"] == nil)
        #expect(dict["HTTP_CONTENT_TYPE"] == nil)
        #expect(!params.contains { $0.0.hasPrefix("HTTP_TRACE") })
    }
}

/// The whole answer collected from ``FastCGIRecordSplitter``'s events, as it arrives in chunks of any size: STDOUT and
/// STDERR until END_REQUEST (what the gRPC process's answer handler does, without its buffer sizing).
struct FastCGIRecordReader {
    private var splitter = FastCGIRecordSplitter()
    /// The STDOUT stream so far.
    private(set) var stdout = ByteBuffer()
    /// The STDERR stream so far.
    private(set) var stderr: [UInt8] = []
    /// Set once END_REQUEST has been read: the application status and the protocol status.
    private(set) var end: (appStatus: UInt32, protocolStatus: UInt8)?

    init() {}

    /// Consumes the next bytes of the connection. Bytes after END_REQUEST are ignored.
    /// - Throws: ``FastCGIProtocolError`` for a bad version or a record of another request.
    mutating func consume(_ bytes: UnsafeRawBufferPointer) throws {
        try consume(ByteBuffer(bytes: bytes))
    }

    /// Consumes the next buffer of the connection.
    mutating func consume(_ buffer: ByteBuffer) throws {
        var out = stdout
        var err = stderr
        var finished = end
        stdout = ByteBuffer()  // keep `out` uniquely referenced while it grows
        defer { stdout = out; stderr = err; end = finished }
        try splitter.consume(buffer) { event in
            switch event {
            case .stdout(var chunk): out.writeBuffer(&chunk)
            case .stderr(let chunk): err.append(contentsOf: chunk.readableBytesView)
            case .end(let app, let status): finished = (app, status)
            }
        }
    }
}
