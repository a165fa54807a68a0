import Synchronization

/// A counting semaphore for async callers, first come first served, with a deadline per wait.
///
/// Bounds the calls the gRPC process has in flight toward the workers; a caller that gets no slot before its
/// deadline is told so (and answers UNAVAILABLE) instead of waiting forever.
final class CallLimiter: Sendable {
    private enum Waiter {
        /// Queued for a slot, its continuation not registered yet.
        case pending
        case waiting(CheckedContinuation<Bool, any Error>)
        /// Cancelled or timed out before its continuation was registered.
        case cancelled
        case expired
    }

    private struct State {
        var available: Int
        var waiters: [UInt64: Waiter] = [:]
        var queue: [UInt64] = []
        var nextID: UInt64 = 0
        var inFlight = 0
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

    /// Takes a slot, waiting up to `timeout` for one to free.
    /// - Returns: `true` with a slot taken (call ``release()`` once done), `false` when the deadline passed.
    /// - Throws: `CancellationError` when the task is cancelled while waiting.
    func acquire(timeout: Duration) async throws -> Bool {
        let id: UInt64? = state.withLock { s in
            if s.available > 0 {
                s.available -= 1
                s.inFlight += 1
                return nil
            }
            s.nextID += 1
            s.waiters[s.nextID] = .pending
            return s.nextID
        }
        guard let id else { return true }
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            if !Task.isCancelled { self?.resolve(id, .expired) }
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Bool, any Error>) in
                let early: Waiter? = state.withLock { s in
                    switch s.waiters.removeValue(forKey: id) {
                    case .cancelled?: return .cancelled
                    case .expired?: return .expired
                    case .waiting?, nil: return .expired  // unreachable: only this registration sets .waiting
                    case .pending?:
                        if s.available > 0 {  // a slot freed between the two locks
                            s.available -= 1
                            s.inFlight += 1
                            return .waiting(continuation)
                        }
                        s.waiters[id] = .waiting(continuation)
                        s.queue.append(id)
                        return nil
                    }
                }
                switch early {
                case .cancelled?: continuation.resume(throwing: CancellationError())
                case .expired?: continuation.resume(returning: false)
                case .waiting?, .pending?: continuation.resume(returning: true)
                case nil: break
                }
            }
        } onCancel: {
            resolve(id, .cancelled)
        }
    }

    /// Gives a slot back, handing it to the longest waiter if there is one.
    func release() {
        let next: CheckedContinuation<Bool, any Error>? = state.withLock { s in
            while !s.queue.isEmpty {
                let id = s.queue.removeFirst()
                if case .waiting(let c)? = s.waiters.removeValue(forKey: id) { return c }
            }
            s.available += 1
            s.inFlight -= 1
            return nil
        }
        next?.resume(returning: true)
    }

    /// Ends a wait without a slot (cancelled or expired); remembers the outcome if the waiter is not queued yet.
    private func resolve(_ id: UInt64, _ outcome: Waiter) {
        let continuation: CheckedContinuation<Bool, any Error>? = state.withLock { s in
            switch s.waiters[id] {
            case .waiting(let c)?:
                s.waiters[id] = nil
                s.queue.removeAll { $0 == id }
                return c
            case .pending?:
                s.waiters[id] = outcome  // the registration will see it
                return nil
            default:
                return nil  // already resolved or handed a slot
            }
        }
        guard let continuation else { return }
        if case .cancelled = outcome {
            continuation.resume(throwing: CancellationError())
        } else {
            continuation.resume(returning: false)
        }
    }
}
