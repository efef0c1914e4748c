import XCTest
@testable import Makemore
@testable import Engine
import Kernels
import KernelSupport

/// The fused Float engine against the float64 reference model.
final class EngineGradientTests: XCTestCase {
    func engineGradients(_ model: Model, _ x: [Int32], _ y: [Int32], shards: Int,
                         foldsBatchNorm: Bool? = nil) -> (Double, [String: [Double]]) {
        let engine = StepEngine(model: model, batchSize: y.count, shards: shards, workerNodes: [0], nodeIDs: [0],
                                rowTile: StepEngine.rowTile(model.shape), foldsBatchNorm: foldsBatchNorm)
        if let forced = foldsBatchNorm { XCTAssertEqual(engine.foldsBatchNorm, forced, "no shard folds") }
        engine.batchX.base.update(from: x, count: x.count)
        engine.batchY.base.update(from: y, count: y.count)
        engine.computeGradient()
        let g = Model(shape: model.shape)
        g.parameters.base.update(from: engine.gradient.base, count: model.layout.count)
        var out = [String: [Double]]()
        for t in ModelTensor.trained { out[t.name] = g.tensor(t).map(Double.init) }
        return (engine.loss, out)
    }

    /// `folded`: the batch has folding shards, so check it with BatchNorm's
    /// backward folded and row by row, whatever `ModelShape.foldsBatchNorm` says.
    func check(_ shape: ModelShape, rows: Int, shards: Int, folded: Bool = false,
               file: StaticString = #filePath, line: UInt = #line) {
        let model = randomModel(shape, seed: 11)
        let (x, y) = randomBatch(shape, rows: rows, seed: 12)
        let ref = ReferenceModel(model).lossAndGradients(x: x, y: y)
        for foldsBatchNorm in folded ? [false, true] : [nil] {
            let (loss, grads) = engineGradients(model, x, y, shards: shards, foldsBatchNorm: foldsBatchNorm)
            XCTAssertEqual(loss, ref.loss, accuracy: 1e-5 * ref.loss, "loss", file: file, line: line)
            for name in ReferenceModel.trainedNames {
                let e = relativeError(grads[name]!, ref.gradients[name]!, floor: gradientFloor(ref.gradients))
                // b1's gradient is zero in exact arithmetic (BatchNorm subtracts the batch
                // mean, and b1 with it): ours is the Float rounding of Σ dhprebn over the
                // rows, which grows with them (1.7e-5 seen at 160 rows, either way of
                // dW1 and dC); a wrong b1 is off by ~1.
                let bound = name == "b1" ? 1e-4 : 1e-5
                XCTAssertLessThan(e, bound, "\(name) shards \(shards), BatchNorm folded \(foldsBatchNorm as Any): relative error \(e)",
                                  file: file, line: line)
            }
        }
    }

    func testSeedShapeOneShard() { check(ModelShape(vocabSize: 29, blockSize: 3, nEmbd: 10, nHidden: 64), rows: 32, shards: 1) }
    func testSeedShapeEightShards() { check(ModelShape(vocabSize: 29, blockSize: 3, nEmbd: 10, nHidden: 64), rows: 32, shards: 8) }
    func testUnevenShards() { check(ModelShape(vocabSize: 29, blockSize: 3, nEmbd: 10, nHidden: 64), rows: 37, shards: 5) }
    func testPaddedSizes() { check(ModelShape(vocabSize: 27, blockSize: 4, nEmbd: 7, nHidden: 50), rows: 19, shards: 3) }
    func testSmallestBatch() { check(ModelShape(vocabSize: 5, blockSize: 2, nEmbd: 3, nHidden: 17), rows: 2, shards: 2) }
    func testWideHidden() { check(ModelShape(vocabSize: 29, blockSize: 3, nEmbd: 10, nHidden: 256), rows: 64, shards: 4) }

