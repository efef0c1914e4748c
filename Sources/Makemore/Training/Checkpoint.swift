import Foundation

/// A trained model on disk: safetensors with the seed notebook's tensor names
/// (so `safetensors.torch.load_file` reads it and a PyTorch-trained model
/// saved under those names loads here), and metadata strings for everything
/// needed to evaluate, sample and resume exactly.
public struct Checkpoint {
    public var model: Model
    public var vocabulary: Vocabulary
    /// Steps completed.
    public var step: Int
    /// The run's config as YAML (absent in checkpoints made elsewhere).
    public var config: Config?
    /// Batch-sampling generator state after `step` steps (for exact resume).
    public var rng: Xoshiro?

    public init(model: Model, vocabulary: Vocabulary, step: Int, config: Config?, rng: Xoshiro?) {
        self.model = model
        self.vocabulary = vocabulary
        self.step = step
        self.config = config
        self.rng = rng
    }

    public static let format = "makemore-swift/1"

    public func encode() -> SafetensorsFile {
        var tensors = [String: TensorData]()
        for (name, shape) in model.allTensorShapes {
            tensors[name] = TensorData(floats: model.tensor(name), shape: shape)
        }
        let s = model.shape
        var meta = [
            "format": Checkpoint.format,
            "vocab": vocabulary.symbolString,
            "block_size": "\(s.blockSize)", "n_embd": "\(s.nEmbd)", "n_hidden": "\(s.nHidden)",
            "step": "\(step)",
        ]
        if let config { meta["config"] = config.yaml }
        if let rng { meta["rng"] = rng.stateWords.map(String.init).joined(separator: ",") }
        return SafetensorsFile(tensors: tensors, metadata: meta)
    }

    /// Writes atomically: a crash at any moment leaves the old file or the new one.
    public func save(to path: String) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true)
        try encode().write(to: path)
    }

    public static func load(path: String) throws -> Checkpoint {
        try decode(SafetensorsFile.read(path: path), source: path)
    }

    public static func decode(_ file: SafetensorsFile, source: String) throws -> Checkpoint {
        let meta = file.metadata
        guard let symbols = meta["vocab"] else {
            throw MakemoreError("\(source): no 'vocab' in the metadata (the symbols in index order, '.' first); "
                + "add it when saving from PyTorch: save_file(tensors, path, metadata={'vocab': ''.join(itos[i] for i in range(len(itos)))})")
        }
        let vocabulary: Vocabulary
        do { vocabulary = try Vocabulary(symbolString: symbols) } catch {
            throw MakemoreError("\(source): bad 'vocab' metadata: \(error)")
        }
        // Sizes come from the tensors; metadata, when present, must agree.
        guard let c = file.tensors["C"], c.shape.count == 2 else {
            throw MakemoreError("\(source): no 2-D tensor 'C' (the embedding table)")
        }
        guard let w1 = file.tensors["W1"], w1.shape.count == 2 else {
            throw MakemoreError("\(source): no 2-D tensor 'W1'")
        }
        let (V, E, K, H) = (c.shape[0], c.shape[1], w1.shape[0], w1.shape[1])
        guard V == vocabulary.count else {
            throw MakemoreError("\(source): tensor 'C' has \(V) rows but the vocabulary has \(vocabulary.count) symbols")
        }
        guard E > 0, K > 0, H > 0, K % E == 0 else {
            throw MakemoreError("\(source): W1 has \(K) rows, not a multiple of n_embd \(E)")
        }
        let shape = ModelShape(vocabSize: V, blockSize: K / E, nEmbd: E, nHidden: H)
        for (key, value) in [("block_size", shape.blockSize), ("n_embd", E), ("n_hidden", H)] {
            if let m = meta[key], Int(m) != value {
                throw MakemoreError("\(source): metadata \(key) = \(m) but the tensors say \(value)")
            }
        }
        guard shape.vocabSize <= 1 << 20, shape.nHidden <= 1 << 16, shape.inputWidth <= 1 << 16 else {
            throw MakemoreError("\(source): model sizes V=\(V) K=\(K) H=\(H) are beyond what makemore trains")
        }
        let model = Model(shape: shape)
        for (name, expected) in model.allTensorShapes {
            guard let t = file.tensors[name] else { throw MakemoreError("\(source): missing tensor '\(name)'") }
            // PyTorch keeps the BatchNorm vectors as [1, H]; accept that too.
            let ok = t.shape == expected || (expected.count == 1 && t.shape == [1] + expected)
            guard ok else {
                throw MakemoreError("\(source): tensor '\(name)' has shape \(t.shape), expected \(expected)")
            }
            guard let values = t.floats() else {
                throw MakemoreError("\(source): tensor '\(name)' is \(t.dtype.rawValue), expected F32")
            }
            guard values.allSatisfy(\.isFinite) else {
                throw MakemoreError("\(source): tensor '\(name)' holds NaN or infinite values")
            }
            model.set(name, values)
        }
        let step = try meta["step"].map { s -> Int in
            guard let v = Int(s), v >= 0 else { throw MakemoreError("\(source): bad 'step' metadata '\(s)'") }
            return v
        } ?? 0
        let config = try meta["config"].map { yaml -> Config in
            do { return try Config.parse(yaml: yaml, source: "\(source) (config metadata)") }
        }
        let rng = try meta["rng"].map { text -> Xoshiro in
            let words = text.split(separator: ",").compactMap { UInt64($0) }
            do { return try Xoshiro(state: words) } catch { throw MakemoreError("\(source): bad 'rng' metadata") }
        }
        return Checkpoint(model: model, vocabulary: vocabulary, step: step, config: config, rng: rng)
    }
}
