import KernelSupport
import Kernels
import XCTest

/// Gather and scatter-add have a straight-line copy for the common widths
/// and a loop for any other; every width must move the same floats, and the
/// scatter must add in (row, piece) order, the order a scalar loop adds in.
final class EmbeddingTests: XCTestCase {
    func testEveryWidthMatchesAScalarLoop() {
        var state: UInt64 = 5
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2_000_001) / 1_000_000 - 1
        }
        for dim in [1, 3, 7, 10, 15, 16, 17, 24] {
            let (vocab, rows, perRow) = (5, 37, 3)
            let ld = paddedTo16(perRow * dim)
            let table = (0..<(vocab * dim)).map { _ in next() }
            let indices = (0..<(rows * perRow)).map { _ in Int32(Int(next() * 1000 + 1000) % vocab) }
            let grad = (0..<(rows * ld)).map { _ in next() }

            var gathered = [Float](repeating: 0, count: rows * ld)
            embeddingGather(table: table, dim: dim, indices: indices, rows: rows, perRow: perRow, out: &gathered, ldo: ld)
            var expected = [Float](repeating: 0, count: rows * ld)
            for i in 0..<rows { for j in 0..<perRow { for e in 0..<dim {
                expected[i * ld + j * dim + e] = table[Int(indices[i * perRow + j]) * dim + e]
            } } }
            XCTAssertEqual(gathered.map(\.bitPattern), expected.map(\.bitPattern), "gather, E \(dim)")

            var dtable = table  // start from nonzero values: the order of the adds shows in the bits
            embeddingScatterAdd(grad: grad, ldg: ld, dim: dim, indices: indices, rows: rows, perRow: perRow, table: &dtable)
            var sums = table
            for i in 0..<rows { for j in 0..<perRow { for e in 0..<dim {
                sums[Int(indices[i * perRow + j]) * dim + e] += grad[i * ld + j * dim + e]
            } } }
            XCTAssertEqual(dtable.map(\.bitPattern), sums.map(\.bitPattern), "scatter-add, E \(dim)")
        }
    }

    /// The folded embedding's kernels read and write column blocks
    /// (`ColumnBlocks`): full and narrower last blocks, block size 3 (its own
    /// code) and others, against scalar loops over the same layout, bit for bit.
    func testTokenKernelsMatchAScalarLoopInColumnBlocks() {
        var state: UInt64 = 9
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2_000_001) / 1_000_000 - 1
        }
        for cols in [16, 64, 80, 208, 256] {
            for perRow in [1, 3, 4] {
                let (vocab, rows) = (7, 29)
                let tableRows = perRow * vocab
                func at(_ r: Int, _ c: Int) -> Int { ColumnBlocks.offset(row: r, col: c, rows: tableRows, cols: cols) }
                let tables = (0..<(tableRows * cols)).map { _ in next() }
                let indices = (0..<(rows * perRow)).map { _ in Int32(Int(next() * 1000 + 1000) % vocab) }
                let x = (0..<(rows * cols)).map { _ in next() }

                var out = [Float](repeating: 0, count: rows * cols)
                tokenTableSums(tables, vocab: vocab, cols: cols, indices: indices, perRow: perRow, rows: rows, out: &out, ldo: cols)
                var expected = [Float](repeating: 0, count: rows * cols)
                for i in 0..<rows { for c in 0..<cols {
                    var sum = tables[at(Int(indices[i * perRow]), c)]
                    for j in 1..<perRow { sum += tables[at(j * vocab + Int(indices[i * perRow + j]), c)] }
                    expected[i * cols + c] = sum
                } }
                XCTAssertEqual(out.map(\.bitPattern), expected.map(\.bitPattern), "table sums, cols \(cols), B \(perRow)")

                var sums = tables  // nonzero start: the order of the adds shows in the bits
                embeddingRowSums(x, count: rows, cols: cols, indices: indices, vocab: vocab, perRow: perRow, sums: &sums)
                var scalar = tables
                for i in 0..<rows { for j in 0..<perRow { for c in 0..<cols {
                    scalar[at(Int(indices[i * perRow + j]) * perRow + j, c)] += x[i * cols + c]
                } } }
                XCTAssertEqual(sums.map(\.bitPattern), scalar.map(\.bitPattern), "row sums, cols \(cols), B \(perRow)")
            }
        }
    }

    func testColumnBlockOffsetsCoverTheMatrixOnce() {
        for cols in [16, 64, 80, 208, 256] {
            let rows = 5
            var seen = [Int](repeating: 0, count: rows * cols)
            for r in 0..<rows { for c in 0..<cols { seen[ColumnBlocks.offset(row: r, col: c, rows: rows, cols: cols)] += 1 } }
            XCTAssertEqual(Set(seen), [1], "cols \(cols)")
            // Up to one block wide it is row-major.
            if cols <= ColumnBlocks.width { XCTAssertEqual(ColumnBlocks.offset(row: 3, col: 5, rows: rows, cols: cols), 3 * cols + 5) }
        }
    }
}
