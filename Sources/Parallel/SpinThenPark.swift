import CNuma
import Foundation
import Synchronization

/// How a thread waits for a condition another thread makes true: spin for a
/// time budget, then sleep on a condition variable. The waker takes the lock
/// only when someone sleeps. Shared by `Barrier` and `CompletionCounters`.
///
/// No lost wake-up: a sleeper counts itself in `sleepers` and then checks the
/// condition under the lock; a waker makes the condition true and then reads
/// `sleepers` — all sequentially consistent, so one of the two sees the other.
final class SpinThenPark: @unchecked Sendable {
    /// How long a waiter spins before parking, in nanoseconds (0: park at once).
    let spinNanos: UInt64
    /// More threads than CPUs: yield the CPU while spinning, the thread waited for may need it.
    var yieldWhileSpinning: Bool
    private let sleepers = Atomic<Int>(0)
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    /// The clock (CLOCK_MONOTONIC, a vDSO call of ~20 ns) is read once every
    /// this many spins (a power of two), so it costs well under 1%.
    static let spinsPerClockRead = 64

    init(spinNanos: UInt64, oversubscribed: Bool) {
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

    /// Returns once `done()` (which must read with sequentially consistent
    /// loads) is true; true if it had to park.
    @inline(__always)
    func wait(until done: () -> Bool) -> Bool {
        if spinNanos > 0 {
            var spins = 0
            var deadline: UInt64 = 0  // read lazily: most waits end within the first spins
            while !done() {
                spins &+= 1
                if spins & (SpinThenPark.spinsPerClockRead - 1) == 0 {
                    let now = spinClockNanos()
                    if deadline == 0 {
                        deadline = now &+ spinNanos
                    } else if now >= deadline {
                        break
                    }
                }
                if yieldWhileSpinning { sched_yield() } else { makemore_cpu_relax() }
            }
            if done() { return false }
        }
        pthread_mutex_lock(mutex)
        sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
        while !done() { pthread_cond_wait(condition, mutex) }
        sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
        pthread_mutex_unlock(mutex)
        return true
    }

    /// Wakes every parked waiter; call after making their condition true.
    @inline(__always)
    func wakeAll() {
        guard sleepers.load(ordering: .sequentiallyConsistent) > 0 else { return }
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }
}

@inline(__always)
func spinClockNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}
