// The shared vocabulary of the matrix products: how accumulators start and
// which register blocking computes a product. Both ISA builds of the kernels
// (Kernels for AVX2, KernelsAVX512) take these same types.

/// Where the accumulators of `gemm` start.
public enum GemmInit {
    /// C = A·B
    case zero
    /// C = bias + A·B, bias broadcast over rows (length n).
    case bias(UnsafePointer<Float>)
    /// C += A·B: continues each output's chain where the last call left it,
    /// so a product over k split into consecutive calls is the same chain,
    /// bit for bit (the engine's row tiles rely on it).
    case accumulate
}

/// A register blocking of `gemm`: `rows` rows of C × `vectors` SIMD16 vectors
/// of columns, all held in registers for the whole k loop.
///
/// Every tile accumulates each output element in one chain, init then
/// k = 0, 1, 2, … in order, so the choice of tile changes the speed and
/// never a bit of the result. The best tile depends on the register file
/// (16 ymm on AVX2, where a SIMD16 takes two; 32 zmm on AVX-512), the number
/// of FMA pipes and their latency, and the product's shape; it is picked by
/// timing on the machine itself (see the engine's tuner).
public struct GemmTile: Hashable, Sendable, CustomStringConvertible {
    public let rows: Int
    public let vectors: Int

    /// The candidates, in order of preference on a tie. Enough accumulators to
    /// cover 2 pipes × 4-5 cycles of FMA latency on every family, few enough
    /// not to spill: 2·rows·vectors ymm of 16 on AVX2, rows·vectors zmm of 32 on AVX-512.
    public static let all: [GemmTile] = [
        GemmTile(4, 4), GemmTile(6, 4), GemmTile(8, 2), GemmTile(12, 2), GemmTile(14, 2), GemmTile(8, 3),
        GemmTile(16, 1), GemmTile(24, 1), GemmTile(6, 1), GemmTile(4, 1), GemmTile(3, 2), GemmTile(2, 2), GemmTile(4, 2),
    ]

    public init(_ rows: Int, _ vectors: Int) {
        self.rows = rows
        self.vectors = vectors
    }

    /// "6x1", the spelling of the tuning cache and `makemore tune`.
    public var description: String { "\(rows)x\(vectors)" }

    public init?(_ text: String) {
        let parts = text.split(separator: "x")
        guard parts.count == 2, let r = Int(parts[0]), let v = Int(parts[1]),
              let t = GemmTile.all.first(where: { $0.rows == r && $0.vectors == v }) else { return nil }
        self = t
    }
}
