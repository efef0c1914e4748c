/// The one error type users see. `description` is a single line that names the
/// file or key at fault and what is wrong with it; the CLI prints it and exits
/// non-zero, so nothing that comes from user input may trap instead.
public struct MakemoreError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
