import Glibc
import Testing

@testable import KServeWorker

@Suite("LoopExecutor: request tasks run on the accept loop's own thread")
struct LoopExecutorTests {
    @Test("Synchronous work runs on the calling thread; the value comes back")
    func runsOnCallingThread() {
        let executor = LoopExecutor()
        let caller = pthread_self()
        let result = executor.run { () async -> (Bool, Int) in
            (pthread_equal(pthread_self(), caller) != 0, 6 * 7)
        }
        #expect(result.0, "the task's first job did not run on the accept thread")
        #expect(result.1 == 42)
    }

    @Test("Awaits that resume from other threads (sleeps, child tasks) come back to the loop's thread")
    func suspensionsResumeHere() {
        let executor = LoopExecutor()
        let caller = pthread_self()
        let result = executor.run { () async -> (Bool, Int) in
            try? await Task.sleep(for: .milliseconds(20))
            let afterSleep = pthread_equal(pthread_self(), caller) != 0
            async let a = Self.square(3)
            async let b = Self.square(4)
            let sum = await a + b
            return (afterSleep && pthread_equal(pthread_self(), caller) != 0, sum)
        }
        #expect(result.0, "the continuation after the sleep ran elsewhere")
        #expect(result.1 == 25)
    }

    @Test("One executor serves many requests in a row")
    func reusable() {
        let executor = LoopExecutor()
        var total = 0
        for i in 0..<500 {
            total += executor.run { () async -> Int in
                await Task.yield()
                return i
            }
        }
        #expect(total == 499 * 500 / 2)
    }

    static func square(_ x: Int) async -> Int {
        await Task.yield()
        return x * x
    }
}
