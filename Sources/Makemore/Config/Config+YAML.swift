import Foundation
import Yams

// Reading and writing the YAML form of `Config`.
//
// We walk Yams' node tree ourselves instead of using Decodable: a user who
// misspells `batch_sise` must hear about that key, and a wrong type must be
// reported with its key path and line ("configs/x.yaml:7: train.steps: expected
// an integer, got 'many'"), which DecodingError does not give.

extension Config {
    /// Loads `path`, starting from the defaults; keys absent from the file keep them.
    public static func load(path: String) throws -> Config {
        try parse(yaml: YAMLReader.text(ofConfig: path), source: path)
    }

    public static func parse(yaml text: String, source: String) throws -> Config {
        let root = try YAMLReader.compose(text, source: source)
        var config = Config()
        guard let root else { return config }  // an empty file: all defaults
        let r = YAMLReader(source: source)
        try r.mapping(root, "", [
            "data": { node, key in
                try r.mapping(node, key, [
                    "path": { config.data.path = try r.string($0, $1) },
                    "column": { config.data.column = try r.optionalString($0, $1) },
                    "clean": { config.data.clean = try r.string($0, $1) },
                    "split": { config.data.split = try r.list($0, $1) { try r.double($0, $1) } },
                    "seed": { config.data.seed = try r.int($0, $1) },
                ])
            },
            "model": { node, key in
                try r.mapping(node, key, [
                    "block_size": { config.model.blockSize = try r.int($0, $1) },
                    "n_embd": { config.model.nEmbd = try r.int($0, $1) },
                    "n_hidden": { config.model.nHidden = try r.int($0, $1) },
                    "init_seed": { config.model.initSeed = try r.int($0, $1) },
                ])
            },
            "train": { node, key in
                try r.mapping(node, key, [
                    "batch_size": { config.train.batchSize = try r.int($0, $1) },
                    "steps": { config.train.steps = try r.int($0, $1) },
                    "lr": { config.train.lr = try r.schedule($0, $1) },
                    "bn_momentum": { config.train.bnMomentum = try r.double($0, $1) },
                    "seed": { config.train.seed = try r.int($0, $1) },
                    "eval_every": { config.train.evalEvery = try r.int($0, $1) },
                    "checkpoint": { config.train.checkpoint = try r.string($0, $1) },
                    "checkpoint_every": { config.train.checkpointEvery = try r.int($0, $1) },
                ])
            },
            "parallel": { node, key in
                try r.mapping(node, key, [
                    "threads": { config.parallel.threads = try r.threads($0, $1) },
                    "nodes": { config.parallel.nodes = try r.autoOr($0, $1) { try r.list($0, $1) { try r.int($0, $1) } } },
                    "pin": { config.parallel.pin = try r.bool($0, $1) },
                    "shards": { config.parallel.shards = try r.autoOr($0, $1) { try r.int($0, $1) } },
                    "oversubscribe": { config.parallel.oversubscribe = try r.bool($0, $1) },
                    "topology": { node, key in
                        try r.mapping(node, key, [
                            "nodes": { config.parallel.topology = try r.list($0, $1) { try r.list($0, $1) { try r.int($0, $1) } } },
                        ])
                    },
                ])
            },
        ])
        config.origins = r.recorder.origins
        return config
    }

    /// The config as YAML, in the layout of the files under configs/.
    public var yaml: String { yaml(execution: true) }

    /// The config as YAML; without `execution`, the parallel section holds only
    /// `shards` (see `resultDefining`): the form stored in checkpoints.
    public func yaml(execution: Bool) -> String {
        func num(_ d: Double) -> String { "\(d)" }
        let lr = train.lr.map { "[\($0.step), \(num($0.rate))]" }.joined(separator: ", ")
        let threads: String
        switch parallel.threads {
        case .auto: threads = "auto"
        case .count(let n): threads = "\(n)"
        case .perNode(let n): threads = "{per_node: \(n)}"
        }
        var lines = [
            "data: {path: \(quoted(data.path)), column: \(data.column.map(quoted) ?? "null"), clean: \(quoted(data.clean)), split: [\(data.split.map(num).joined(separator: ", "))], seed: \(data.seed)}",
            "model: {block_size: \(model.blockSize), n_embd: \(model.nEmbd), n_hidden: \(model.nHidden), init_seed: \(model.initSeed)}",
            "train: {batch_size: \(train.batchSize), steps: \(train.steps), lr: [\(lr)], bn_momentum: \(num(train.bnMomentum)), seed: \(train.seed), eval_every: \(train.evalEvery), checkpoint: \(quoted(train.checkpoint)), checkpoint_every: \(train.checkpointEvery)}",
            execution
                ? "parallel: {threads: \(threads), nodes: \(parallel.nodes.map { "\($0)" } ?? "auto"), pin: \(parallel.pin), shards: \(parallel.shards.map { "\($0)" } ?? "auto"), oversubscribe: \(parallel.oversubscribe)"
                : "parallel: {shards: \(shards)",
        ]
        if execution, let topo = parallel.topology { lines[3] += ", topology: {nodes: \(topo)}" }
        lines[3] += "}"
        return lines.joined(separator: "\n") + "\n"
    }

