import ArgumentParser
import Foundation
import Makemore

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "What a checkpoint holds: its tensors and parameter count, vocabulary, step, and the settings and data it was trained with.",
        discussion: """
            Reads only the file (no data is loaded). The settings are those that decide the numbers, as the \
            checkpoint stores them; `makemore train --resume CHECKPOINT` continues with exactly these.

              makemore info runs/municipis.safetensors
            """)

    @Argument(help: ArgumentHelp("The checkpoint.", valueName: "checkpoint"))
    var checkpoint: String

    func run() throws {
        let ckpt = try Checkpoint.load(path: checkpoint)
        let shape = ckpt.model.shape
        let trained = ckpt.model.layout.trainedCount
        print("\(checkpoint): step \(ckpt.step)")
        print("model: vocab \(shape.vocabSize), block_size \(shape.blockSize), n_embd \(shape.nEmbd), n_hidden \(shape.nHidden); "
            + "\(trained) trained parameters")
        for t in ModelTensor.allCases {
            print("  " + t.name.padding(toLength: 15, withPad: " ", startingAt: 0) + "[" + t.shape(shape).map(String.init).joined(separator: ", ") + "]")
        }
        print("vocabulary: \(ckpt.vocabulary.count) symbols, '.' first (it ends a name): \(ckpt.vocabulary.symbolString)")
        print("batch sampler state: " + (ckpt.rng == nil ? "not saved (a resumed run draws other batches)" : "saved (a resumed run continues exactly)"))
        guard let config = ckpt.config else {
            print("settings: none stored (not made by makemore train)")
            return
        }
        let d = config.data
        print("data: \(d.path) (column \(d.column ?? "none"), clean \(d.clean), split \(d.split.map { "\($0)" }.joined(separator: "/")), seed \(d.seed))"
            + (ckpt.dataFingerprint.map { "; words fingerprint \($0)" } ?? ""))
        print("settings:")
        for line in config.yaml(execution: false).split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
            print("  " + line)
        }
    }
}
