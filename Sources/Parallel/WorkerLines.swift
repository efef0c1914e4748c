/// Cache lines (64 bytes, 64-aligned) of each worker's own, for the few numbers
/// a worker writes every step and reads on every item: its step markers, its
/// profile counters. Packed side by side, one worker's write would take the
/// line from every other core that reads its own number there (false
/// sharing): a miss for each of them, every step, growing with the workers.
///
/// A struct of a raw pointer, like `ClaimCounters`: using it retains nothing.
public struct WorkerLines<Element: BitwiseCopyable>: @unchecked Sendable {
    public let workers: Int
    /// Elements per worker: `count` from `init`, rounded up to whole lines.
    public let capacity: Int
    @usableFromInline let stride: Int  // bytes per worker
    @usableFromInline let base: UnsafeMutableRawPointer

    /// At least `count` elements per worker (one line's worth by default), all
    /// set to `value`; the owner calls `deallocate()`.
    public init(workers: Int, count: Int = 1, repeating value: Element) {
        let size = MemoryLayout<Element>.stride
        precondition(workers >= 1 && count >= 1 && size <= 64 && 64 % size == 0)
        self.workers = workers
        stride = (count * size + 63) / 64 * 64
        capacity = stride / size
        base = UnsafeMutableRawPointer.allocate(byteCount: workers * stride, alignment: 64)
        base.initializeMemory(as: Element.self, repeating: value, count: workers * capacity)
    }

    public func deallocate() { base.deallocate() }

    /// Worker `w`'s elements: `capacity` of them.
    @inlinable @inline(__always)
    public func line(_ w: Int) -> UnsafeMutablePointer<Element> {
        (base + w * stride).assumingMemoryBound(to: Element.self)
    }

    /// The first element of worker `w`'s line.
    @inlinable @inline(__always)
    public subscript(w: Int) -> Element {
        get { line(w).pointee }
        nonmutating set { line(w).pointee = newValue }
    }

    /// Every element of every worker set to `value`; only while no worker uses them.
    public func fill(_ value: Element) {
        for w in 0..<workers { line(w).update(repeating: value, count: capacity) }
    }
}
