import CNuma
import Foundation
import Synchronization

/// A reusable barrier for a fixed set of threads: spin briefly, then park.
///
/// In a training step the workers meet every few microseconds, far less than
/// the cost of a futex sleep and wake, so the waiting side first spins on the
/// generation counter. If the others do not arrive within the spin budget
/// (oversubscribed CPUs, a paused or finished run) it parks on a condition
/// variable, so an idle pool burns no CPU. The lock is touched only on that
/// slow path and by the last arriver when someone is parked.
public final class Barrier: @unchecked Sendable {
    public let parties: Int
    // Arrivals and the generation the waiters spin on live on separate cache
    // lines, so each arrival does not steal the line from every spinner.
    private let arrived = Atomic<Int>(0)
    private let padA: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
    private let generation = Atomic<UInt64>(0)
    private let padB: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
    private let waiting: SpinThenPark
    /// How long a waiter spins before parking, in nanoseconds.
    public var spinNanos: UInt64 { waiting.spinNanos }
    /// More threads than CPUs: yield the CPU while spinning, the thread we wait for may need it.
    public var yieldWhileSpinning: Bool { waiting.yieldWhileSpinning }

    /// The default spin budget: longer than the barrier-to-barrier gap of a
    /// step on a quiet machine (a few microseconds), short enough that a
    /// worker waiting on a CPU shared with another process hands the CPU over
    /// quickly instead of burning its time slice.
    public static let defaultSpinNanos: UInt64 = 50_000

    /// `spinNanos`: the spin budget as time, not as a count of `pause`s: a
    /// `pause` takes ~140 cycles on Intel Skylake and later but a few to
    /// ~65 on AMD Zen, so a count means a 20x different wait on different
    /// machines. The clock (CLOCK_MONOTONIC, a vDSO call of ~20 ns) is read
    /// once every `SpinThenPark.spinsPerClockRead` spins, so it costs well under 1%.
    public init(parties: Int, spinNanos: UInt64 = Barrier.defaultSpinNanos, oversubscribed: Bool = false) {
        precondition(parties >= 1)
        self.parties = parties
        waiting = SpinThenPark(spinNanos: spinNanos, oversubscribed: oversubscribed)
    }

    /// Counts `count` arrivals without waiting: for parties that will never
    /// come (a pool whose threads could not all be started).
    public func arrive(count: Int) {
        let round = generation.load(ordering: .acquiring)
        if arrived.wrappingAdd(count, ordering: .acquiringAndReleasing).newValue == parties {
            arrived.store(0, ordering: .relaxed)
            generation.store(round &+ 1, ordering: .sequentiallyConsistent)
            waiting.wakeAll()
        }
    }

    /// Blocks until all `parties` threads have called `wait` for this round.
    public func wait() {
        if parties == 1 { return }
        let round = generation.load(ordering: .acquiring)
        if arrived.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue == parties {
            // Last to arrive: reset for the next round, then release everyone.
            arrived.store(0, ordering: .relaxed)
            generation.store(round &+ 1, ordering: .sequentiallyConsistent)
            waiting.wakeAll()
            return
        }
        _ = waiting.wait { generation.load(ordering: .sequentiallyConsistent) != round }
    }
}
