import KServeConfig
import Testing

@Suite("[grpc] bridge keys")
struct GRPCConfigTests {
    static func parse(_ grpc: String) throws -> ServerConfig {
        try ServerConfig.parse(toml: "[grpc]\n" + grpc + "\n[[models]]\nname = \"m\"\nkind = \"echo\"\n", path: "/etc/kserve/k.conf")
    }

    @Test("defaults: automatic slots, 30 s queue timeout")
    func defaults() throws {
        let c = try Self.parse("")
        #expect(c.grpc.maxConcurrentCalls == 0)
        #expect(c.grpc.queueTimeout == 30)
        #expect(c.grpc.maxConcurrentStreams == 1000)
    }

    @Test("explicit values")
    func values() throws {
        let c = try Self.parse("max_concurrent_calls = 12\nqueue_timeout = 0.5\nmax_concurrent_streams = 64")
        #expect(c.grpc.maxConcurrentCalls == 12)
        #expect(c.grpc.queueTimeout == 0.5)
        #expect(c.grpc.maxConcurrentStreams == 64)
    }

    @Test("bad values name the key")
    func errors() {
        for (text, key) in [("max_concurrent_calls = -1", "max_concurrent_calls"), ("queue_timeout = -2", "queue_timeout"),
                            ("queue_timeout = \"soon\"", "queue_timeout"), ("max_concurrent_streams = 0", "max_concurrent_streams")] {
            let error = #expect(throws: ConfigError.self) { try Self.parse(text) }
            #expect("\(error.map { "\($0)" } ?? "")".contains(key))
        }
    }
}
