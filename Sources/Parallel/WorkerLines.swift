/// A cache line (64 bytes, 64-aligned) for each worker, for the few numbers a
/// worker writes every step and reads on every item: its step markers, its
/// profile counters. Packed side by side, one worker's write would take the
/// line from every other core that reads its own number there (false
/// sharing): a miss for each of them, every step, growing with the workers.
///
/// A struct of a raw pointer, like `ClaimCounters`: using it retains nothing.
public struct WorkerLines<Element: BitwiseCopyable>: @unchecked Sendable {
    /// How many elements a line holds.
    public static var capacity: Int { 64 / MemoryLayout<Element>.stride }

    public let workers: Int
    @usableFromInline let base: UnsafeMutableRawPointer

    /// Every element of every worker's line set to `value`; the owner calls `deallocate()`.
    public init(workers: Int, repeating value: Element) {
        precondition(workers >= 1 && WorkerLines.capacity >= 1)
        self.workers = workers
        base = UnsafeMutableRawPointer.allocate(byteCount: workers * 64, alignment: 64)
        base.initializeMemory(as: Element.self, repeating: value, count: workers * 64 / MemoryLayout<Element>.stride)
    }

    public func deallocate() { base.deallocate() }

    /// Worker `w`'s line: `capacity` elements.
    @inlinable @inline(__always)
    public func line(_ w: Int) -> UnsafeMutablePointer<Element> {
        (base + w * 64).assumingMemoryBound(to: Element.self)
    }

    /// The first element of worker `w`'s line.
    @inlinable @inline(__always)
    public subscript(w: Int) -> Element {
        get { line(w).pointee }
        nonmutating set { line(w).pointee = newValue }
    }

    /// Every element of every line set to `value`; only while no worker uses them.
    public func fill(_ value: Element) {
        for w in 0..<workers { line(w).update(repeating: value, count: WorkerLines.capacity) }
    }
}
