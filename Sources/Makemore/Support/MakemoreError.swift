import Parallel

/// The one error type users see. `description` is a single line that names the
/// file or key at fault and what is wrong with it; the CLI prints it and exits
/// non-zero, so nothing that comes from user input may trap instead.
public struct MakemoreError: Error, CustomStringConvertible, Equatable {
    public var message: String
    /// The config key at fault, where there is one: callers act on it
    /// (say, to add advice for MPI runs) without reading the message.
    public var setting: String?
    public init(_ message: String, setting: String? = nil) {
        self.message = message
        self.setting = setting
    }
    public var description: String { message }
}

extension MakemoreError {
    /// A pool error in the words of the config: the key of the request that
    /// failed (`threads` and `nodes` name them; `oversubscribe` how to allow more threads than CPUs).
    public init(_ e: PoolError, threads: String, nodes: String, oversubscribe: String) {
        switch e.setting {
        case .threads?:
            var text = "\(threads): \(e)"
            if case .moreThreadsThanCPUs = e { text += " (\(oversubscribe))" }
            self.init(text, setting: threads)
        case .nodes?:
            self.init("\(nodes): \(e)", setting: nodes)
        case nil:
            self.init(e.description)
        }
    }
}
