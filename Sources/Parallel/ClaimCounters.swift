import Synchronization

/// Shared counters from which workers claim work items one at a time: the
/// next free shard of a phase, the next chunk of the parameter vector. A
/// worker that runs slowly (its CPU shared with another process, a page
/// fault, an interrupt) simply claims fewer items, instead of holding every
/// other worker at the next barrier until its fixed block is done.
///
/// Which worker computes an item never changes what is computed (each item
/// writes its own buffers, results are combined in item order), so claiming
/// keeps a run bit-identical for any thread count.
///
/// Each counter has a cache line to itself. Claims are relaxed atomic
/// increments: the counter only hands out distinct numbers; the data an item
/// reads and writes is ordered by the barriers around the phase. Resetting a
/// counter is the caller's job and must happen while no one claims from it;
/// see `ParallelSteps` for the rule the training step follows.
public struct ClaimCounters: @unchecked Sendable {
    @usableFromInline
    struct Slot: ~Copyable {
        @usableFromInline let value: Atomic<Int>
        let pad: (Int, Int, Int, Int, Int, Int, Int)
    }

    public let count: Int
    // A struct of a raw pointer, not a class: claiming retains nothing.
    @usableFromInline let slots: UnsafeMutablePointer<Slot>

    /// `count` counters at 0; the owner calls `deallocate()` when done.
    public init(count: Int) {
        precondition(count >= 1 && MemoryLayout<Slot>.stride == 64)
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: count * 64, alignment: 64)
        slots = raw.bindMemory(to: Slot.self, capacity: count)
        for i in 0..<count { (slots + i).initialize(to: Slot(value: Atomic(0), pad: (0, 0, 0, 0, 0, 0, 0))) }
    }

    public func deallocate() {
        slots.deinitialize(count: count)
        UnsafeMutableRawPointer(slots).deallocate()
    }

    /// The next number of counter `i` (0, 1, 2, … since its last reset).
    @inlinable @inline(__always)
    public func claim(_ i: Int) -> Int {
        slots[i].value.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    /// Sets counter `i` back to 0. Only while no thread claims from it; a
    /// barrier before the next claim publishes the reset.
    @inlinable @inline(__always)
    public func reset(_ i: Int) {
        slots[i].value.store(0, ordering: .relaxed)
    }

    /// The current value of counter `i` (for tests).
    public func value(_ i: Int) -> Int {
        slots[i].value.load(ordering: .relaxed)
    }
}
