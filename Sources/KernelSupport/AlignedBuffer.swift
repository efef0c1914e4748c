import Foundation

/// A zero-filled, 64-byte-aligned block of `T` that lives as long as its owner.
///
/// The training step works on raw pointers carved out of these blocks: a
/// pointer in a struct costs no reference counting, an array or class field
/// read inside the hot loop would. Cache-line alignment keeps one worker's
/// buffers from sharing a line with another's.
public final class AlignedBuffer<T> {
    public let base: UnsafeMutablePointer<T>
    public let count: Int

    public init(count: Int) {
        self.count = count
        var raw: UnsafeMutableRawPointer?
        let bytes = max(64, count * MemoryLayout<T>.stride)
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            fatalError("out of memory allocating \(bytes) bytes")  // sizes are checked before we get here
        }
        memset(raw, 0, bytes)
        base = raw.bindMemory(to: T.self, capacity: max(count, 1))
    }

    deinit { free(base) }
}

/// Hands out consecutive 16-element-aligned slices of one buffer.
public struct Carver<T> {
    public private(set) var used = 0
    let base: UnsafeMutablePointer<T>?

    /// A counting carver: `take` returns nil pointers; use `used` to size the buffer.
    public init() { base = nil }
    public init(_ buffer: AlignedBuffer<T>) { base = buffer.base }

    public mutating func take(_ count: Int) -> UnsafeMutablePointer<T> {
        let p = (base ?? UnsafeMutablePointer(bitPattern: 64)!) + used
        used += paddedTo16(count)
        return p
    }
}
