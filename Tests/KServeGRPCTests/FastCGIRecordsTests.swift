import GRPCCore
import Glibc
import KServeProtobuf
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

    @Test("the gathered request (head, STDIN headers, body slices) is the encoded request, sent without a copy of the body", arguments: [0, 1, 65535, 65536, 131_075])
    func gatheredRequest(bodySize: Int) async throws {
        let params = [("A", "b"), ("CONTENT_LENGTH", String(bodySize))]
        let body = (0..<bodySize).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let expected = FastCGI.encodeRequest(params: params, stdin: body)
        let gathered = FastCGI.encodeRequestHead(params: params, stdinCount: body.count)
        var fds: [Int32] = [0, 0]
        let paired = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds)
        try #require(paired == 0)
        let writing = fds[0]
        let reading = fds[1]
        defer { close(writing) }
        let reader = Task.detached { () -> [UInt8] in
            var received: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(reading, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                received += chunk[0..<n]
            }
            close(reading)
            return received
        }
        let error: Int32? = gathered.head.withUnsafeBytes { head in
            gathered.stdinHeaders.withUnsafeBytes { headers in
                body.withUnsafeBytes { content -> Int32? in
                    let parts = requestParts(head: head, stdinHeaders: headers, body: content)
                    // No part is a copy of the body: parts 2, 4, ... are slices of `body`'s own storage.
                    let slices = stride(from: 2, to: parts.count - 1, by: 2).map { parts[$0] }
                    #expect(slices.reduce(0) { $0 + $1.count } == content.count)
                    #expect(slices.allSatisfy { slice in
                        guard let start = slice.baseAddress, let base = content.baseAddress else { return false }
                        return start >= base && start + slice.count <= base + content.count
                    })
                    return sendAll(writing, parts)
                }
            }
        }
        #expect(error == nil)
        _ = shutdown(writing, Int32(SHUT_WR))
        #expect(await reader.value == expected)
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
            #expect(Array(response.body) == Array("hello".utf8))
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
        #expect(try WorkerBridge.result(ok) == [8, 1])
        let notFound = try CGIResponse(stdout: Array("Status: 404 Not Found\r\nGrpc-Status: 5\r\n\r\n{\"error\":\"Model with name x does not exist.\"}".utf8))
        let error = #expect(throws: RPCError.self) { try WorkerBridge.result(notFound) }
        #expect(error?.code == .notFound)
        #expect(error?.message == "Model with name x does not exist.")
        let tooLarge = try CGIResponse(stdout: Array("Status: 413 Payload Too Large\r\n\r\nbig".utf8))
        #expect((#expect(throws: RPCError.self) { try WorkerBridge.result(tooLarge) })?.code == .resourceExhausted)
    }

    @Test("metadata becomes HTTP_ parameters")
    func params() {
        let metadata: Metadata = ["x-request-id": "abc", "content-type": "application/grpc", "grpc-timeout": "1S",
                                  "te": "trailers", "trace-bin": .binary([1]), "my_key": "v", "x-multi": "1", "X-Multi": "2"]
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
