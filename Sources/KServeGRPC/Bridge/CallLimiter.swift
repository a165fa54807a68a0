import NIOCore
import Synchronization

/// A counting semaphore for event-loop callers, first come first served, with a deadline per wait.
///
/// Bounds the calls the gRPC process has in flight toward the workers; a call that gets no slot before its
/// deadline is told so (and answers UNAVAILABLE) instead of waiting forever. Nothing blocks: a call that finds
/// no free slot leaves a callback, run on its own event loop when a slot is handed to it or its deadline passes.
final class CallLimiter: Sendable {
    /// A queued call.
    private struct Waiter {
        let id: UInt64
        let eventLoop: any EventLoop
        let grant: @Sendable (Bool) -> Void
        /// The deadline's timer, cancelled as soon as the wait ends another way (it holds `grant`, and whatever
        /// `grant` holds, until it fires).
        var timer: Scheduled<Void>?
    }

    private struct State {
        var available: Int
        var inFlight = 0
        var queue: [Waiter] = []
        var nextID: UInt64 = 0
    }

    private let state: Mutex<State>
    /// The number of slots.
    let limit: Int

    /// Creates a limiter with `limit` slots (at least 1).
    init(limit: Int) {
        self.limit = max(1, limit)
        state = Mutex(State(available: max(1, limit)))
    }

    /// The number of slots taken.
    var inFlight: Int { state.withLock { $0.inFlight } }

    /// The calls waiting for a slot.
    var waiting: Int { state.withLock { $0.queue.count } }

    /// Takes a slot if one is free.
    /// - Returns: `true` with a slot taken (call ``release()`` once done).
    func tryAcquire() -> Bool {
        state.withLock { s in
            guard s.available > 0, s.queue.isEmpty else { return false }
            s.available -= 1
            s.inFlight += 1
            return true
        }
    }

    /// Takes a slot now or queues for one.
    ///
    /// `grant` runs exactly once on `eventLoop`: with `true` when a slot is the caller's (call ``release()``
    /// once done), with `false` when `timeout` passed first. A slot free now is granted before this returns.
    /// - Returns: the wait's id, for ``cancel(_:)``; `nil` when the slot was granted at once.
    @discardableResult
    func acquire(
        on eventLoop: any EventLoop, timeout: TimeAmount, _ grant: @escaping @Sendable (Bool) -> Void
    ) -> UInt64? {
        let id: UInt64? = state.withLock { s in
            if s.available > 0 && s.queue.isEmpty {
                s.available -= 1
                s.inFlight += 1
                return nil
            }
            s.nextID += 1
            s.queue.append(Waiter(id: s.nextID, eventLoop: eventLoop, grant: grant))
            return s.nextID
        }
        guard let id else {
            grant(true)
            return nil
        }
        let timer = eventLoop.scheduleTask(in: timeout) { [weak self] in
            guard let self else { return }
            if self.remove(id) != nil { grant(false) }
        }
        let stillQueued = state.withLock { s in
            guard let i = s.queue.firstIndex(where: { $0.id == id }) else { return false }
            s.queue[i].timer = timer
            return true
        }
        if !stillQueued { timer.cancel() }
        return id
    }

    /// Gives up a wait (the call was cancelled); `false` when it is no longer queued (granted or expired).
    @discardableResult
    func cancel(_ id: UInt64) -> Bool {
        guard let waiter = remove(id) else { return false }
        waiter.timer?.cancel()
        return true
    }

    /// Gives a slot back, handing it to the longest waiter if there is one.
    func release() {
        let next: Waiter? = state.withLock { s in
            if !s.queue.isEmpty { return s.queue.removeFirst() }
            s.available += 1
            s.inFlight -= 1
            return nil
        }
        guard let next else { return }
        next.timer?.cancel()
        next.eventLoop.execute { next.grant(true) }
    }

    private func remove(_ id: UInt64) -> Waiter? {
        state.withLock { s in
            guard let i = s.queue.firstIndex(where: { $0.id == id }) else { return nil }
            return s.queue.remove(at: i)
        }
    }
}