    /// A YAML double-quoted scalar that reads back as exactly `s`: quotes and
    /// backslashes escaped, and control and line-break characters written as
    /// \\u escapes (a literal line break inside quotes would fold to a space).
    private func quoted(_ s: String) -> String {
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
}

/// Typed access to YAML nodes with errors that name the file, line and key.
package struct YAMLReader {
    let source: String

    /// The text of the config file at `path`: a regular file, at most
    /// `FileReader.Limit.config` bytes, UTF-8.
    package static func text(ofConfig path: String) throws -> String {
        let bytes = try FileReader.readAll(path: path, limit: FileReader.Limit.config, what: "a config", noun: "config")
        guard let text = String(validating: bytes, as: UTF8.self) else { throw MakemoreError("\(path): not valid UTF-8") }
        return text
    }

    /// The document's root node (nil for an empty file); a syntax error is one line naming `source`.
    package static func compose(_ text: String, source: String) throws -> Node? {
        do {
            return try Yams.compose(yaml: text)
        } catch {
            let detail = "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)"
            throw MakemoreError("\(source): not valid YAML: \(shown(detail, limit: 200))")
        }
    }
    /// Where each key path was set ("file:line"), filled as keys are read.
    final class Recorder { var origins: [String: String] = [:] }
    let recorder = Recorder()

    package init(source: String) { self.source = source }

    package func error(_ node: Node, _ key: String, _ why: String) -> MakemoreError {
        MakemoreError("\(source):\(node.mark.map { "\($0.line):" } ?? "") \(shown(key, limit: 120)): \(oneLine(why))")
    }

    private func join(_ parent: String, _ key: String) -> String { parent.isEmpty ? key : "\(parent).\(key)" }

    /// Dispatches each key of a mapping to its handler; an unknown key is an error listing the known ones.
    package func mapping(_ node: Node, _ key: String, _ handlers: [String: (Node, String) throws -> Void]) throws {
        guard case .mapping(let m) = node else {
            throw error(node, key.isEmpty ? "top level" : key, "expected a mapping of keys, got \(describe(node))")
        }
        for (k, v) in m {
            guard let name = k.string, let handler = handlers[name] else {
                let known = handlers.keys.sorted().joined(separator: ", ")
                throw error(k, join(key, k.string ?? "?"), "unknown key (known keys\(key.isEmpty ? "" : " of \(key)"): \(known))")
            }
            let path = join(key, name)
            recorder.origins[path] = "\(source)" + (k.mark.map { ":\($0.line)" } ?? "")
            try handler(v, path)
        }
    }

    package func scalar(_ node: Node, _ key: String, _ what: String) throws -> String {
        guard case .scalar(let s) = node else { throw error(node, key, "expected \(what), got \(describe(node))") }
        return s.string
    }

    package func string(_ node: Node, _ key: String) throws -> String {
        guard let s = try optionalString(node, key) else { throw error(node, key, "expected a string, got null") }
        return s
    }

    package func optionalString(_ node: Node, _ key: String) throws -> String? {
        if node.null != nil { return nil }
        return try scalar(node, key, "a string")
    }

    package func int(_ node: Node, _ key: String) throws -> Int {
        let s = try scalar(node, key, "an integer").replacingOccurrences(of: "_", with: "")
        if let v = Int(s) { return v }
        if let d = Double(s), d == d.rounded(), abs(d) < 9e15 { return Int(d) }  // 2e5 is a fine step count
        throw error(node, key, "expected an integer, got '\(shown(s))'")
    }

    package func double(_ node: Node, _ key: String) throws -> Double {
        let s = try scalar(node, key, "a number")
        guard let v = Double(s.replacingOccurrences(of: "_", with: "")), v.isFinite else {
            throw error(node, key, "expected a finite number, got '\(shown(s))'")
        }
        return v
    }

    package func bool(_ node: Node, _ key: String) throws -> Bool {
        guard let b = node.bool else { throw error(node, key, "expected true or false, got \(describe(node))") }
        return b
    }

    package func list<T>(_ node: Node, _ key: String, _ element: (Node, String) throws -> T) throws -> [T] {
        guard case .sequence(let seq) = node else { throw error(node, key, "expected a list, got \(describe(node))") }
        return try seq.enumerated().map { try element($1, "\(key)[\($0)]") }
    }

    /// `auto` (or null) → nil, otherwise the value.
    package func autoOr<T>(_ node: Node, _ key: String, _ value: (Node, String) throws -> T) throws -> T? {
        if node.null != nil || node.string == "auto" { return nil }
        return try value(node, key)
    }

    /// `[[step, lr], ...]` or a single number (constant rate).
    package func schedule(_ node: Node, _ key: String) throws -> [LearningRatePoint] {
        if case .scalar = node { return [LearningRatePoint(step: 0, rate: try double(node, key))] }
        return try list(node, key) { item, k in
            let pair = try list(item, k) { n, _ in n }
            guard pair.count == 2 else { throw error(item, k, "expected [step, learning_rate]") }
            return LearningRatePoint(step: try int(pair[0], k + ".step"), rate: try double(pair[1], k + ".rate"))
        }
    }

    /// `auto`, a number, or `{per_node: N}`.
    package func threads(_ node: Node, _ key: String) throws -> Config.Parallel.Threads {
        if node.string == "auto" { return .auto }
        if case .mapping = node {
            var result = Config.Parallel.Threads.auto
            try mapping(node, key, ["per_node": { result = .perNode(try int($0, $1)) }])
            return result
        }
        return .count(try int(node, key))
    }

    private func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s): return "'\(shown(s.string))'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }
}
