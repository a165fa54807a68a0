import KServeConfig
import Testing

@testable import KServeMaster

@Suite("Supervisor: restart backoff and reload rules")
struct SupervisorTests {
    @Test("Backoff: 0.1 s doubling to the cap while the child keeps dying early; reset after a stable run")
    func backoff() {
        var b = Backoff(maximum: 10)
        let delays = (0..<10).map { _ in b.delay(afterUptime: 0.5, stableUptime: 10) }
        #expect(delays == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10, 10, 10])
        #expect(b.delay(afterUptime: 11, stableUptime: 10) == 0.1)
        #expect(b.delay(afterUptime: 1, stableUptime: 10) == 0.2)
        b.reset()
        #expect(b.delay(afterUptime: 0, stableUptime: 10) == 0.1)
        var capped = Backoff(maximum: 0.3)
        #expect((0..<4).map { _ in capped.delay(afterUptime: 0, stableUptime: 10) } == [0.1, 0.2, 0.3, 0.3])
    }

    @Test("A crash loop is bounded: at most a few restarts per minute once the cap is reached")
    func crashLoopRate() {
        var b = Backoff(maximum: 10)
        var t = 0.0
        var restarts = 0
        while t < 60 {
            t += 0.2 + b.delay(afterUptime: 0.2, stableUptime: 10)  // 0.2 s to crash while loading
            restarts += 1
        }
        #expect(restarts < 15)
    }

    @Test("Workers get glibc's larger thread cache, merged with the user's GLIBC_TUNABLES, never overriding theirs")
    func workerMallocTuning() {
        #expect(Supervisor.withWorkerMallocTuning(["A=1"]) == ["A=1", "GLIBC_TUNABLES=glibc.malloc.tcache_count=200"])
        #expect(Supervisor.withWorkerMallocTuning(["GLIBC_TUNABLES=glibc.malloc.arena_max=2", "B=2"])
            == ["GLIBC_TUNABLES=glibc.malloc.arena_max=2:glibc.malloc.tcache_count=200", "B=2"])
        #expect(Supervisor.withWorkerMallocTuning(["GLIBC_TUNABLES=glibc.malloc.tcache_count=7"])
            == ["GLIBC_TUNABLES=glibc.malloc.tcache_count=7"])
        #expect(Supervisor.withWorkerMallocTuning(["GLIBC_TUNABLES="]) == ["GLIBC_TUNABLES=glibc.malloc.tcache_count=200"])
    }

    @Test("Keys that need a restart are named; the rest reload")
    func restartOnlyKeys() throws {
        let a = try ServerConfig.parse(toml: "[server]\nworkers = 2", path: "/etc/k/k.conf")
        let b = try ServerConfig.parse(
            toml: "[server]\nworkers = 3\nrequest_timeout = 5\n[http]\nport = 9000", path: "/etc/k/k.conf")
        #expect(Supervisor.restartOnlyChanges(from: a, to: b).isEmpty)
        let c = try ServerConfig.parse(
            toml: "[server]\nrun_dir = \"elsewhere\"\nsocket = \"x.sock\"\n[http]\nnginx = false", path: "/etc/k/k.conf")
        #expect(Supervisor.restartOnlyChanges(from: a, to: c) == ["[server] run_dir", "[server] socket", "[http] nginx"])
        // nginx and the gRPC process cannot hand the gRPC port over in a reload; its number can change.
        let g = try ServerConfig.parse(toml: "[grpc]\nenable = true", path: "/etc/k/k.conf")
        let moved = try ServerConfig.parse(toml: "[grpc]\nenable = true\nport = 9001", path: "/etc/k/k.conf")
        let process = try ServerConfig.parse(toml: "[grpc]\nenable = true\nthrough_nginx = false", path: "/etc/k/k.conf")
        #expect(Supervisor.restartOnlyChanges(from: g, to: moved).isEmpty)
        #expect(Supervisor.restartOnlyChanges(from: g, to: process) == ["[grpc] through_nginx"])
    }

    @Test("nginx gets request_timeout as fastcgi_read_timeout; the status location follows status_path")
    func nginxValues() throws {
        let off = try ServerConfig.parse(toml: "", path: "/etc/k/k.conf")
        #expect(NginxConfig.readTimeout(off) == "300s")
        #expect(NginxConfig.statusLocation(off) == "/status")
        let on = try ServerConfig.parse(
            toml: "[server]\nrequest_timeout = 1.5\nstatus_path = \"\"", path: "/etc/k/k.conf")
        #expect(NginxConfig.readTimeout(on) == "1500ms")
        #expect(NginxConfig.statusLocation(on) == "/.kserve-status-off")
    }
}
