import Foundation
import SystemPackage

/// A trained model on disk: safetensors with the reference notebook's tensor names
/// (so `safetensors.torch.load_file` reads it and a PyTorch-trained model
/// saved under those names loads here), and metadata strings for everything
/// needed to evaluate, sample and resume exactly.
///
/// Metadata: `format`, `vocab` and `vocab_symbols` (the symbols in index order, "." first: see Checkpoint+Vocabulary),
/// `block_size`, `n_embd`, `n_hidden`, `step` (steps completed), `lr` (the
/// rate the next step uses; informational: the schedule position is
/// `step` in `config`'s `train.lr`), `config` (YAML, only the settings that
/// decide the numbers: see `Config.resultDefining`), `rng` (the batch
/// sampler's four state words) and `data_fingerprint` (`Dataset.fingerprint`
/// of the words it was trained on).
public struct Checkpoint {
    public var model: Model
    public var vocabulary: Vocabulary
    /// Steps completed.
    public var step: Int
    /// The run's config (absent in checkpoints made elsewhere).
    public var config: Config?
    /// Batch-sampling generator state after `step` steps (for exact resume).
    public var rng: Xoshiro?
    /// `Dataset.fingerprint` of the training words (absent in checkpoints made elsewhere).
    public var dataFingerprint: String?
    /// The file it was read from, for messages.
    public var source: String?

    public init(model: Model, vocabulary: Vocabulary, step: Int, config: Config?, rng: Xoshiro?, dataFingerprint: String? = nil) {
        self.model = model
        self.vocabulary = vocabulary
        self.step = step
        self.config = config
        self.rng = rng
        self.dataFingerprint = dataFingerprint
    }

    public static let format = "makemore-swift/1"

    public func encode() -> SafetensorsFile {
        var tensors = [String: TensorData]()
        for t in ModelTensor.allCases {
            tensors[t.name] = TensorData(floats: model.tensor(t), shape: t.shape(model.shape))
        }
        let s = model.shape
        var meta = [
            "format": Checkpoint.format,
            "vocab": vocabulary.symbolString, Checkpoint.vocabSymbolsKey: Checkpoint.symbolsJSON(vocabulary),
            "block_size": "\(s.blockSize)", "n_embd": "\(s.nEmbd)", "n_hidden": "\(s.nHidden)",
            "step": "\(step)",
        ]
        if let config {
            meta["config"] = config.resultDefining.yaml(execution: false)
            meta["lr"] = "\(config.learningRate(at: step))"
        }
        if let rng { meta["rng"] = rng.stateWords.map(String.init).joined(separator: ",") }
        if let dataFingerprint { meta["data_fingerprint"] = dataFingerprint }
        return SafetensorsFile(tensors: tensors, metadata: meta)
    }

    /// Writes atomically: a crash at any moment leaves the old file or the new
    /// one (`AtomicFile.write`, which also removes temporary files that a
    /// killed writer left beside `path`). Creates the folder if needed.
    public func save(to path: String) throws {
        try Checkpoint.prepareFolder(for: path)
        let file = encode()
        try file.validate(source: path)
        var sys = AtomicFile.Syscalls.system
        if let pause = Checkpoint.testPauseBeforeRename {
            // Fault injection for the end-to-end tests: hold the finished,
            // fsynced temporary file this long before the rename, so a test
            // can deliver a second signal (or SIGKILL) mid-save.
            let rename = sys.rename
            sys.rename = { from, to in
                let end = ContinuousClock.now + .milliseconds(Int(pause * 1000))
                while ContinuousClock.now < end { usleep(10_000) }  // signals cut usleep short
                return rename(from, to)
            }
        }
        try AtomicFile.write(file.encode(), to: path, using: sys)
    }

    /// Seconds from MAKEMORE_TEST_PAUSE_BEFORE_RENAME (tests only; unset in normal use).
    static let testPauseBeforeRename: Double? = {
        guard let text = ProcessInfo.processInfo.environment["MAKEMORE_TEST_PAUSE_BEFORE_RENAME"],
              let s = Double(text), s > 0, s <= 60 else { return nil }
        return s
    }()

