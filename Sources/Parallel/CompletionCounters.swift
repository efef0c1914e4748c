import CNuma
import Foundation
import Synchronization

/// Counts of finished work items that threads wait on, instead of a barrier
/// at which every thread must arrive.
///
/// With a barrier, a thread that its CPU's scheduler has put aside (another
/// process shares the CPU) holds everyone up until it runs again, even when
/// it has no work left. Here a stage is over when its items are done,
/// whoever did them: a waiter spins on the count for up to `spinNanos`, then
/// parks on a condition variable; the thread that finishes a stage's last
/// item wakes the parked ones (the lock is only touched when someone is parked).
public final class CompletionCounters: @unchecked Sendable {
    private let counts: ClaimCounters
    private let sleepers = Atomic<Int>(0)
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    public let spinNanos: UInt64
    /// More threads than CPUs: yield while spinning. Set while no one waits.
    public var yieldWhileSpinning: Bool

    public init(count: Int, spinNanos: UInt64 = Barrier.defaultSpinNanos, oversubscribed: Bool = false) {
        counts = ClaimCounters(count: count)
        self.spinNanos = spinNanos
        yieldWhileSpinning = oversubscribed
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        counts.deallocate()
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    /// Counts one more item of counter `i` done; whoever brings it to
    /// `target` (the count at which waiters go on) wakes the parked ones.
    /// Everything the caller wrote before is visible to a thread whose
    /// `wait`/`reached` then sees the count.
    @inline(__always)
    public func add(_ i: Int, target: Int) {
        let now = counts.slots[i].value.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue
        if now == target && sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(condition)
            pthread_mutex_unlock(mutex)
        }
    }

    /// Whether counter `i` has reached `target`.
    @inline(__always)
    public func reached(_ i: Int, _ target: Int) -> Bool {
        counts.slots[i].value.load(ordering: .acquiring) >= target
    }

    /// Returns once counter `i` has reached `target`; true if it had to park.
    @discardableResult
    public func wait(_ i: Int, until target: Int) -> Bool {
        if reached(i, target) { return false }
        var spins = 0
        var deadline: UInt64 = 0
        while !reached(i, target) {
            spins &+= 1
            if spins & 63 == 0 {
                let now = barrierClockNanos()
                if deadline == 0 {
                    deadline = now &+ spinNanos
                } else if now >= deadline {
                    park(i, target)
                    return true
                }
            }
            if yieldWhileSpinning { sched_yield() } else { makemore_cpu_relax() }
        }
        return false
    }

    private func park(_ i: Int, _ target: Int) {
        pthread_mutex_lock(mutex)
        sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
        while counts.slots[i].value.load(ordering: .sequentiallyConsistent) < target {
            pthread_cond_wait(condition, mutex)
        }
        sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
        pthread_mutex_unlock(mutex)
    }

    /// Sets counter `i` to 0; only while no thread adds to or waits on it.
    public func reset(_ i: Int) { counts.reset(i) }

    public func value(_ i: Int) -> Int { counts.value(i) }
}

extension ClaimCounters {
    /// The next number of counter `i` if it is below `limit`, else nil. Unlike
    /// `claim`, never moves the counter past `limit`, so counters can run on
    /// across rounds: round r hands out [r·n, (r+1)·n), and a thread still in
    /// round r can never take a number of round r + 1.
    @inlinable @inline(__always)
    public func claim(_ i: Int, below limit: Int) -> Int? {
        var c = slots[i].value.load(ordering: .relaxed)
        while c < limit {
            let (done, seen) = slots[i].value.compareExchange(expected: c, desired: c + 1, ordering: .relaxed)
            if done { return c }
            c = seen
        }
        return nil
    }
}
