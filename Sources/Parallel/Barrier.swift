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
    /// Spin iterations before parking; each is a `pause`.
    private let spinLimit: Int
    /// More threads than CPUs: yield the CPU while spinning, the thread we wait for may need it.
    private let yieldWhileSpinning: Bool

    /// `spinLimit`: 2^14 `pause`s is tens of microseconds, longer than any
    /// phase of a step, shorter than a user would notice as a busy core.
    public init(parties: Int, spinLimit: Int = 1 << 14, oversubscribed: Bool = false) {
        precondition(parties >= 1)
        self.parties = parties
        self.spinLimit = spinLimit
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
        var spins = 0
        while generation.load(ordering: .acquiring) == round {
            spins += 1
            if spins >= spinLimit {
                park(round)
                return
            }
            if yieldWhileSpinning { sched_yield() } else { makemore_cpu_relax() }
        }
    }

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
