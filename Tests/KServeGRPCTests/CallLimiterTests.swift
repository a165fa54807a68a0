import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import KServeGRPC

@Suite("CallLimiter")
struct CallLimiterTests {
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    /// Waits (polling) until `condition` holds or 10 s pass.
    static func eventually(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
    }

    @Test("a free slot is granted at once; queued calls get slots first come, first served")
    func fifo() async throws {
        let limiter = CallLimiter(limit: 1)
        let loop = Self.group.next()
        #expect(limiter.tryAcquire())
        #expect(!limiter.tryAcquire())
        let order = Mutex<[Int]>([])
        let first = limiter.acquire(on: loop, timeout: .seconds(10)) { ok in order.withLock { $0.append(ok ? 1 : -1) } }
        let second = limiter.acquire(on: loop, timeout: .seconds(10)) { ok in order.withLock { $0.append(ok ? 2 : -2) } }
        #expect(first != nil && second != nil)
        #expect(limiter.waiting == 2)
        limiter.release()  // to the first waiter
        try await Self.eventually { order.withLock { $0.count } == 1 }
        #expect(order.withLock { $0 } == [1])
        limiter.release()  // to the second
        try await Self.eventually { order.withLock { $0.count } == 2 }
        #expect(order.withLock { $0 } == [1, 2])
        limiter.release()
        #expect(limiter.inFlight == 0)
        #expect(limiter.tryAcquire())
        limiter.release()
    }

    @Test("a wait past its deadline is told so instead of hanging, and leaves the queue")
    func timeout() async throws {
        let limiter = CallLimiter(limit: 1)
        #expect(limiter.tryAcquire())
        let outcome = Mutex<Bool?>(nil)
        let start = ContinuousClock.now
        limiter.acquire(on: Self.group.next(), timeout: .milliseconds(100)) { ok in outcome.withLock { $0 = ok } }
        try await Self.eventually { outcome.withLock { $0 } != nil }
        #expect(outcome.withLock { $0 } == false)
        #expect(ContinuousClock.now - start >= .milliseconds(90))
        #expect(limiter.waiting == 0)
        limiter.release()
        #expect(limiter.inFlight == 0)
    }

    @Test("a cancelled wait gives up its place and is never granted")
    func cancellation() async throws {
        let limiter = CallLimiter(limit: 1)
        #expect(limiter.tryAcquire())
        let called = Mutex(false)
        let id = try #require(limiter.acquire(on: Self.group.next(), timeout: .seconds(60)) { _ in called.withLock { $0 = true } })
        #expect(limiter.cancel(id))
        #expect(!limiter.cancel(id))
        limiter.release()
        #expect(limiter.inFlight == 0)
        try await Task.sleep(for: .milliseconds(50))
        #expect(!called.withLock { $0 })
    }

    @Test("many concurrent callers never exceed the limit")
    func bounded() async throws {
        let limiter = CallLimiter(limit: 3)
        let peak = Mutex(0)
        let done = Mutex(0)
        for k in 0..<64 {
            let loop = Self.group.next()
            limiter.acquire(on: loop, timeout: .seconds(30)) { ok in
                guard ok else { return }
                peak.withLock { $0 = max($0, limiter.inFlight) }
                loop.scheduleTask(in: .milliseconds(Int64(1 + k % 3))) {
                    limiter.release()
                    done.withLock { $0 += 1 }
                }
            }
        }
        try await Self.eventually { done.withLock { $0 } == 64 }
        #expect(done.withLock { $0 } == 64)
        #expect(peak.withLock { $0 } <= 3)
        #expect(limiter.inFlight == 0)
    }

    @Test("a wait that got its slot releases its callback at once (its 30 s timer does not keep the call's buffers alive)")
    func grantedWaitFreesItsCallback() async throws {
        final class Payload: Sendable {}
        let limiter = CallLimiter(limit: 1)
        #expect(limiter.tryAcquire())
        weak var watched: Payload?
        let granted = Mutex(false)
        do {
            let payload = Payload()
            watched = payload
            limiter.acquire(on: Self.group.next(), timeout: .seconds(30)) { ok in
                _ = payload
                granted.withLock { $0 = ok }
            }
        }
        #expect(watched != nil)  // held by the queued wait
        limiter.release()
        try await Self.eventually { granted.withLock { $0 } && watched == nil }
        #expect(granted.withLock { $0 })
        #expect(watched == nil, "the granted wait's callback (and what it holds) must not outlive it")
        limiter.release()
    }
}