    // Shards of enough rows take dW1 and dC through per-token sums (`backwardHidden`).
    func testFoldedEmbeddingGradient() {
        let shape = ModelShape(vocabSize: 29, blockSize: 3, nEmbd: 10, nHidden: 64)
        XCTAssertTrue(shape.foldsEmbedding(rows: 80) && !shape.foldsEmbedding(rows: 16))
        check(shape, rows: 160, shards: 2, folded: true)
    }
    func testFoldedEmbeddingGradientPaddedSizes() {
        let shape = ModelShape(vocabSize: 27, blockSize: 4, nEmbd: 7, nHidden: 50)
        XCTAssertTrue(shape.foldsEmbedding(rows: 67))
        check(shape, rows: 201, shards: 3, folded: true)
    }
    func testFoldedEmbeddingGradientWideHidden() {
        let shape = ModelShape(vocabSize: 29, blockSize: 3, nEmbd: 10, nHidden: 256)
        XCTAssertTrue(shape.foldsEmbedding(rows: 100))
        check(shape, rows: 100, shards: 1, folded: true)
    }
    // Hp 208: the token tables and sums in three column blocks of 64 and one of 16.
    func testFoldedEmbeddingGradientNarrowLastColumnBlock() {
        for B in [3, 4] {
            let shape = ModelShape(vocabSize: 29, blockSize: B, nEmbd: 10, nHidden: 200)
            XCTAssertTrue(shape.foldsEmbedding(rows: 120))
            check(shape, rows: 240, shards: 2, folded: true)
        }
    }
    /// Shards of 37 and 38 rows: the first does its backward row by row, the
    /// other three fold (with BatchNorm folded, their rows alone are counted,
    /// and their db1 comes from the step's token sums, into shard 1's slot).
    func testPartlyFoldingBatch() {
        let shape = ModelShape(vocabSize: 29, blockSize: 3, nEmbd: 10, nHidden: 64)
        XCTAssertTrue(shape.foldsEmbedding(rows: 38) && !shape.foldsEmbedding(rows: 37))
        check(shape, rows: 151, shards: 4, folded: true)
    }
    /// Where every shard folds, the reducer reads shard 0's dC, dW1 (and db1
    /// where BatchNorm folds) and one zero shard, not all: the other shards'
    /// are +0 (what lets it), and the sum is the same bits as the fold over
    /// every shard, which the reducer used to run. Shards of 37 and 38 rows:
    /// not every shard folds, and it reads them all.
    func testTheReducerSkipsOnlyShardsOfZeros() {
        let shape = ModelShape(vocabSize: 29, blockSize: 3, nEmbd: 10, nHidden: 64)
        let model = randomModel(shape, seed: 5)
        for (rows, shards, foldsBatchNorm) in [(160, 4, false), (160, 4, true), (151, 4, true), (80, 1, true)] {
            let (x, y) = randomBatch(shape, rows: rows, seed: 6)
            let engine = StepEngine(model: model, batchSize: rows, shards: shards, workerNodes: [0], nodeIDs: [0],
                                    rowTile: StepEngine.rowTile(shape), foldsBatchNorm: foldsBatchNorm)
            engine.batchX.base.update(from: x, count: x.count)
            engine.batchY.base.update(from: y, count: y.count)
            engine.computeGradient()
            let (P, label) = (engine.layout.count, "\(rows) rows in \(shards) shards, BatchNorm folded \(foldsBatchNorm)")
            let zeros = engine.zeroGradientsEnd
            XCTAssertEqual(zeros, rows == 151 ? 0 : foldsBatchNorm ? engine.layout.bngain : engine.layout.b1, label)
            for s in 1..<shards {
                let shard = engine.workspace.shardGrads + s * P
                XCTAssertTrue((0..<zeros).allSatisfy { shard[$0].bitPattern == 0 }, "shard \(s): \(label)")
            }
            let everyShard = AlignedBuffer<Float>(count: P)
            _ = reduceShards(engine.workspace.shardGrads, stride: P, count: shards, into: everyShard.base, length: P,
                             update: nil, lr: 0)
            XCTAssertTrue((0..<P).allSatisfy { engine.gradient.base[$0].bitPattern == everyShard.base[$0].bitPattern }, label)
        }
    }
    /// BatchNorm's backward folds by the folding shards' rows in all: from
    /// B²·V²/8 (947 at the default sizes), however the batch is sharded
    /// (1136 in 30 shards: 26 of 38 rows fold, 988 in all; 1124: 14, 532).
    func testBatchNormFoldsByTheFoldingRowsInAll() {
        let shape = ModelShape(vocabSize: 29, blockSize: 3, nEmbd: 10, nHidden: 64)
        let model = randomModel(shape, seed: 3)
        for (batch, shards, folds) in [(946, 1, false), (947, 1, true), (1894, 2, true), (1140, 30, true),
                                       (1110, 30, false), (1136, 30, true), (1124, 30, false)] {
            let engine = StepEngine(model: model, batchSize: batch, shards: shards, workers: 1)
            XCTAssertEqual(engine.foldsBatchNorm, folds, "batch \(batch) in \(shards) shards")
        }
    }
    /// The memory check counts what the workspace allocates, folding or not,
    /// and the pair counts (B²·V²) exist only where BatchNorm's backward folds.
    func testWorkspaceAllocatesWhatTheMemoryCheckCounts() {
        let small = ModelShape(vocabSize: 29, blockSize: 3, nEmbd: 10, nHidden: 64)
        let wide = ModelShape(vocabSize: 500, blockSize: 3, nEmbd: 10, nHidden: 40)  // folds from 651 rows, BatchNorm never
        for (shape, batch, shards, workers, forced) in [(small, 32, 2, 1, nil), (small, 946, 1, 1, nil), (small, 947, 2, 2, nil),
                                                        (small, 1136, 30, 2, nil), (small, 300, 2, 1, true), (wide, 1400, 2, 2, nil),
                                                        (wide, 1300, 2, 1, nil)] as [(ModelShape, Int, Int, Int, Bool?)] {
            let engine = StepEngine(model: Model(shape: shape), batchSize: batch, shards: shards,
                                    workerNodes: Array(repeating: 0, count: workers), nodeIDs: [0],
                                    rowTile: StepEngine.rowTile(shape), foldsBatchNorm: forced)
            func counted(foldsBatchNorm: Bool) -> Double {
                Workspace.bytes(layout: engine.layout, batchSize: batch, shards: shards, workers: workers, tileRows: engine.rowTile,
                                folds: engine.folds(rows:), recomputes: engine.recomputesPreactivation, foldsBatchNorm: foldsBatchNorm)
            }
            let what = "V \(shape.vocabSize), batch \(batch) in \(shards) shards"
            XCTAssertEqual(counted(foldsBatchNorm: engine.foldsBatchNorm), Double(engine.workspace.allocatedBytes), what)
            XCTAssertEqual(engine.workspace.foldedSums?.batchNorm != nil, engine.foldsBatchNorm, what)
            if engine.foldsAnyShard && !engine.foldsBatchNorm {
                // Folding BatchNorm too would add the pair counts, and drop the folding shards' dh.
                let pairBytes = 8 * Double(shape.blockSize * shape.vocabSize * shape.blockSize * shape.vocabSize)
                let foldingRows = (0..<shards).map { shardBounds($0, of: shards, rows: batch).count }.filter(engine.folds(rows:))
                let dhBytes = 4 * Double(shape.hiddenPadded * foldingRows.reduce(0, +))
                XCTAssertGreaterThan(counted(foldsBatchNorm: true) - Double(engine.workspace.allocatedBytes) + dhBytes, pairBytes, what)
            }
        }
        XCTAssertTrue(StepEngine(model: Model(shape: wide), batchSize: 1400, shards: 2, workers: 1).foldsAnyShard)
    }

