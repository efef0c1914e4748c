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

    @Option(name: .long, help: "YAML config whose data section to use instead of the checkpoint's.")
    var config: String?

    @OptionGroup var options: DataOptions

    func run() throws {
        let ckpt = try Checkpoint.load(path: checkpoint)
        var config = ckpt.config ?? Config()
        if let path = self.config { config = try Config.load(path: path) }
        try options.apply(to: &config)
        config.model.blockSize = ckpt.model.shape.blockSize
        let dataset: Dataset
        do {
            dataset = try loadDataset(config, vocabulary: ckpt.vocabulary)
        } catch let e as OutsideVocabulary {
            throw MakemoreError("\(e) of \(checkpoint) (a checkpoint for other data?)")
        }
        if let before = ckpt.dataFingerprint, before != dataset.fingerprint {
            complain("warning: \(config.data.path) holds other words than \(checkpoint) was trained on (data fingerprint "
                + "\(before) then, \(dataset.fingerprint) now): its train, dev and test are not the training run's splits")
        }
        let losses = try evaluateSplits(ckpt.model, dataset, what: "evaluating \(checkpoint)")
        try requireFinite(losses, dataset, model: checkpoint)
        if json {
            print("{\"train\": \(json(losses[0])), \"dev\": \(json(losses[1])), \"test\": \(json(losses[2]))}")
        } else {
            print("\(checkpoint) (step \(ckpt.step)) on \(config.data.path):")
            let counts = dataset.splits.map(\.count)
            for (i, name) in ["train", "dev  ", "test "].enumerated() {
                print("\(name) " + lossText(losses[i], examples: counts[i]))
            }
        }
    }

    /// A loss as a JSON value: null for an empty split (NaN is not JSON).
    func json(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }
}

/// Throws when a split with examples has a loss that is not a number: a
/// model whose finite weights overflow float32 in the forward pass. An
/// empty split's NaN is not a failure (it prints as n/a).
func requireFinite(_ losses: [Double], _ dataset: Dataset, model: String) throws {
    let counts = dataset.splits.map(\.count)
    let bad = zip(["train", "dev", "test"], zip(losses, counts)).filter { $1.1 > 0 && !$1.0.isFinite }.map(\.0)
    guard bad.isEmpty else {
        throw MakemoreError("\(model): the loss on \(bad.joined(separator: ", ")) is not finite "
            + "(the model's activations overflow float32: its weights are too large)")
    }
}

/// A split's loss for a table: 4 decimals, or n/a for an empty split.
func lossText(_ loss: Double, examples: Int) -> String {
    examples == 0 ? "n/a (empty split)" : String(format: "%.4f", loss)
}

/// Eval-mode losses on train, dev, test.
func evaluateSplits(_ model: Model, _ dataset: Dataset, what: String) throws -> [Double] {
    // Rows per chunk: 1024, or fewer so the activations stay within ~256 MiB
    // (a checkpoint may have a vocabulary of up to 2^20 symbols).
    let s = model.shape
    let perRow = 4 * (2 * s.inputPadded + 3 * s.hiddenPadded + s.vocabPadded)
    let rows = min(1024, max(2, (256 << 20) / perRow))
    try MemoryCheck.requireEngine(s, rows: rows, for: what)
    let engine = StepEngine(model: model, batchSize: rows, shards: 1, workers: 1)
    return dataset.splits.map { split in
        split.x.withUnsafeBufferPointer { x in
            split.y.withUnsafeBufferPointer { y in
                split.count == 0 ? .nan : engine.evaluate(x: x.baseAddress!, y: y.baseAddress!, count: split.count)
            }
        }
    }
}
