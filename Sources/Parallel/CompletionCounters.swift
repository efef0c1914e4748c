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
    private let waiting: SpinThenPark
    public var spinNanos: UInt64 { waiting.spinNanos }
    /// More threads than CPUs: yield while spinning. Set while no one waits.
    public var yieldWhileSpinning: Bool {
        get { waiting.yieldWhileSpinning }
        set { waiting.yieldWhileSpinning = newValue }
    }

    public init(count: Int, spinNanos: UInt64 = Barrier.defaultSpinNanos, oversubscribed: Bool = false) {
        counts = ClaimCounters(count: count)
        waiting = SpinThenPark(spinNanos: spinNanos, oversubscribed: oversubscribed)
    }

    deinit { counts.deallocate() }

    /// Counts one more item of counter `i` done; whoever brings it to
    /// `target` (the count at which waiters go on) wakes the parked ones.
    /// Everything the caller wrote before is visible to a thread whose
    /// `wait`/`reached` then sees the count.
    @inline(__always)
    public func add(_ i: Int, target: Int) {
        let now = counts.slots[i].value.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue
        if now == target { waiting.wakeAll() }
    }

    /// `add` by a worker alone in its dispatch (the pool's other threads, if
    /// any, wait at its join barrier): no one else counts or waits, so a load
    /// and a store instead of a locked add, and no one to wake.
    @inline(__always)
    public func addAlone(_ i: Int) {
        counts.slots[i].value.store(counts.slots[i].value.load(ordering: .relaxed) + 1, ordering: .relaxed)
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
        return waiting.wait { counts.slots[i].value.load(ordering: .sequentiallyConsistent) >= target }
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

    /// `claim(_:below:)` for a counter no other thread touches meanwhile (a
    /// worker alone in its dispatch): a load and a store instead of a locked
    /// compare-exchange. With `addAlone`, about 1.5% of a one-thread step at batch 32.
    @inlinable @inline(__always)
    public func claimAlone(_ i: Int, below limit: Int) -> Int? {
        let c = slots[i].value.load(ordering: .relaxed)
        guard c < limit else { return nil }
        slots[i].value.store(c + 1, ordering: .relaxed)
        return c
    }
}
