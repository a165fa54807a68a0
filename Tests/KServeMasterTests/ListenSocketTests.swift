import Glibc
import KServeConfig
import Testing

@testable import KServeMaster

@Suite("Listen socket and pid file")
struct ListenSocketTests {
    @Test("Binds with mode 0660, keeps a close-on-exec copy at fd >= 10, refuses a live socket, replaces a stale one")
    func lifecycle() throws {
        let folder = temporaryFolder("sock")
        let path = folder + "/k.sock"
        #expect(ListenSocket.probe(path) == .nothing)

        let (first, removedStale) = try ListenSocket.open(path: path, backlog: 16)
        #expect(!removedStale)
        #expect(first.fd >= 10)
        #expect(fcntl(first.fd, F_GETFD) & FD_CLOEXEC != 0)
        var st = stat()
        #expect(stat(path, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o660)
        #expect(ListenSocket.probe(path) == .live)
        #expect(throws: MasterError.self) { _ = try ListenSocket.open(path: path, backlog: 16) }

        // A socket file nobody listens on any more is stale and gets replaced.
        close(first.fd)
        // Tests run in parallel: a child another test is spawning at this moment (nginx -t) holds a copy of every
        // descriptor from its clone until its exec closes them, so the socket may answer a little longer.
        var state = ListenSocket.probe(path)
        for _ in 0..<200 where state == .live {
            usleep(10_000)
            state = ListenSocket.probe(path)
        }
        #expect(state == .stale)
        let (second, removed) = try ListenSocket.open(path: path, backlog: 16)
        #expect(removed)
        second.closeAndRemove()
        #expect(POSIX.fileType(path) == nil)
    }

    @Test("A regular file at the socket path is never replaced; an over-long path is refused")
    func refusals() throws {
        let folder = temporaryFolder("sock")
        let path = folder + "/not-a-socket"
        let fd = open(path, O_CREAT | O_WRONLY, 0o600)
        close(fd)
        #expect(ListenSocket.probe(path) == .notASocket)
        #expect(throws: MasterError.self) { _ = try ListenSocket.open(path: path, backlog: 16) }
        #expect(POSIX.fileType(path) == S_IFREG)
        let long = folder + "/" + String(repeating: "s", count: 120)
        #expect(throws: MasterError.self) { _ = try ListenSocket.open(path: long, backlog: 16) }
    }

    @Test("The pid file is locked: a second master on the same run folder is refused, naming the first")
    func pidFileLock() throws {
        let folder = temporaryFolder("pid")
        let path = folder + "/kserve-master.pid"
        let first = try PidFile.acquire(path)
        #expect(POSIX.readSmallFile(path) == "\(getpid())\n")
        do {
            _ = try PidFile.acquire(path)
            Issue.record("a second lock succeeded")
        } catch let error as MasterError {
            #expect(error.message.contains("pid \(getpid())"))
        }
        first.release()
        #expect(POSIX.fileType(path) == nil)
        let again = try PidFile.acquire(path)
        again.release()
    }

    @Test("Wait statuses read as exit codes and signal names")
    func waitStatus() {
        #expect(POSIX.describeWaitStatus(3 << 8) == "exit status 3")
        #expect(POSIX.describeWaitStatus(SIGKILL) == "killed by SIGKILL")
        #expect(POSIX.describeWaitStatus(SIGSEGV | 0x80) == "killed by SIGSEGV, core dumped")
    }
}