    func testFoldedEmbeddingGradientWideEmbedding() {
        let shape = ModelShape(vocabSize: 40, blockSize: 2, nEmbd: 20, nHidden: 32)
        XCTAssertTrue(shape.foldsEmbedding(rows: 90))
        check(shape, rows: 90, shards: 1, folded: true)
    }
}

/// Phases 2 and 3 go through a shard in row tiles; every sum over rows goes
/// on from tile to tile, so the gradient is the same bits for any tile size.
final class RowTileTests: XCTestCase {
    func gradient(rowTile: Int, shape: ModelShape, rows: Int, shards: Int, recomputes: Bool = false,
                  foldsBatchNorm: Bool? = nil) -> (bits: [UInt32], loss: Double) {
        let model = randomModel(shape, seed: 21)
        let (x, y) = randomBatch(shape, rows: rows, seed: 22)
        let engine = StepEngine(model: model, batchSize: rows, shards: shards, workerNodes: [0], nodeIDs: [0],
                                rowTile: rowTile, recomputes: recomputes, foldsBatchNorm: foldsBatchNorm)
        engine.batchX.base.update(from: x, count: x.count)
        engine.batchY.base.update(from: y, count: y.count)
        engine.computeGradient()
        return ((0..<model.layout.count).map { engine.gradient.base[$0].bitPattern }, engine.loss)
    }

