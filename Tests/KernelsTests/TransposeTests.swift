import Kernels
import XCTest

/// The 8×8 blocks and the scalar edges together move every float of the
/// requested columns, and nothing else: dst's padding stays put, except that
/// the rows' floats up to the next multiple of 8 may become zeros.
final class TransposeTests: XCTestCase {
    func testAnyShapeAndColumnRange() {
        for (rows, columns, range) in [(30, 64, 0..<64), (64, 32, 0..<32), (30, 256, 100..<181), (7, 9, 0..<9),
                                       (17, 23, 3..<20), (1, 1, 0..<1), (64, 29, 16..<29)] {
            let lds = columns + 3, ldd = rows + 5
            let src = (0..<(rows * lds)).map { Float($0) }
            var dst = [Float](repeating: -1, count: columns * ldd)
            transpose(rows: rows, columns: range, src: src, lds: lds, dst: &dst, ldd: ldd)
            for c in 0..<columns {
                for r in 0..<ldd {
                    let got = dst[c * ldd + r], at = "\(rows)×\(columns) columns \(range): dst[\(c), \(r)]"
                    if range.contains(c) && r < rows {
                        XCTAssertEqual(got, src[r * lds + c], at)
                    } else if range.contains(c) && r < (rows + 7) / 8 * 8 {
                        XCTAssertTrue(got == 0 || got == -1, "\(at): padding within the last 8 rows is \(got), not 0 or untouched")
                    } else {
                        XCTAssertEqual(got, -1, at)
                    }
                }
            }
        }
    }
}
