import Synchronization

/// Whether the process is draining, and how many calls are in flight (so the drain can wait for them).
final class ProcessLifecycle: Sendable {
    private struct State {
        var draining = false
        var calls = 0
    }

    private let state = Mutex(State())

    /// Counts a new call in; `false` once draining.
    func beginCall() -> Bool {
        state.withLock { s in
            if s.draining { return false }
            s.calls += 1
            return true
        }
    }

    /// Counts a call out.
    func endCall() {
        state.withLock { $0.calls -= 1 }
    }

    /// Starts draining: new calls are refused from now on.
    func beginDrain() {
        state.withLock { $0.draining = true }
    }

    /// Whether a drain has begun.
    var isDraining: Bool { state.withLock { $0.draining } }

    /// Calls still in flight.
    var inFlight: Int { state.withLock { $0.calls } }
}
