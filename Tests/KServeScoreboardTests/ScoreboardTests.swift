import Glibc
import KServeProtocol
import Testing

@testable import KServeScoreboard

/// A fresh scoreboard file in a temporary folder.
private func makeBoard(_ name: String) throws -> (Scoreboard, String) {
    var template = Array("/tmp/kserve-scoreboard-\(name)-XXXXXX".utf8CString)
    let folder = template.withUnsafeMutableBufferPointer { buffer -> String in
        guard let base = buffer.baseAddress, let made = mkdtemp(base) else { return "/tmp" }
        return String(cString: made)
    }
    let path = Scoreboard.path(stateDirectory: folder)
    return (try #require(Scoreboard.create(path: path)), path)
}

@Suite("Scoreboard: layout and the per-request protocol")
struct ScoreboardTests {
    @Test("The layout: header, 1 KiB slots, fields inside their slot, lanes in the second half")
    func layout() {
        #expect(Scoreboard.fileSize == 4096 + 2048 * 1024)
        #expect(Scoreboard.Header.lastFailureText + Scoreboard.Header.lastFailureCapacity <= Scoreboard.headerSize)
        #expect(ScoreboardSlot.Field.method + ScoreboardSlot.Field.methodCapacity <= ScoreboardSlot.Field.path)
        #expect(ScoreboardSlot.Field.path + ScoreboardSlot.Field.pathCapacity <= ScoreboardSlot.Field.lanes)
        #expect(ScoreboardSlot.Field.lanes + Scoreboard.lanes * 8 == Scoreboard.slotSize)
        for offset in [ScoreboardSlot.Field.busy, ScoreboardSlot.Field.requestLimit, ScoreboardSlot.Field.lanes] {
            #expect(offset % 8 == 0)
        }
    }

    @Test("A new board: magic checked on open, counters zero, start time set")
    func createAndOpen() throws {
        let (board, path) = try makeBoard("open")
        #expect(board.accepted == 0 && board.respawns == 0 && board.failures == 0)
        #expect(board.startTime > 1_600_000_000)
        #expect(board.liveSlots().isEmpty)
        let other = try #require(Scoreboard.open(path: path))
        board.count(.respawn)
        board.countAccepted()
        #expect(other.respawns == 1)
        #expect(other.accepted == 1)
        #expect(Scoreboard.open(path: path + ".missing") == nil)
    }

    @Test("A file that is not a scoreboard is refused")
    func badMagic() throws {
        let (_, path) = try makeBoard("magic")
        let fd = open(path, O_WRONLY)
        var zero: UInt64 = 0
        _ = write(fd, &zero, 8)
        close(fd)
        #expect(Scoreboard.open(path: path) == nil)
    }

    @Test("Claim, assign, ready, a request, release: what another process sees")
    func slotLifecycle() throws {
        let (board, path) = try makeBoard("slot")
        let reader = try #require(Scoreboard.open(path: path))
        board.claim(3, generation: 2)
        board.assign(3, pid: 4242)
        let view = reader.slot(3)
        #expect(view.pid == 4242)
        #expect(view.state == .starting)
        #expect(view.generation == 2)
        #expect(reader.usedSlots == 0..<4)
        #expect(reader.liveSlots().map(\.index) == [3])

        let slot = board.slot(3)
        slot.markReady()
        #expect(view.state == .ready)
        #expect(!view.isBusy)
        slot.beginRequest(lane: 0, method: "POST", path: "/v2/models/echo/infer", now: 1_000)
        #expect(view.isBusy)
        #expect(view.requests == 1)
        #expect(view.oldestRequestStart == 1_000)
        let current = try #require(view.currentRequest)
        #expect(current.method == "POST" && current.path == "/v2/models/echo/infer" && current.start == 1_000)
        #expect(slot.endRequest(lane: 0, now: 5_000) == 4_000)
        #expect(!view.isBusy)
        #expect(view.lastDuration == 4_000)
        #expect(view.currentRequest == nil)
        #expect(view.oldestRequestStart == nil)

        board.release(3)
        #expect(view.pid == 0 && view.state == .empty && view.requests == 0)
        #expect(reader.liveSlots().isEmpty)
    }

    @Test("Several accept loops: the watchdog sees the oldest request, busy until the last one ends")
    func lanes() throws {
        let (board, _) = try makeBoard("lanes")
        board.claim(0, generation: 1)
        board.assign(0, pid: 1)
        let slot = board.slot(0)
        slot.beginRequest(lane: 0, method: "GET", path: "/a", now: 100)
        slot.beginRequest(lane: 1, method: "GET", path: "/b", now: 200)
        #expect(slot.busyCount == 2)
        #expect(slot.oldestRequestStart == 100)
        #expect(slot.currentRequest?.path == "/b")
        slot.endRequest(lane: 0, now: 300)
        #expect(slot.isBusy)
        #expect(slot.oldestRequestStart == 200)
        slot.endRequest(lane: 1, now: 400)
        #expect(!slot.isBusy)
        #expect(slot.requests == 2)
    }

    @Test("A master's exiting mark is not undone by markReady")
    func exitingWins() throws {
        let (board, _) = try makeBoard("exiting")
        board.claim(0, generation: 1)
        let slot = board.slot(0)
        slot.setState(.exiting)
        slot.markReady()
        #expect(slot.state == .exiting)
    }

    @Test("Long paths are cut at a character boundary, never mid-character")
    func longPath() throws {
        let (board, _) = try makeBoard("long")
        board.claim(1, generation: 1)
        let slot = board.slot(1)
        let path = "/v2/models/" + String(repeating: "é", count: 300)
        slot.beginRequest(lane: 0, method: "GET", path: path)
        let shown = try #require(slot.currentRequest?.path)
        #expect(shown.utf8.count <= ScoreboardSlot.Field.pathCapacity - 1)
        #expect(path.hasPrefix(shown))
    }

    @Test("Maxima only go up; the last failure round-trips")
    func counters() throws {
        let (board, _) = try makeBoard("counters")
        board.observeListenQueue(5)
        board.observeListenQueue(3)
        #expect(board.maxListenQueue == 5)
        #expect(board.lastFailure == nil)
        board.recordFailure("worker 1 (pid 9) killed by SIGSEGV")
        #expect(board.lastFailure?.text == "worker 1 (pid 9) killed by SIGSEGV")
    }

    @Test("The status JSON has php-fpm's fields, and the workers with ?full")
    func statusJSON() throws {
        let (board, _) = try makeBoard("status")
        board.targetWorkers = 2
        board.claim(0, generation: 1)
        board.assign(0, pid: getpid())
        board.slot(0).markReady()
        board.claim(1, generation: 1)
        board.assign(1, pid: getpid())
        board.slot(1).markReady()
        board.slot(1).beginRequest(lane: 0, method: "GET", path: "/status")
        let status = PoolStatus(scoreboard: board, listenFD: nil, source: "worker", full: true)
        #expect(status.idle == 1 && status.active == 1 && status.total == 2)
        let json = status.json(full: true)
        for key in ["pool", "start time", "start since", "accepted conn", "listen queue", "max listen queue",
                    "idle workers", "active workers", "total workers", "respawns", "slow requests"] {
            #expect(json[key] != nil, "missing \(key)")
        }
        guard case .array(let workers)? = json["workers"] else {
            Issue.record("no workers array")
            return
        }
        #expect(workers.count == 2)
        #expect(workers[1]["state"] == .string("Busy"))
        #expect(workers[1]["request uri"] == .string("/status"))
        #expect(workers[0]["rss"] != .null)
        let text = status.prometheus()
        #expect(text.contains("\nkserve_workers_active 1\n"))
        #expect(text.contains("# TYPE kserve_worker_respawns_total counter"))
    }

    @Test("The accept queue of a listening Unix socket is read from the kernel")
    func listenQueue() throws {
        let path = "/tmp/kserve-lq-\(getpid()).sock"
        unlink(path)
        defer { unlink(path) }
        let server = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(server) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8))
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(server, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        #expect(bound == 0)
        #expect(listen(server, 7) == 0)
        var clients: [Int32] = []
        for _ in 0..<3 {
            let c = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(c, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            #expect(rc == 0)
            clients.append(c)
        }
        defer { for c in clients { close(c) } }
        let probe = try #require(ListenQueue.probe(fd: server))
        #expect(probe.length == 3)
        #expect(probe.backlog == 7)
    }
}
