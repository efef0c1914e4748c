import XCTest
@testable import Makemore

/// BatchNorm statistics are those of the whole batch whatever the sharding:
/// compare the sharded engine with the PyTorch fixture and with a per-shard
/// BatchNorm (what a naive data-parallel split would compute), which differs.
final class SyncBatchNormTests: XCTestCase {
    func testShardedGradientsMatchPyTorchAndPerShardBatchNormDoesNot() throws {
        let ckpt = try Checkpoint.load(path: fixturePath("model.safetensors"))
        let batch = try Batch.load(path: fixturePath("batch.safetensors"), shape: ckpt.model.shape)
        let torch = try SafetensorsFile.read(path: fixturePath("grads.safetensors"))
        let torchLoss = try torch.tensor("loss.f64", source: "grads").asDoubles()[0]

        for shards in [1, 2, 4, 8] {
            let (loss, grads) = engineGradients(ckpt.model, batch, shards: shards)
            XCTAssertEqual(loss, torchLoss, accuracy: 1e-5 * torchLoss, "loss with \(shards) shards")
            XCTAssertLessThan(relativeError(grads["bngain"]!.map(Double.init), try torch.tensor("bngain.f64", source: "").asDoubles()), 1e-5)
        }

        // Per-shard BatchNorm: each half of the batch normalized by its own statistics.
        let half = batch.count / 2
        let ref = ReferenceModel(ckpt.model)
        let lossA = ref.loss(x: Array(batch.x[..<(half * 3)]), y: Array(batch.y[..<half]))
        let lossB = ref.loss(x: Array(batch.x[(half * 3)...]), y: Array(batch.y[half...]))
        let perShard = (lossA + lossB) / 2
        XCTAssertGreaterThan(abs(perShard - torchLoss), 1e-3,
                             "per-shard BatchNorm should give a different loss (\(perShard) vs \(torchLoss))")
    }
}