    /// Fails now, before any training, if `path` cannot be written: its folder
    /// cannot be created, is not a folder, or does not accept new files.
    /// Nothing at `path` itself is touched. The probe file is named like the
    /// save's own temporary file (`probePath`), so one that a run killed
    /// between creating and removing it leaves behind is cleared with theirs
    /// by the next save (`AtomicFile.write`).
    public static func checkWritable(_ path: String) throws {
        try prepareFolder(for: path)
        let folder = folder(of: path)
        var info = stat()
        if stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
            throw MakemoreError("cannot write \(path): it is a folder")
        }
        let probe = probePath(for: path)
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw MakemoreError("cannot write \(path): \(errorText(errno)) (its folder \(folder) does not accept new files)")
        }
        close(fd)
        unlink(probe)
    }

    /// Where `checkWritable` creates its probe: a temporary file of `path`'s
    /// writer, named from the same file name `AtomicFile` cleans up by.
    static func probePath(for path: String) -> String {
        FilePath(folder(of: path)).appending(AtomicFile.temporaryName(AtomicFile.split(path)?.base ?? "checkpoint")).string
    }

    static func folder(of path: String) -> String { FilePath(path).folder.string }

    /// Creates the checkpoint's folder; errors are one line naming the path.
    static func prepareFolder(for path: String) throws {
        let dir = folder(of: path)
        var info = stat()
        if stat(dir, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw MakemoreError("cannot write \(path): \(dir) is not a folder")
            }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw MakemoreError("cannot write \(path): cannot create the folder \(dir): \(fileErrorText(error))")
        }
    }

    public static func load(path: String) throws -> Checkpoint {
        var c = try decode(SafetensorsFile.read(path: path), source: path)
        c.source = path
        return c
    }

    public static func decode(_ file: SafetensorsFile, source: String) throws -> Checkpoint {
        let meta = file.metadata
        let vocabulary = try Checkpoint.vocabulary(from: meta, source: source)
        // Sizes come from the tensors; metadata, when present, must agree.
        guard let c = file.tensors["C"], c.shape.count == 2 else {
            throw MakemoreError("\(source): no 2-D tensor 'C' (the embedding table)")
        }
        guard let w1 = file.tensors["W1"], w1.shape.count == 2 else {
            throw MakemoreError("\(source): no 2-D tensor 'W1'")
        }
        let (V, E, K, H) = (c.shape[0], c.shape[1], w1.shape[0], w1.shape[1])
        guard V == vocabulary.count else {
            throw MakemoreError("\(source): tensor 'C' has \(V) rows but the vocabulary has \(vocabulary.count) symbols" + Checkpoint.vocabularyHint(meta))
        }
        guard E > 0, K > 0, H > 0, K % E == 0 else {
            throw MakemoreError("\(source): W1 has \(K) rows, not a multiple of n_embd \(E)")
        }
        let shape = ModelShape(vocabSize: V, blockSize: K / E, nEmbd: E, nHidden: H)
        for (key, value) in [("block_size", shape.blockSize), ("n_embd", E), ("n_hidden", H)] {
            if let m = meta[key], Int(m) != value {
                throw MakemoreError("\(source): metadata \(key) = \(SafetensorsFile.display(m)) but the tensors say \(value)")
            }
        }
        guard shape.vocabSize <= 1 << 20, shape.nHidden <= 1 << 16, shape.inputWidth <= 1 << 16 else {
            throw MakemoreError("\(source): model sizes V=\(V) K=\(K) H=\(H) are beyond what makemore trains")
        }
        // Every tensor is checked before the model is allocated, so a header
        // cannot make us allocate more than the file holds.
        var values = [ModelTensor: [Float]]()
        for tensor in ModelTensor.allCases {
            let (name, expected) = (tensor.name, tensor.shape(shape))
            guard let t = file.tensors[name] else { throw MakemoreError("\(source): missing tensor '\(name)'") }
            // PyTorch keeps the BatchNorm vectors as [1, H]; accept that too.
            let ok = t.shape == expected || (expected.count == 1 && t.shape == [1] + expected)
            guard ok else {
                throw MakemoreError("\(source): tensor '\(name)' has shape \(SafetensorsFile.format(t.shape)), expected \(SafetensorsFile.format(expected))")
            }
            guard let v = t.floats(), v.count == expected.reduce(1, *) else {
                throw MakemoreError("\(source): tensor '\(name)' is \(t.dtype.rawValue), expected F32")
            }
            guard v.allSatisfy(\.isFinite) else {
                throw MakemoreError("\(source): tensor '\(name)' holds NaN or infinite values")
            }
            if tensor == .bnvarRunning && v.contains(where: { $0 < 0 }) {
                throw MakemoreError("\(source): tensor 'bnvar_running' holds negative variances")
            }
            values[tensor] = v
        }
        let step = try meta["step"].map { s -> Int in
            guard let v = Int(s), v >= 0 else { throw MakemoreError("\(source): bad 'step' metadata \(SafetensorsFile.display(s))") }
            return v
        } ?? 0
        let config = try meta["config"].map { yaml -> Config in
            try Config.parse(yaml: yaml, source: "\(source) (config metadata)")
        }
        let fingerprint = try meta["data_fingerprint"].map { text -> String in
            guard text.utf8.count == 16, text.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
                throw MakemoreError("\(source): bad 'data_fingerprint' metadata \(SafetensorsFile.display(text)) (expected 16 hex digits)")
            }
            return text
        }
        let rng = try meta["rng"].map { text -> Xoshiro in
            let parts = text.split(separator: ",", omittingEmptySubsequences: false)
            let words = parts.compactMap { UInt64($0) }
            guard words.count == parts.count, let x = Xoshiro(state: words) else {
                throw MakemoreError("\(source): bad 'rng' metadata \(SafetensorsFile.display(text)) (expected 4 comma-separated 64-bit words, not all zero)")
            }
            return x
        }
        try MemoryCheck.require(4 * Double(ParameterLayout(shape).count + 2 * shape.hiddenPadded),
                                for: "the model of \(source)", lower: nil)
        let model = Model(shape: shape)
        for (tensor, v) in values { model.set(tensor, v) }
        return Checkpoint(model: model, vocabulary: vocabulary, step: step, config: config, rng: rng, dataFingerprint: fingerprint)
    }

    /// Why the file at `path` must not be replaced by a checkpoint of
    /// `shape` and `vocabulary` trained on words of `dataFingerprint`, or nil
    /// when it may: it is this run's own kind of file (the same model on the
    /// same data, as a rerun or a resumed run writes).
    public static func reasonNotToReplace(_ path: String, shape: ModelShape, vocabulary: Vocabulary, dataFingerprint: String) -> String? {
        guard let bytes = try? FileReader.readAll(path: path, limit: FileReader.Limit.tensors),
              let file = try? SafetensorsFile.decode(bytes, source: path),
              file.metadata["format"] == Checkpoint.format else {
            return "it is not a makemore checkpoint"
        }
        let old: Checkpoint
        do { old = try decode(file, source: path) } catch {
            return "it is a makemore checkpoint that cannot be read (\(oneLine("\(error)")))"
        }
        let data = old.config.map { " (\($0.data.path))" } ?? ""
        if old.model.shape != shape || old.vocabulary != vocabulary {
            func describe(_ s: ModelShape) -> String { "vocabulary \(s.vocabSize), block \(s.blockSize), n_embd \(s.nEmbd), n_hidden \(s.nHidden)" }
            return old.model.shape == shape
                ? "it holds a model of another vocabulary, trained on other data\(data)"
                : "it holds another model (\(describe(old.model.shape)); this run's: \(describe(shape)))"
        }
        if let before = old.dataFingerprint, before != dataFingerprint {
            return "it holds a model trained on other data\(data)"
        }
        return nil
    }
}
