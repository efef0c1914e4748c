import Foundation
import ArgumentParser
import Makemore
import Parallel

/// `--config FILE` plus one flag per config key; a flag overrides the file.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "YAML config (see configs/). Keys not in the file keep their defaults (the notebook's municipis run).")
    var config: String?

    @OptionGroup var dataFlags: DataOptions

    // One flag per key of model, train and parallel; the help comes from `Config.keys`.
    @Option(name: .customLong("block-size"), help: ArgumentHelp(Config.help("model.block_size")))
    var blockSize: Int?
    @Option(name: .customLong("n-embd"), help: ArgumentHelp(Config.help("model.n_embd")))
    var nEmbd: Int?
    @Option(name: .customLong("n-hidden"), help: ArgumentHelp(Config.help("model.n_hidden")))
    var nHidden: Int?
    @Option(name: .customLong("init-seed"), help: ArgumentHelp(Config.help("model.init_seed")))
    var initSeed: Int?

    @Option(name: .customLong("batch-size"), help: ArgumentHelp(Config.help("train.batch_size")))
    var batchSize: Int?
    @Option(help: ArgumentHelp(Config.help("train.steps")))
    var steps: Int?
    @Option(help: ArgumentHelp(Config.help("train.lr") + " As a flag: 0.1, or 0:0.1,100000:0.01.", valueName: "schedule"))
    var lr: String?
    @Option(name: .customLong("bn-momentum"), help: ArgumentHelp(Config.help("train.bn_momentum")))
    var bnMomentum: Double?
    @Option(help: ArgumentHelp(Config.help("train.seed")))
    var seed: Int?
    @Option(name: .customLong("eval-every"), help: ArgumentHelp(Config.help("train.eval_every")))
    var evalEvery: Int?
    @Option(help: ArgumentHelp(Config.help("train.checkpoint"), valueName: "path"))
    var checkpoint: String?
    @Option(name: .customLong("checkpoint-every"), help: ArgumentHelp(Config.help("train.checkpoint_every")))
    var checkpointEvery: Int?

    @Option(help: ArgumentHelp(Config.help("parallel.threads") + " As a flag: N, auto or per-node:N.", valueName: "n"))
    var threads: String?
    @Option(help: ArgumentHelp(Config.help("parallel.nodes") + " As a flag: auto or 0,1.", valueName: "list"))
    var nodes: String?
    @Flag(inversion: .prefixedNo, help: ArgumentHelp(Config.help("parallel.pin")))
    var pin: Bool?
    @Option(help: ArgumentHelp(Config.help("parallel.shards"), valueName: "n"))
    var shards: String?
    @Flag(help: ArgumentHelp(Config.help("parallel.oversubscribe")))
    var oversubscribe = false
    @Option(help: ArgumentHelp(Config.help("parallel.topology", defaults: false) + " As a flag: CPU lists per node separated by ';', e.g. '0;1'.",
                               valueName: "nodes"))
    var topology: String?

    /// The config file (or defaults) with every given flag applied, validated (what `tune` measures).
    func resolve() throws -> Config {
        var c = try config.map { try Config.load(path: $0) } ?? Config()
        try apply(to: &c)
        try c.validate()
        return c
    }

    func apply(to c: inout Config) throws {
        try dataFlags.apply(to: &c)
        if let path = dataFlags.data { ownWordList(path, &c) }
        override(&c, blockSize, "model.block_size", "--block-size") { c, v in c.model.blockSize = v }
        override(&c, nEmbd, "model.n_embd", "--n-embd") { c, v in c.model.nEmbd = v }
        override(&c, nHidden, "model.n_hidden", "--n-hidden") { c, v in c.model.nHidden = v }
        override(&c, initSeed, "model.init_seed", "--init-seed") { c, v in c.model.initSeed = v }
        override(&c, batchSize, "train.batch_size", "--batch-size") { c, v in c.train.batchSize = v }
        override(&c, steps, "train.steps", "--steps") { c, v in c.train.steps = v }
        try override(&c, lr, "train.lr", "--lr") { c, v in c.train.lr = try schedule(v) }
        override(&c, bnMomentum, "train.bn_momentum", "--bn-momentum") { c, v in c.train.bnMomentum = v }
        override(&c, seed, "train.seed", "--seed") { c, v in c.train.seed = v }
        override(&c, evalEvery, "train.eval_every", "--eval-every") { c, v in c.train.evalEvery = v }
        override(&c, checkpoint, "train.checkpoint", "--checkpoint") { c, v in c.train.checkpoint = v }
        override(&c, checkpointEvery, "train.checkpoint_every", "--checkpoint-every") { c, v in c.train.checkpointEvery = v }
        try override(&c, threads, "parallel.threads", "--threads") { c, v in c.parallel.threads = try threadRequest(v) }
        try override(&c, nodes, "parallel.nodes", "--nodes") { c, v in c.parallel.nodes = v == "auto" ? nil : try list(v, "--nodes") { Int($0) } }
        override(&c, pin, "parallel.pin", "--pin") { c, v in c.parallel.pin = v }
        try override(&c, shards, "parallel.shards", "--shards") { c, v in
            if v == "auto" { c.parallel.shards = nil; return }
            guard let n = Int(v) else { throw ValidationError("--shards: expected N or auto, got '\(v)'") }
            c.parallel.shards = n
        }
        override(&c, oversubscribe ? true : nil, "parallel.oversubscribe", "--oversubscribe") { c, v in c.parallel.oversubscribe = v }
        try override(&c, topology, "parallel.topology", "--topology") { c, v in
            c.parallel.topology = try v.split(separator: ";").map { try list(String($0), "--topology") { Int($0) } }
        }
    }
}

