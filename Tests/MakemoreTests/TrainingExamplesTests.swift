import XCTest
@testable import Engine
import KernelSupport

/// The engine keeps its own copy of the training examples, X and Y of an
/// example side by side in a record padded to a power of two. Whatever the
/// block size, the batch phase 1 copies out of it, and so the gradient, must
/// be the batch the caller would have filled in by hand.
final class TrainingExamplesTests: XCTestCase {
    func testAttachedExamplesGiveTheBatchOfTheirIndices() {
        for B in [1, 3, 4, 7, 8, 15, 16, 17] {
            let shape = ModelShape(vocabSize: 27, blockSize: B, nEmbd: 2, nHidden: 16)
            let examples = 50, batch = 21
            var rng = Xoshiro(seed: UInt64(B))
            let x = (0..<(examples * B)).map { _ in Int32(rng.below(27)) }
            let y = (0..<examples).map { _ in Int32(rng.below(27)) }
            let index = (0..<batch).map { _ in Int32(rng.below(examples)) }

            let attached = StepEngine(model: Model(shape: shape, seed: 5), batchSize: batch, shards: 2, workers: 1)
            x.withUnsafeBufferPointer { xb in
                y.withUnsafeBufferPointer { yb in
                    attached.attachTrainingData(x: xb.baseAddress!, y: yb.baseAddress!, count: examples)
                }
            }
            // The engine's copy, not the caller's arrays, is what it reads.
            let byHand = StepEngine(model: Model(shape: shape, seed: 5), batchSize: batch, shards: 2, workers: 1)
            for (r, i) in index.enumerated() {
                attached.batchIndex.base[r] = i
                for k in 0..<B { byHand.batchX.base[r * B + k] = x[Int(i) * B + k] }
                byHand.batchY.base[r] = y[Int(i)]
            }
            attached.computeGradient()
            byHand.computeGradient()

            XCTAssertEqual(Array(UnsafeBufferPointer(start: attached.batchX.base, count: batch * B)),
                           Array(UnsafeBufferPointer(start: byHand.batchX.base, count: batch * B)), "X, block size \(B)")
            XCTAssertEqual(Array(UnsafeBufferPointer(start: attached.batchY.base, count: batch)),
                           Array(UnsafeBufferPointer(start: byHand.batchY.base, count: batch)), "Y, block size \(B)")
            let count = attached.layout.count
            XCTAssertTrue((0..<count).allSatisfy { attached.gradient.base[$0].bitPattern == byHand.gradient.base[$0].bitPattern },
                          "gradient, block size \(B)")
        }
    }

    func testExampleRecordsAreAPowerOfTwoHoldingXAndY() {
        XCTAssertEqual((1...17).map { NodeReplicas.exampleStride(blockSize: $0) },
                       [2, 4, 4, 8, 8, 8, 8, 16, 16, 16, 16, 16, 16, 16, 16, 32, 32])
    }
}
