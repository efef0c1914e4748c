import ArgumentParser
import Foundation
import Makemore

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Loss of a checkpoint on the train, dev and test splits.",
        discussion: """
            Uses the running BatchNorm statistics (eval mode). The data, cleaning and split come from the \
            config stored in the checkpoint; flags override them (for a checkpoint made by PyTorch, give --data).
            """)

    @Option(help: ArgumentHelp("The checkpoint to evaluate.", valueName: "path"))
    var checkpoint: String

    @Flag(help: "Print one JSON object {\"train\": …, \"dev\": …, \"test\": …}.")
    var json = false

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let ckpt = try Checkpoint.load(path: checkpoint)
        var config = ckpt.config ?? Config()
        if let path = options.config { config = try Config.load(path: path) }
        try options.apply(to: &config)
        config.model.blockSize = ckpt.model.shape.blockSize
        let dataset = try loadDataset(config, vocabulary: ckpt.vocabulary)
        let losses = evaluateSplits(ckpt.model, dataset)
        if json {
            print("{\"train\": \(losses[0]), \"dev\": \(losses[1]), \"test\": \(losses[2])}")
        } else {
            print(String(format: "%@ (step %d) on %@:\ntrain %.4f\ndev   %.4f\ntest  %.4f",
                         checkpoint, ckpt.step, config.data.path, losses[0], losses[1], losses[2]))
        }
    }
}

/// Eval-mode losses on train, dev, test.
func evaluateSplits(_ model: Model, _ dataset: Dataset) -> [Double] {
    let engine = StepEngine(model: model, batchSize: 1024, shards: 1, workers: 1)
    return [dataset.train, dataset.dev, dataset.test].map { split in
        split.x.withUnsafeBufferPointer { x in
            split.y.withUnsafeBufferPointer { y in
                split.count == 0 ? .nan : engine.evaluate(x: x.baseAddress!, y: y.baseAddress!, count: split.count)
            }
        }
    }
}