/// The data flags, shared by `train` (through ConfigOptions) and `eval`.
/// `--data FILE` with no config or flag for the rest: the defaults that
/// belong to the bundled municipis run do not carry over to the user's list.
/// Its column (`Nom`) becomes none (a text file, or a CSV of one column), its
/// cleaning (the municipis rule, which folds accents) becomes `lowercase`,
/// and the checkpoint is named after the data, `runs/<name>.safetensors`, so a
/// run on your own words never replaces the municipis model.
func ownWordList(_ path: String, _ c: inout Config) {
    if c.origins["data.column"] == nil { c.data.column = nil }
    if c.origins["data.clean"] == nil { c.data.clean = "lowercase" }
    if c.origins["train.checkpoint"] == nil {
        let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        c.train.checkpoint = "runs/\(name.isEmpty ? "model" : name).safetensors"
    }
}

/// Shared by `train` (over the config) and `eval` (over the checkpoint's
/// config), so the help names the keys but no default: each command has its own.
struct DataOptions: ParsableArguments {
    @Option(help: ArgumentHelp(Config.help("data.path", defaults: false), valueName: "path"))
    var data: String?
    @Option(help: ArgumentHelp(Config.help("data.column", defaults: false)))
    var column: String?
    @Option(help: ArgumentHelp(Config.help("data.clean", defaults: false)))
    var clean: String?
    @Option(help: ArgumentHelp(Config.help("data.split", defaults: false) + " As a flag: 0.8,0.1,0.1.", valueName: "a,b,c"))
    var split: String?
    @Option(name: .customLong("data-seed"), help: ArgumentHelp(Config.help("data.seed", defaults: false)))
    var dataSeed: Int?

    func apply(to c: inout Config) throws {
        override(&c, data, "data.path", "--data") { c, v in c.data.path = v }
        override(&c, column, "data.column", "--column") { c, v in c.data.column = v == "none" ? nil : v }
        override(&c, clean, "data.clean", "--clean") { c, v in c.data.clean = v }
        try override(&c, split, "data.split", "--split") { c, v in c.data.split = try list(v, "--split") { Double($0) } }
        override(&c, dataSeed, "data.seed", "--data-seed") { c, v in c.data.seed = v }
    }
}

/// A flag that was given overrides its key and becomes the key's origin in error messages.
func override<T>(_ c: inout Config, _ value: T?, _ key: String, _ flag: String,
                 _ update: (inout Config, T) throws -> Void) rethrows {
    guard let value else { return }
    try update(&c, value)
    c.origins[key] = flag
}

func list<T>(_ text: String, _ flag: String, _ parse: (String) -> T?) throws -> [T] {
    try text.split(separator: ",").map {
        guard let v = parse($0.trimmingCharacters(in: .whitespaces)) else {
            throw ValidationError("\(flag): cannot read '\($0)' in '\(text)'")
        }
        return v
    }
}

func schedule(_ text: String) throws -> [LearningRatePoint] {
    if let rate = Double(text) { return [LearningRatePoint(step: 0, rate: rate)] }
    return try text.split(separator: ",").map { part in
        let pair = part.split(separator: ":")
        guard pair.count == 2, let step = Int(pair[0]), let rate = Double(pair[1]) else {
            throw ValidationError("--lr: expected a number or step:rate,… (e.g. 0:0.1,100000:0.01), got '\(text)'")
        }
        return LearningRatePoint(step: step, rate: rate)
    }
}

func threadRequest(_ text: String) throws -> ThreadRequest {
    if text == "auto" { return .auto }
    if text.hasPrefix("per-node:"), let n = Int(text.dropFirst(9)) { return .perNode(n) }
    if let n = Int(text) { return .count(n) }
    throw ValidationError("--threads: expected N, auto or per-node:N, got '\(text)'")
}
