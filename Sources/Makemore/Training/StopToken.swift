import Synchronization

/// A request to stop a run after its current step: set by whoever decides
/// (a signal handler, a test), read by the training loop between chunks of
/// steps and by the MPI watchdog. One per run, passed in, so the library
/// holds no process-wide state.
public final class StopToken: Sendable {
    private let signal = Atomic<Int32>(0)

    public init() {}

    /// The signal that asked to stop, 0 while none has.
    public var requested: Int32 { signal.load(ordering: .relaxed) }

    /// Asks to stop on `sig`; returns the earlier request (0 if none).
    @discardableResult
    public func request(_ sig: Int32) -> Int32 { signal.exchange(sig, ordering: .relaxed) }

    /// Asks to stop on `sig` unless something asked already.
    public func requestIfNone(_ sig: Int32) {
        _ = signal.compareExchange(expected: 0, desired: sig, ordering: .relaxed)
    }
}
