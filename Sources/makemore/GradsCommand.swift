import ArgumentParser
import Foundation
import Makemore

struct Grads: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the loss and gradients of a checkpoint on a batch file.",
        discussion: """
            The batch file is safetensors with X (I32 [n, block_size]) and Y (I32 [n]). The output holds \
            the gradient of each trained tensor under its name (C, W1, b1, W2, b2, bngain, bnbias) and \
            `loss` (F32, shape []): training-mode BatchNorm, mean cross-entropy, no update.
            """)

    @Option(help: ArgumentHelp("The model.", valueName: "path")) var checkpoint: String
    @Option(help: ArgumentHelp("The batch file.", valueName: "path")) var batch: String
    @Option(help: ArgumentHelp("Where to write the gradients.", valueName: "path")) var out: String
    @Option(help: "Shards to cut the batch into (the result differs from 1 shard only by rounding).") var shards = 1
    @Flag(help: "Replace an existing file at --out that makemore grads did not write.") var force = false

    /// The `format` metadata of a gradients file, which `grads` may replace.
    static let format = "makemore-swift/gradients"

    func run() throws {
        let ckpt = try Checkpoint.load(path: checkpoint)
        let b = try Batch.load(path: batch, shape: ckpt.model.shape)
        guard shards >= 1 && shards <= b.count else { throw ValidationError("--shards must be in 1...\(b.count)") }
        let inputs = [OutputTarget.Input("the model (--checkpoint)", checkpoint), OutputTarget.Input("the batch (--batch)", batch)]
        let target = try OutputTarget.check(out, writing: "the gradients", inputs: inputs, force: force) { path in
            (try? SafetensorsFile.read(path: path))?.metadata["format"] == Grads.format
                ? nil : "it is not a gradients file written by makemore grads"
        }
        try MemoryCheck.requireEngine(ckpt.model.shape, rows: b.count, shards: shards, for: "the gradients on \(batch)")
        let (loss, grads) = engineGradients(ckpt.model, b, shards: shards)
        var tensors = ["loss": TensorData(scalar: Float(loss))]
        for t in ModelTensor.trained {
            if let g = grads[t.name] { tensors[t.name] = TensorData(floats: g, shape: t.shape(ckpt.model.shape)) }
        }
        try SafetensorsFile(tensors: tensors, metadata: ["format": Grads.format, "checkpoint": checkpoint, "batch": batch])
            .write(to: target.path)
        print(String(format: "loss %.6f; gradients of %d tensors written to %@", loss, grads.count, out))
    }
}

struct Gradcheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check our gradients: against a reference file (e.g. PyTorch's) and against float64 finite differences.",
        discussion: """
            Prints the reference notebook's table (tensor, exactly equal, approximately equal, largest difference) \
            for the fast float32 engine against --reference (a gradients file as `grads` writes, e.g. made by \
            PyTorch) and against the float64 reference model; then checks the float64 model's analytic \
            gradients against central finite differences. Exits with status 1 if any check fails.
            """)

    @Option(help: ArgumentHelp("The model.", valueName: "path")) var checkpoint: String
    @Option(help: ArgumentHelp("The batch file.", valueName: "path")) var batch: String
    @Option(help: ArgumentHelp("Reference gradients (safetensors with the parameter names).", valueName: "path")) var reference: String?
    @Option(name: .customLong("fd-samples"), help: "Elements per tensor to check by finite differences.") var fdSamples = 64
    @Option(help: "Relative tolerance of the float32 engine against float64 references.") var tolerance = 1e-5

    func validate() throws {
        guard fdSamples >= 0 else { throw ValidationError("--fd-samples must not be negative") }
        guard tolerance >= 0, tolerance.isFinite else { throw ValidationError("--tolerance must be a non-negative number") }
    }

    func run() throws {
        let ckpt = try Checkpoint.load(path: checkpoint)
        let b = try Batch.load(path: batch, shape: ckpt.model.shape)
        // The float64 reference keeps about twice the engine's floats, in doubles.
        try MemoryCheck.requireEngine(ckpt.model.shape, rows: 5 * b.count, for: "checking the gradients on \(batch)")
        let (loss, ours) = engineGradients(ckpt.model, b)
        var ok = true
        func table(_ title: String, _ refLoss: Double?, _ ref: (String) throws -> [Double]?) throws {
            print(title)
            if let refLoss {
                let finite = loss.isFinite && refLoss.isFinite
                if !finite { ok = false }
                print(String(format: "loss: ours %.9f reference %.9f", loss, refLoss) + (finite ? "" : "  ✗ not finite"))
            }
            let scale = try ReferenceModel.trainedNames.compactMap { try ref($0) }.flatMap { $0 }.reduce(0) { max($0, abs($1)) }
            for name in ReferenceModel.trainedNames {
                guard let r = try ref(name) else { print("\(name): not in the reference"); ok = false; continue }
                let mine = ours[name]!.map(Double.init)
                let row = GradientComparison(name: name, ours: mine, reference: r)
                let within = row.within(tolerance * max(r.reduce(0) { max($0, abs($1)) }, 0.01 * scale))
                if !within { ok = false }
                print(row.line + (within ? "" : row.finite ? "  ✗ beyond tolerance" : "  ✗ NaN or infinity"))
            }
        }
        if let reference {
            let file = try SafetensorsFile.read(path: reference)
            let refLoss = try? file.tensor("loss", source: reference).asDoubles().first
            try table("float32 engine vs \(reference):", refLoss ?? nil) { name in
                guard file.tensors[name] != nil else { return nil }
                guard let shape = ModelTensor(rawValue: name)?.shape(ckpt.model.shape) else { return nil }
                return try file.floatingAsDoubles(name, shape: shape, source: reference)
            }
        }
        let exact = ReferenceModel(ckpt.model).lossAndGradients(x: b.x, y: b.y)
        try table("float32 engine vs float64 reference model:", exact.loss) { exact.gradients[$0] }
        print("float64 analytic gradients vs central finite differences (h = 1e-5):")
        for r in finiteDifferenceCheck(ckpt.model, b, samples: fdSamples) {
            let pass = r.maxRelative < 1e-6  // false for NaN
            if !pass { ok = false }
            print("\(r.name.padding(toLength: 15, withPad: " ", startingAt: 0)) | \(r.checked) elements | max relative error \(String(format: "%.2e", r.maxRelative)) \(pass ? "ok" : "✗")")
        }
        print(ok ? "gradcheck: all checks passed" : "gradcheck: FAILED")
        if !ok { throw ExitCode.failure }
    }
}
