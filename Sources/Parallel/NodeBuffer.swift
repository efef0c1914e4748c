import CNuma
import Foundation

/// Zeroed memory placed on one NUMA node: `numa_alloc_onnode` where libnuma
/// works and the node exists, otherwise ordinary 64-byte-aligned memory (a
/// one-node machine, or the virtual nodes of a topology override).
public final class NodeBuffer<T> {
    public let base: UnsafeMutablePointer<T>
    public let count: Int
    /// Whether the memory really is bound to the node.
    public let placed: Bool
    private let bytes: Int

    public init(count: Int, node: Int) {
        self.count = count
        bytes = max(64, count * MemoryLayout<T>.stride)
        if numa_available() >= 0, node >= 0, node <= Int(numa_max_node()),
           numa_bitmask_isbitset(numa_all_nodes_ptr, UInt32(node)) != 0,
           let raw = numa_alloc_onnode(bytes, Int32(node)) {
            memset(raw, 0, bytes)  // also the first touch, on the bound node
            base = raw.bindMemory(to: T.self, capacity: max(count, 1))
            placed = true
        } else {
            var raw: UnsafeMutableRawPointer?
            guard posix_memalign(&raw, 64, bytes) == 0, let raw else { fatalError("out of memory allocating \(bytes) bytes") }
            memset(raw, 0, bytes)
            base = raw.bindMemory(to: T.self, capacity: max(count, 1))
            placed = false
        }
    }

    deinit {
        if placed { numa_free(UnsafeMutableRawPointer(base), bytes) } else { free(base) }
    }
}
