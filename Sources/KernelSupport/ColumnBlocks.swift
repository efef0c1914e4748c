// The layout of the folded embedding's token tables and token sums: a
// [rows × cols] matrix (cols a multiple of 16) stored as column blocks of
// `width` floats, block after block, each block row-major:
//
//   block b = columns c0 = b·width ..< min(c0 + width, cols), at offset c0·rows,
//   element (r, c) of it at c0·rows + r·w + (c − c0), w = the block's width.
//
// Their kernels run a whole row tile over one block before the next, so what
// they look up or add into is rows × width floats (22 KB at V 29, B 3) and
// stays in L1, where the whole matrix (87 KB at H 256) would not. Row-major
// rows 1 KB apart would not do: blocks of them map to a quarter of L1's sets
// and evict each other. Up to 64 columns it is plain row-major.
public enum ColumnBlocks {
    /// Floats per block row: four vectors.
    public static let width = 64

    /// Width of the block starting at column `c0`.
    @inlinable @inline(__always)
    public static func width(at c0: Int, cols: Int) -> Int { min(width, cols - c0) }

    /// Offset of element (`row`, `col`) of a [`rows` × `cols`] matrix in this layout.
    @inlinable
    public static func offset(row: Int, col: Int, rows: Int, cols: Int) -> Int {
        let c0 = col - col % width
        return c0 * rows + row * width(at: c0, cols: cols) + (col - c0)
    }
}
