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
}
