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
    private let sleepers = Atomic<Int>(0)
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    /// How long a waiter spins before parking, in nanoseconds.
    public let spinNanos: UInt64
    /// More threads than CPUs: yield the CPU while spinning, the thread we wait for may need it.
    public let yieldWhileSpinning: Bool

    /// The default spin budget: longer than the barrier-to-barrier gap of a
    /// step on a quiet machine (a few microseconds), short enough that a
    /// worker waiting on a CPU shared with another process hands the CPU over
    /// quickly instead of burning its time slice.
    public static let defaultSpinNanos: UInt64 = 50_000

    /// `spinNanos`: the spin budget as time, not as a count of `pause`s: a
    /// `pause` takes ~140 cycles on Intel Skylake and later but a few to
    /// ~65 on AMD Zen, so a count means a 20x different wait on different
    /// machines. The clock (CLOCK_MONOTONIC, a vDSO call of ~20 ns) is read
    /// once every `spinsPerClockRead` spins, so it costs well under 1%.
    public init(parties: Int, spinNanos: UInt64 = Barrier.defaultSpinNanos, oversubscribed: Bool = false) {
        precondition(parties >= 1)
        self.parties = parties
        self.spinNanos = spinNanos
        yieldWhileSpinning = oversubscribed
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    /// Blocks until all `parties` threads have called `wait` for this round.
    public func wait() {
        if parties == 1 { return }
        let round = generation.load(ordering: .acquiring)
        if arrived.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue == parties {
            // Last to arrive: reset for the next round, then release everyone.
            arrived.store(0, ordering: .relaxed)
            generation.store(round &+ 1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(condition)
                pthread_mutex_unlock(mutex)
            }
            return
        }
        if spinNanos == 0 {
            park(round)
            return
        }
        var spins = 0
        var deadline: UInt64 = 0  // read lazily: most waits end within the first spins
        while generation.load(ordering: .acquiring) == round {
            spins &+= 1
            if spins & (Barrier.spinsPerClockRead - 1) == 0 {
                let now = barrierClockNanos()
                if deadline == 0 {
                    deadline = now &+ spinNanos
                } else if now >= deadline {
                    park(round)
                    return
                }
            }
            if yieldWhileSpinning { sched_yield() } else { makemore_cpu_relax() }
        }
    }

    /// A power of two.
    static let spinsPerClockRead = 64

    private func park(_ round: UInt64) {
        pthread_mutex_lock(mutex)
        sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
        while generation.load(ordering: .sequentiallyConsistent) == round {
            pthread_cond_wait(condition, mutex)
        }
        sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
        pthread_mutex_unlock(mutex)
    }
}

@inline(__always)
func barrierClockNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}
