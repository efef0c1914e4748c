import Yams

/// One key of a config file: where it sits, what it means, how it is read
/// from YAML and written back, and whether it decides the numbers of a run.
/// `Config.keys` lists them all once; the YAML reader, the writer (and so
/// the config a checkpoint stores) and the help of every flag go by it.
public struct ConfigKey: Sendable {
    public let section: String
    public let name: String
    public var path: String { "\(section).\(name)" }
    /// What it does, for --help and the docs.
    public let help: String
    /// Stored in checkpoints: it changes the numbers (threads, pinning and
    /// the like only place the work).
    public let decidesNumbers: Bool
    let read: @Sendable (YAMLReader, Node, String, inout Config) throws -> Void
    /// The YAML value; nil leaves the key out.
    let write: @Sendable (Config) -> String?
}

extension Config {
    public static let keys: [ConfigKey] = dataKeys + modelKeys + trainKeys + parallelKeys

    /// `help` of the key at `path`, with the key and, unless `defaults` is
    /// false, its default: "Characters of context (model.block_size; default 3)."
    public static func help(_ path: String, defaults: Bool = true) -> String {
        guard let key = keys.first(where: { $0.path == path }) else { return path }
        let value = defaults ? key.write(Config()).map { "; default \($0)" } ?? "" : ""
        return "\(key.help) (\(path)\(value))."
    }

    private static func key(_ section: String, _ name: String, _ help: String, decides: Bool = true,
                            read: @escaping @Sendable (YAMLReader, Node, String, inout Config) throws -> Void,
                            write: @escaping @Sendable (Config) -> String?) -> ConfigKey {
        ConfigKey(section: section, name: name, help: help, decidesNumbers: decides, read: read, write: write)
    }

    private static let dataKeys = [
        key("data", "path", "Word list: a CSV file or one word per line",
            read: { r, n, k, c in c.data.path = try r.string(n, k) }, write: { quoted($0.data.path) }),
        key("data", "column", "CSV column holding the words, none (null) for a text file",
            read: { r, n, k, c in c.data.column = try r.optionalString(n, k) }, write: { $0.data.column.map(quoted) ?? "null" }),
        key("data", "clean", "Cleaning: municipis | lowercase | none",
            read: { r, n, k, c in c.data.clean = try r.string(n, k) }, write: { quoted($0.data.clean) }),
        key("data", "split", "Train/dev/test fractions",
            read: { r, n, k, c in c.data.split = try r.list(n, k) { try r.double($0, $1) } },
            write: { "[" + $0.data.split.map { "\($0)" }.joined(separator: ", ") + "]" }),
        key("data", "seed", "Seed of the Python-compatible shuffle before splitting",
            read: { r, n, k, c in c.data.seed = try r.int(n, k) }, write: { "\($0.data.seed)" }),
    ]

    private static let modelKeys = [
        key("model", "block_size", "Characters of context",
            read: { r, n, k, c in c.model.blockSize = try r.int(n, k) }, write: { "\($0.model.blockSize)" }),
        key("model", "n_embd", "Embedding width",
            read: { r, n, k, c in c.model.nEmbd = try r.int(n, k) }, write: { "\($0.model.nEmbd)" }),
        key("model", "n_hidden", "Hidden units",
            read: { r, n, k, c in c.model.nHidden = try r.int(n, k) }, write: { "\($0.model.nHidden)" }),
        key("model", "init_seed", "Seed of the parameter initialisation",
            read: { r, n, k, c in c.model.initSeed = try r.int(n, k) }, write: { "\($0.model.initSeed)" }),
    ]

    private static let trainKeys = [
        key("train", "batch_size", "Rows per step, at least 2",
            read: { r, n, k, c in c.train.batchSize = try r.int(n, k) }, write: { "\($0.train.batchSize)" }),
        key("train", "steps", "Steps to train",
            read: { r, n, k, c in c.train.steps = try r.int(n, k) }, write: { "\($0.train.steps)" }),
        key("train", "lr", "Learning rate: a number, or a schedule of [first step, rate] pairs",
            read: { r, n, k, c in c.train.lr = try r.schedule(n, k) },
            write: { "[" + $0.train.lr.map { "[\($0.step), \($0.rate)]" }.joined(separator: ", ") + "]" }),
        key("train", "bn_momentum", "Momentum of the BatchNorm running statistics",
            read: { r, n, k, c in c.train.bnMomentum = try r.double(n, k) }, write: { "\($0.train.bnMomentum)" }),
        key("train", "seed", "Seed of batch sampling",
            read: { r, n, k, c in c.train.seed = try r.int(n, k) }, write: { "\($0.train.seed)" }),
        key("train", "eval_every", "Print the dev loss every N steps, 0 for never",
            read: { r, n, k, c in c.train.evalEvery = try r.int(n, k) }, write: { "\($0.train.evalEvery)" }),
        key("train", "checkpoint", "Where the checkpoint is written",
            read: { r, n, k, c in c.train.checkpoint = try r.string(n, k) }, write: { quoted($0.train.checkpoint) }),
        key("train", "checkpoint_every", "Also save every N steps, 0 for only at the end",
            read: { r, n, k, c in c.train.checkpointEvery = try r.int(n, k) }, write: { "\($0.train.checkpointEvery)" }),
    ]

