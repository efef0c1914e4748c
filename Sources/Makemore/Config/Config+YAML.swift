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
        guard let root else { return Config() }  // an empty file: all defaults
        let r = YAMLReader(source: source)
        var config = try Config.read(root, with: r)
        config.origins = r.recorder.origins
        return config
    }

    /// The config as YAML, in the layout of the files under configs/.
    public var yaml: String { yaml(execution: true) }
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
