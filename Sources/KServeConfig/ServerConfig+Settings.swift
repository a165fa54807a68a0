import KServeProtocol

extension ServerConfig {
    /// gRPC calls in flight toward the workers at most (KServe's `max_threads`): `[grpc] max_concurrent_calls`,
    /// or when that is 0, workers x threads x 2 (every accept loop has one call in progress and one waiting).
    public var grpcCallsInFlight: Int {
        grpc.maxConcurrentCalls > 0 ? grpc.maxConcurrentCalls : max(1, server.workers) * max(1, server.threads) * 2
    }

    /// KServe's names for this pool's concurrency, as the status page shows them: `max_asyncio_workers` (accept
    /// loops per worker, `[server] threads`) and `max_threads` (gRPC calls in flight; null without gRPC).
    public var statusPageSettings: [(key: String, value: JSONValue)] {
        [
            ("max_asyncio_workers", .int(Int64(server.threads))),
            ("max_threads", grpc.enable ? .int(Int64(grpcCallsInFlight)) : .null),
        ]
    }
}