    private static let parallelKeys = [
        key("parallel", "threads", "Worker threads: N, auto (one per physical core, at most one per 128 rows), or per_node: N",
            decides: false, read: { r, n, k, c in c.parallel.threads = try r.threads(n, k) },
            write: { c in
                switch c.parallel.threads {
                case .auto: return "auto"
                case .count(let n): return "\(n)"
                case .perNode(let n): return "{per_node: \(n)}"
                }
            }),
        key("parallel", "nodes", "NUMA nodes to use: auto or a list like [0, 1]", decides: false,
            read: { r, n, k, c in c.parallel.nodes = try r.autoOr(n, k) { try r.list($0, $1) { try r.int($0, $1) } } },
            write: { $0.parallel.nodes.map { "\($0)" } ?? "auto" }),
        key("parallel", "pin", "Pin each worker to a CPU", decides: false,
            read: { r, n, k, c in c.parallel.pin = try r.bool(n, k) }, write: { "\($0.parallel.pin)" }),
        key("parallel", "shards", "Shards per batch: N or auto; they fix the result bit for bit whatever the thread count "
            + "(auto: \(Config.autoShardsRule))",
            read: { r, n, k, c in c.parallel.shards = try r.autoOr(n, k) { try r.int($0, $1) } },
            write: { $0.parallel.shards.map { "\($0)" } ?? "auto" }),
        key("parallel", "oversubscribe", "Allow more threads than CPUs, unpinned", decides: false,
            read: { r, n, k, c in c.parallel.oversubscribe = try r.bool(n, k) }, write: { "\($0.parallel.oversubscribe)" }),
        key("parallel", "topology", "Pretend NUMA topology: the CPUs of each node, {nodes: [[0], [1]]}", decides: false,
            read: { r, n, k, c in
                var nodes: [[Int]]? = nil
                try r.mapping(n, k, ["nodes": { nodes = try r.list($0, $1) { try r.list($0, $1) { try r.int($0, $1) } } }])
                c.parallel.topology = nodes
            },
            write: { $0.parallel.topology.map { "{nodes: \($0)}" } }),
    ]

    /// The config a document holds: defaults, then each key it sets.
    static func read(_ root: Node, with r: YAMLReader) throws -> Config {
        var config = Config()
        var sections = [String: (Node, String) throws -> Void]()
        for section in ["data", "model", "train", "parallel"] {
            sections[section] = { node, path in
                var handlers = [String: (Node, String) throws -> Void]()
                for key in keys where key.section == section {
                    handlers[key.name] = { try key.read(r, $0, $1, &config) }
                }
                try r.mapping(node, path, handlers)
            }
        }
        try r.mapping(root, "", sections)
        return config
    }

    /// The config as YAML, one line per section; without `execution`, only
    /// the keys that decide the numbers, with the shard count resolved.
    public func yaml(execution: Bool) -> String {
        var config = self
        if !execution { config.parallel.shards = shards }
        var out = ""
        for section in ["data", "model", "train", "parallel"] {
            let values = Config.keys.filter { $0.section == section && (execution || $0.decidesNumbers) }
                .compactMap { key in key.write(config).map { "\(key.name): \($0)" } }
            out += "\(section): {\(values.joined(separator: ", "))}\n"
        }
        return out
    }
}

/// A YAML double-quoted scalar that reads back as exactly `s`: quotes and
/// backslashes escaped, and control and line-break characters written as
/// \u escapes (a literal line break inside quotes would fold to a space).
func quoted(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\\": out += "\\\\"
        case "\"": out += "\\\""
        case _ where u.value < 0x20 || (0x7F...0x9F).contains(u.value) || u.value == 0x2028 || u.value == 0x2029 || u.value == 0xFEFF:
            let hex = String(u.value, radix: 16, uppercase: true)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}
