import CFastCGI
import Dispatch
import Glibc
import Testing

@testable import KServeWorker

/// `kserve_fcgx_widen_input` swaps libfcgi's 8 KB input buffer for a larger one in the middle of a request. These
/// tests drive the real libfcgi over a real Unix socket: a peer writes FastCGI records (body split into records of
/// odd sizes, with padding), the test accepts with `FCGX_Accept_r`, widens, and reads the body back.
@Suite("libfcgi input: a large body is read through a wider buffer, byte for byte", .serialized)
struct FastCGIWideInputTests {
    private static func record(_ type: UInt8, _ content: ArraySlice<UInt8>, padding: Int = 0) -> [UInt8] {
        let n = content.count
        return [1, type, 0, 1, UInt8(n >> 8), UInt8(n & 0xff), UInt8(padding), 0] + content
            + [UInt8](repeating: 0xEE, count: padding)
    }

    private static func pair(_ name: String, _ value: String) -> [UInt8] {
        [UInt8(name.utf8.count), UInt8(value.utf8.count)] + Array(name.utf8) + Array(value.utf8)
    }

    /// One request: BEGIN_REQUEST, PARAMS, then the body in records of the given sizes (cycled), each padded.
    private static func request(body: [UInt8], keepConnection: Bool, recordSizes: [Int]) -> [UInt8] {
        var out = record(1, [0, 1, keepConnection ? 1 : 0, 0, 0, 0, 0, 0][...])
        let params = pair("REQUEST_METHOD", "POST") + pair("CONTENT_LENGTH", String(body.count))
        out += record(4, params[...], padding: 3) + record(4, [])
        var offset = 0
        var k = 0
        while offset < body.count {
            let n = min(recordSizes[k % recordSizes.count], body.count - offset)
            out += record(5, body[offset..<offset + n], padding: k % 8)
            offset += n
            k += 1
        }
        return out + record(5, [])
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { return }
                offset += n
            }
        }
    }

    /// Reads records until END_REQUEST (type 3); returns the STDOUT bytes.
    private static func readAnswer(_ fd: Int32) -> [UInt8]? {
        var buffered: [UInt8] = []
        var stdout: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            while buffered.count >= 8 {
                let length = Int(buffered[4]) << 8 | Int(buffered[5])
                let total = 8 + length + Int(buffered[6])
                guard buffered.count >= total else { break }
                if buffered[1] == 3 { return stdout }
                if buffered[1] == 6 { stdout += buffered[8..<8 + length] }
                buffered.removeFirst(total)
            }
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return nil }
            buffered += chunk[0..<n]
        }
    }

    /// Calls `body` with `path` as a Unix socket address.
    private static func withAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8))
            raw[path.utf8.count] = 0
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    private static func listener(_ tag: String) throws -> (fd: Int32, path: String) {
        let path = "/tmp/kserve-wide-input-\(getpid())-\(tag).sock"
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        try #require(withAddress(path) { bind(fd, $0, $1) } == 0 && listen(fd, 4) == 0)
        return (fd, path)
    }

    private static func connectTo(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        if fd >= 0 && withAddress(path, { connect(fd, $0, $1) }) == 0 { return fd }
        if fd >= 0 { close(fd) }
        return -1
    }

    private static func answer(_ text: String, _ request: UnsafeMutablePointer<FCGX_Request>) {
        let bytes = Array("Status: 200 OK\r\n\r\n\(text)".utf8)
        _ = bytes.withUnsafeBytes { FCGX_PutStr($0.baseAddress!.assumingMemoryBound(to: CChar.self), Int32($0.count), request.pointee.out) }
    }

    private static func state(_ request: UnsafeMutablePointer<FCGX_Request>) -> kserve_fcgx_stream_state? {
        guard let data = request.pointee.in?.pointee.data else { return nil }
        return data.assumingMemoryBound(to: kserve_fcgx_stream_state.self).pointee
    }

    /// Reads `length` bytes in 100,000-byte steps; returns them and the most bytes libfcgi's buffer held after a read.
    private static func readBody(_ request: UnsafeMutablePointer<FCGX_Request>, length: Int) -> (body: [UInt8], largestFill: Int) {
        var body = [UInt8](repeating: 0, count: length)
        var offset = 0
        var largest = 0
        while offset < length {
            let want = Int32(min(100_000, length - offset))
            let n = body.withUnsafeMutableBytes {
                FCGX_GetStr(($0.baseAddress! + offset).assumingMemoryBound(to: CChar.self), want, request.pointee.in)
            }
            if n <= 0 { break }
            offset += Int(n)
            if let s = state(request) { largest = max(largest, s.buffer.distance(to: s.end)) }
        }
        return (Array(body[0..<offset]), largest)
    }

    @Test("the body comes back exact, libfcgi fills the wider buffer, and the answer and a second request on the kept connection are intact",
          arguments: [[65535], [65535, 7, 32768, 1000, 8192], [1, 2, 3, 50_000]])
    func roundTrip(recordSizes: [Int]) throws {
        #expect(FCGX_Init() == 0)
        let (listenFD, path) = try Self.listener("\(recordSizes.count)-\(recordSizes[0])")
        defer {
            close(listenFD)
            unlink(path)
        }
        let first = (0..<1_200_003).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ $0 >> 9) }
        let second = (0..<70_001).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        let firstWire = Self.request(body: first, keepConnection: true, recordSizes: recordSizes)
        let secondWire = Self.request(body: second, keepConnection: false, recordSizes: recordSizes)

        // The peer (a web server): both requests on one connection, the second after the first answer.
        let answers = UnsafeSendable(UnsafeMutablePointer<[[UInt8]?]>.allocate(capacity: 1))
        answers.value.initialize(to: [])
        defer { answers.value.deinitialize(count: 1); answers.value.deallocate() }
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let fd = Self.connectTo(path)
            if fd >= 0 {
                Self.writeAll(fd, firstWire)
                answers.value.pointee.append(Self.readAnswer(fd))
                Self.writeAll(fd, secondWire)
                answers.value.pointee.append(Self.readAnswer(fd))
                close(fd)
            }
            done.signal()
        }

        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        defer { request.deallocate() }
        #expect(FCGX_InitRequest(request, listenFD, 0) == 0)
        defer { FCGX_Free(request, 1) }

        try #require(FCGX_Accept_r(request) == 0)
        let before = try #require(Self.state(request))
        #expect(before.capacity <= 8192, "libfcgi's own input buffer is 8 KB")
        #expect(kserve_fcgx_widen_input(request, 256 << 10) == 1, "the layout check refused this libfcgi's stream")
        #expect(Self.state(request)?.capacity == 256 << 10)
        #expect(kserve_fcgx_widen_input(request, 256 << 10) == 0, "a buffer is never replaced by one no larger")
        let (body, largest) = Self.readBody(request, length: first.count)
        #expect(body.count == first.count)
        #expect(body == first, "the body read through the wider buffer differs from what was sent")
        #expect(largest > 8192, "libfcgi never filled more than its old 8 KB: the wider buffer was not used")
        var extra: CChar = 0
        #expect(FCGX_GetStr(&extra, 1, request.pointee.in) == 0, "the body did not end where CONTENT_LENGTH said")
        Self.answer("first", request)
        FCGX_Finish_r(request)

        try #require(FCGX_Accept_r(request) == 0, "the kept connection's next request was not read")
        #expect(kserve_fcgx_widen_input(request, 256 << 10) == 1)
        let again = Self.readBody(request, length: second.count)
        #expect(again.body == second)
        Self.answer("second", request)
        FCGX_Finish_r(request)

        done.wait()
        let got = answers.value.pointee.map { $0.map { String(decoding: $0, as: UTF8.self) } }
        #expect(got == ["Status: 200 OK\r\n\r\nfirst", "Status: 200 OK\r\n\r\nsecond"])
    }

    @Test("a request with no input stream (not accepted yet) is left alone")
    func notAccepted() throws {
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        defer { request.deallocate() }
        #expect(FCGX_InitRequest(request, -1, 0) == 0)
        #expect(kserve_fcgx_widen_input(request, 256 << 10) == 0)
        #expect(kserve_fcgx_widen_input(nil, 256 << 10) == 0)
    }
}
