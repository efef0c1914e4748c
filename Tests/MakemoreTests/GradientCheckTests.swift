import XCTest
@testable import Makemore

/// The gradient checks cannot pass on NaN or infinity: a comparison with NaN
/// is false, so a check written `diff <= tolerance` fails, but a maximum taken
/// with `Swift.max` drops the NaN before it gets there.
final class GradientCheckTests: XCTestCase {
    func testNaNOrInfinityInEitherSideFails() {
        let ours = [0.5, -1.0, 2.0]
        for bad in [Double.nan, .infinity, -.infinity] {
            for (a, b) in [(ours, [0.5, bad, 2.0]), ([0.5, bad, 2.0], ours), ([bad, -1.0, 2.0], [bad, -1.0, 2.0])] {
                let row = GradientComparison(name: "W1", ours: a, reference: b)
                XCTAssertFalse(row.finite, "\(a) vs \(b)")
                XCTAssertFalse(row.within(1e300), "\(a) vs \(b) passed")
                XCTAssertFalse(row.within(.infinity), "\(a) vs \(b) passed")
            }
            let row = GradientComparison(name: "W1", ours: ours, reference: [0.5, bad, 2.0])
            XCTAssertFalse(row.approximate, "\(bad) is not close to -1")
            XCTAssertFalse(row.exact)
        }
        XCTAssertTrue(GradientComparison(name: "W1", ours: [.nan], reference: [1]).maxDifference.isNaN)
        XCTAssertTrue(GradientComparison(name: "W1", ours: [1, .nan, 3], reference: [1, 2, 3]).maxDifference.isNaN)
        let fine = GradientComparison(name: "W1", ours: ours, reference: [0.5, -1.0, 2.0 + 1e-9])
        XCTAssertTrue(fine.finite && fine.approximate && fine.within(1e-8))
        XCTAssertFalse(fine.within(1e-10))
        XCTAssertFalse(fine.within(.nan), "a NaN tolerance passes nothing")
    }

    func testMaxKeepingNaN() {
        XCTAssertEqual(maxKeepingNaN(1, 2), 2)
        XCTAssertTrue(maxKeepingNaN(.nan, 2).isNaN)
        XCTAssertTrue(maxKeepingNaN(2, .nan).isNaN)
        XCTAssertEqual([0.0, 3, 1].reduce(0, maxKeepingNaN), 3)
        XCTAssertTrue([0.0, .nan, 1].reduce(0, maxKeepingNaN).isNaN, "a NaN in the middle survives the later numbers")
    }

    /// A model whose loss is NaN: finite differences and the analytic gradient
    /// are NaN, and the check reports a NaN error (which `< 1e-6` fails), not 0.
    func testFiniteDifferencesWithANaNLossDoNotPass() {
        let shape = ModelShape(vocabSize: 5, blockSize: 2, nEmbd: 3, nHidden: 4)
        let model = randomModel(shape, seed: 11)
        var b2 = model.tensor(.b2)
        b2[1] = .nan
        model.set(.b2, b2)
        let (x, y) = randomBatch(shape, rows: 6, seed: 4)
        let results = finiteDifferenceCheck(model, Batch(x: x, y: y), samples: 4)
        XCTAssertEqual(results.count, ReferenceModel.trainedNames.count)
        for r in results {
            XCTAssertTrue(r.maxRelative.isNaN, "\(r.name): max relative error \(r.maxRelative)")
            XCTAssertFalse(r.maxRelative < 1e-6, "\(r.name) passes")
        }
    }
}
