import Testing

@testable import KServeGRPC

@Suite("CallLimiter")
struct CallLimiterTests {
    @Test("slots are handed out first come, first served")
    func fifo() async throws {
        let limiter = CallLimiter(limit: 1)
        #expect(try await limiter.acquire(timeout: .seconds(1)))
        let order = OrderBox()
        let first = Task {
            let ok = try await limiter.acquire(timeout: .seconds(10))
            await order.append(1)
            limiter.release()
            return ok
        }
        try await Task.sleep(for: .milliseconds(50))
        let second = Task {
            let ok = try await limiter.acquire(timeout: .seconds(10))
            await order.append(2)
            limiter.release()
            return ok
        }
        try await Task.sleep(for: .milliseconds(50))
        limiter.release()
        #expect(try await first.value)
        #expect(try await second.value)
        #expect(await order.values == [1, 2])
        #expect(limiter.inFlight == 0)
    }

    @Test("a wait past its deadline fails instead of hanging")
    func timeout() async throws {
        let limiter = CallLimiter(limit: 1)
        #expect(try await limiter.acquire(timeout: .seconds(1)))
        let start = ContinuousClock.now
        #expect(try await limiter.acquire(timeout: .milliseconds(100)) == false)
        #expect(ContinuousClock.now - start < .seconds(5))
        limiter.release()
        #expect(try await limiter.acquire(timeout: .milliseconds(100)))
        limiter.release()
        #expect(limiter.inFlight == 0)
    }

    @Test("a cancelled wait throws and gives up its place")
    func cancellation() async throws {
        let limiter = CallLimiter(limit: 1)
        #expect(try await limiter.acquire(timeout: .seconds(1)))
        let waiter = Task { try await limiter.acquire(timeout: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        limiter.release()
        #expect(limiter.inFlight == 0)
        #expect(try await limiter.acquire(timeout: .milliseconds(10)))
    }

    @Test("many concurrent callers never exceed the limit")
    func bounded() async throws {
        let limiter = CallLimiter(limit: 3)
        let peak = OrderBox()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<64 {
                group.addTask {
                    guard try await limiter.acquire(timeout: .seconds(30)) else { return }
                    await peak.append(limiter.inFlight)
                    try await Task.sleep(for: .milliseconds(2))
                    limiter.release()
                }
            }
            try await group.waitForAll()
        }
        #expect(await peak.values.count == 64)
        #expect(await peak.values.max() ?? 0 <= 3)
        #expect(limiter.inFlight == 0)
    }
}

actor OrderBox {
    var values: [Int] = []
    func append(_ v: Int) { values.append(v) }
}
