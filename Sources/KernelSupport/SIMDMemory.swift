import _KernelsShim

// Vector loads and stores on raw Float pointers.
//
// Every buffer in this module is a flat, row-major `Float` array whose rows are
// padded to a multiple of 16 (see `paddedTo16`), so a row is a whole number of
// SIMD16 vectors and no kernel needs a masked tail on its vector dimension.
// Loads are unaligned on purpose: `SIMD16<Float>` only promises 16-byte
// alignment, and on AVX-512 an unaligned load of aligned data costs nothing.

public typealias Vec = SIMD16<Float>

/// Lanes in one vector; vector dimensions are padded to a multiple of this.
public let vecWidth = 16

/// `n` rounded up to a multiple of the vector width.
@inlinable public func paddedTo16(_ n: Int) -> Int { (n + 15) & ~15 }

@inlinable @inline(__always)
public func load(_ p: UnsafePointer<Float>) -> Vec {
    UnsafeRawPointer(p).loadUnaligned(as: Vec.self)
}

@inlinable @inline(__always)
public func load(_ p: UnsafeMutablePointer<Float>) -> Vec {
    UnsafeRawPointer(p).loadUnaligned(as: Vec.self)
}

@inlinable @inline(__always)
public func store(_ v: Vec, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec.self)
}

// Horizontal reductions and lane-wise max through the C shim: the standard
// library's generic versions compile to scalar loops here (see KernelsShim.h).

@_transparent
public func horizontalSum(_ v: Vec) -> Float { mm_reduce_add16(v) }

@_transparent
public func horizontalMax(_ v: Vec) -> Float { mm_reduce_max16(v) }

/// Lane-wise a > b ? a : b (one vmaxps): a NaN in either operand gives b,
/// so NaNs are neither skipped nor reliably kept (see `mm_max16`).
@_transparent
public func vmax(_ a: Vec, _ b: Vec) -> Vec { mm_max16(a, b) }