    func testTileSizeNeverChangesTheGradient() {
        for (shape, rows, shards) in [(ModelShape(vocabSize: 29, blockSize: 3, nEmbd: 10, nHidden: 64), 300, 2),
                                      (ModelShape(vocabSize: 27, blockSize: 4, nEmbd: 7, nHidden: 50), 211, 3)] {
            for bn in [false, true] {  // folding shards, BatchNorm's backward row by row or folded
                let whole = gradient(rowTile: 1 << 20, shape: shape, rows: rows, shards: shards, foldsBatchNorm: bn)
                for tile in [16, 32, 48, 112] {
                    let tiled = gradient(rowTile: tile, shape: shape, rows: rows, shards: shards, foldsBatchNorm: bn)
                    XCTAssertTrue(tiled.bits == whole.bits, "row tiles of \(tile) change the gradient (H \(shape.nHidden), \(bn))")
                    XCTAssertEqual(tiled.loss, whole.loss, accuracy: 1e-6 * whole.loss)  // only the loss's sum order differs
                }
            }
        }
    }

    /// Folding shards that sum hprebn again in phases 2 and 3 instead of
    /// keeping it from phase 1: the same gradient, loss and eval loss, bit
    /// for bit, at every tile size.
    func testRecomputedPreactivationChangesNoBit() {
        for (shape, rows, shards) in [(ModelShape(vocabSize: 29, blockSize: 3, nEmbd: 10, nHidden: 64), 300, 2),
                                      (ModelShape(vocabSize: 27, blockSize: 4, nEmbd: 7, nHidden: 50), 211, 3)] {
            XCTAssertTrue(shape.foldsEmbedding(rows: rows / shards), "the shards must fold for this test to test it")
            for bn in [false, true] {
                let kept = gradient(rowTile: 1 << 20, shape: shape, rows: rows, shards: shards, recomputes: false, foldsBatchNorm: bn)
                for tile in [16, 48, 1 << 20] {
                    let recomputed = gradient(rowTile: tile, shape: shape, rows: rows, shards: shards, recomputes: true,
                                              foldsBatchNorm: bn)
                    XCTAssertTrue(recomputed.bits == kept.bits, "recomputing hprebn (tiles of \(tile), \(bn)) changes the gradient")
                    XCTAssertEqual(recomputed.loss.bitPattern, kept.loss.bitPattern)
                }
            }
            let model = randomModel(shape, seed: 23)
            let (x, y) = randomBatch(shape, rows: 2 * rows + 10, seed: 24)  // a last chunk too short to fold
            let evals = [false, true].map { recomputes in
                StepEngine(model: model, batchSize: rows, shards: 1, workerNodes: [0], nodeIDs: [0],
                           rowTile: 48, recomputes: recomputes).evaluate(x: x, y: y, count: y.count)
            }
            XCTAssertEqual(evals[0].bitPattern, evals[1].bitPattern, "recomputing hprebn changes the eval loss")
        }
    }
}

/// A step that updates the parameters leaves `gradient` alone (the reducer
/// skips that store); one that only computes it writes all of it and leaves
/// the parameters alone. (The update's bits: PyTorchFixtureTests' step.)
final class GradientBufferTests: XCTestCase {
    func testOnlyAGradientStepWritesTheGradient() {
        let shape = ModelShape(vocabSize: 29, blockSize: 3, nEmbd: 10, nHidden: 64)
        let (x, y) = randomBatch(shape, rows: 48, seed: 5)
        func engine() -> (StepEngine, Model) {
            let model = randomModel(shape, seed: 4)
            let e = StepEngine(model: model, batchSize: y.count, shards: 3, workers: 1)
            e.batchX.base.update(from: x, count: x.count)
            e.batchY.base.update(from: y, count: y.count)
            e.gradient.base.update(repeating: .nan, count: e.layout.count)
            return (e, model)
        }
        let (only, onlyModel) = engine()
        let count = only.layout.count
        func bits(_ p: UnsafeMutablePointer<Float>) -> [UInt32] { (0..<count).map { p[$0].bitPattern } }
        let before = bits(onlyModel.parameters.base)
        only.computeGradient()
        XCTAssertTrue((0..<count).allSatisfy { only.gradient.base[$0].isFinite }, "computeGradient left floats unwritten")
        XCTAssertTrue((0..<count).contains { only.gradient.base[$0] != 0 })
        XCTAssertEqual(bits(onlyModel.parameters.base), before, "computeGradient changed the parameters")

        let (updating, updatingModel) = engine()
        updating.stepSingleThreaded(learningRate: 0.1, momentum: 0.1)
        XCTAssertTrue((0..<count).allSatisfy { updating.gradient.base[$0].isNaN }, "an updating step wrote the gradient")
        XCTAssertNotEqual(bits(updatingModel.parameters.base), before)
    }
}
