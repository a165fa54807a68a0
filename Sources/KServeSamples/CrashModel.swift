import Glibc
import KServe

/// `crash`: `load()` kills its worker process with SIGSEGV, like a model whose native loader segfaults. For
/// exercising the master's crash-loop handling (respawn backoff, the status page's failures); never ready.
public final class CrashModel: Model, @unchecked Sendable {
    public override func load() async throws {
        // The default action, not the Swift runtime's backtracer: die at once, as a native crash would.
        signal(SIGSEGV, SIG_DFL)
        raise(SIGSEGV)
    }
}
