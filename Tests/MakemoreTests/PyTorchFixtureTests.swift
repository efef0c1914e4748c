import Foundation
import XCTest
@testable import Makemore
@testable import Engine

/// The fast engine against PyTorch (Tests/Fixtures, made by make_fixture.py):
/// loss and every gradient within 1e-5 relative, one SGD step, eval mode.
final class PyTorchFixtureTests: XCTestCase {
    var checkpoint: Checkpoint!
    var batch: Batch!

    override func setUpWithError() throws {
        checkpoint = try Checkpoint.load(path: fixturePath("model.safetensors"))
        batch = try Batch.load(path: fixturePath("batch.safetensors"), shape: checkpoint.model.shape)
    }

    func testLossAndGradients() throws {
        let (loss, grads) = engineGradients(checkpoint.model, batch)
        try checkAgainstTorch(loss, grads)
    }

    /// The fixture's 32 rows are fewer than a shard needs to fold dW1 and dC
    /// (`ModelShape.foldsEmbedding`), so each way is asked for here.
    func testLossAndGradientsBothWaysOfTheEmbeddingGradient() throws {
        for folds in [true, false] {
            let engine = StepEngine(model: checkpoint.model, batchSize: batch.count, shards: 1, workerNodes: [0], nodeIDs: [0],
                                    rowTile: StepEngine.rowTile(checkpoint.model.shape), folds: folds)
            engine.batchX.base.update(from: batch.x, count: batch.x.count)
            engine.batchY.base.update(from: batch.y, count: batch.y.count)
            engine.computeGradient()
            try checkAgainstTorch(engine.loss, trainedGradients(engine), "folded \(folds): ")
        }
    }

    func checkAgainstTorch(_ loss: Double, _ grads: [String: [Float]], _ label: String = "") throws {
        let torch = try SafetensorsFile.read(path: fixturePath("grads.safetensors"))
        let torchLoss = try torch.tensor("loss.f64", source: "grads").asDoubles()[0]
        XCTAssertEqual(loss, torchLoss, accuracy: 1e-5 * torchLoss)
        var reference = [String: [Double]]()
        for name in ReferenceModel.trainedNames { reference[name] = try torch.tensor(name + ".f64", source: "grads").asDoubles() }
        let floor = gradientFloor(reference)
        for name in ReferenceModel.trainedNames {
            let e = relativeError(grads[name]!.map(Double.init), reference[name]!, floor: floor)
            XCTAssertLessThan(e, 1e-5, "\(label)\(name): relative error \(e)")
        }
    }

    func testFloat64ReferenceMatchesPyTorchClosely() throws {
        let torch = try SafetensorsFile.read(path: fixturePath("grads.safetensors"))
        let ours = ReferenceModel(checkpoint.model).lossAndGradients(x: batch.x, y: batch.y)
        XCTAssertEqual(ours.loss, try torch.tensor("loss.f64", source: "").asDoubles()[0], accuracy: 1e-12)
        for name in ReferenceModel.trainedNames {
            let e = relativeError(ours.gradients[name]!, try torch.tensor(name + ".f64", source: "").asDoubles(),
                                  floor: gradientFloor(ours.gradients))
            XCTAssertLessThan(e, 1e-10, name)
        }
    }

    func testOneSGDStep() throws {
        let model = checkpoint.model.copy()
        let engine = StepEngine(model: model, batchSize: batch.count, shards: 1, workers: 1)
        engine.batchX.base.update(from: batch.x, count: batch.x.count)
        engine.batchY.base.update(from: batch.y, count: batch.y.count)
        engine.stepSingleThreaded(learningRate: 0.1, momentum: 0.001)
        let after = try Checkpoint.load(path: fixturePath("step.safetensors"))
        for t in ModelTensor.allCases {
            let e = relativeError(model.tensor(t).map(Double.init), after.model.tensor(t).map(Double.init))
            XCTAssertLessThan(e, 1e-6, "\(t.name) after one step: relative error \(e)")
        }
    }

    func testEvalModeLoss() throws {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixturePath("eval.json")))) as! [String: Any]
        let expected = json["eval_loss"] as? Double ?? json["loss"] as! Double
        let engine = StepEngine(model: checkpoint.model, batchSize: 1024, shards: 1, workers: 1)
        let loss = batch.x.withUnsafeBufferPointer { x in
            batch.y.withUnsafeBufferPointer { y in engine.evaluate(x: x.baseAddress!, y: y.baseAddress!, count: batch.count) }
        }
        XCTAssertEqual(loss, expected, accuracy: 1e-5 * expected)
    }
}
