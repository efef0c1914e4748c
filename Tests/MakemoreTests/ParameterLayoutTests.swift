import XCTest
@testable import Makemore

/// The flat parameter vector: every trained tensor in its own 16-aligned
/// region, and padding that is zero and stays zero through training (the
/// kernels read whole vectors, so a non-zero pad would leak into real outputs).
final class ParameterLayoutTests: XCTestCase {
    let shape = ModelShape(vocabSize: 27, blockSize: 3, nEmbd: 10, nHidden: 50)

    /// Which floats of the flat vector belong to a tensor (the rest is padding).
    func used(_ layout: ParameterLayout) -> [Bool] {
        var mask = [Bool](repeating: false, count: layout.count)
        for t in ModelTensor.trained {
            let dims = t.shape(shape)
            let (rows, cols) = dims.count == 2 ? (dims[0], dims[1]) : (1, dims[0])
            for r in 0..<rows {
                for c in 0..<cols {
                    let i = layout.offset(t) + r * t.rowStride(shape) + c
                    XCTAssertFalse(mask[i], "\(t.name) overlaps another tensor")
                    mask[i] = true
                }
            }
        }
        return mask
    }

    func testRegionsAreAlignedAndDisjoint() {
        let layout = ParameterLayout(shape)
        XCTAssertEqual(layout.count % 16, 0)
        for t in ModelTensor.trained { XCTAssertEqual(layout.offset(t) % 16, 0, t.name) }
        XCTAssertEqual(used(layout).filter { $0 }.count, layout.trainedCount)
    }

    func testPaddingStaysZeroThroughTraining() {
        let model = Model(shape: shape, seed: 7)
        let n = 64
        var rng = Xoshiro(seed: 3)
        let engine = StepEngine(model: model, batchSize: n, shards: 2, workers: 1)
        let mask = used(model.layout)
        for step in 0...5 {
            for i in 0..<model.layout.count where !mask[i] {
                XCTAssertEqual(model.parameters.base[i], 0, "padding float \(i) after step \(step)")
            }
            for i in 0..<(n * shape.blockSize) { engine.batchX.base[i] = Int32(rng.below(shape.vocabSize)) }
            for i in 0..<n { engine.batchY.base[i] = Int32(rng.below(shape.vocabSize)) }
            engine.stepSingleThreaded(learningRate: 0.5, momentum: 0.1)
        }
        for j in shape.nHidden..<shape.hiddenPadded {
            XCTAssertEqual(model.runningMean.base[j], 0)
        }
    }

    func testSetAndGetAreInverse() {
        let model = Model(shape: shape)
        for t in ModelTensor.allCases {
            let values = (0..<t.count(shape)).map { Float($0) + 0.5 }
            model.set(t, values)
            XCTAssertEqual(model.tensor(t), values, t.name)
        }
    }
}
