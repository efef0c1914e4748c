import ArgumentParser
import Makemore
import Foundation

@main
struct MakemoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "makemore",
        abstract: "Train, evaluate and sample the makemore part-4 MLP: a multicore, data-parallel trainer for character-level name models.",
        discussion: """
            The model is Karpathy's makemore MLP (embedding → linear → BatchNorm → tanh → linear → cross-entropy) \
            with hand-derived, fused gradients on SIMD kernels. Training splits each batch into fixed shards run by \
            pinned worker threads with synchronized BatchNorm, so the result is bit-identical for any thread count.

            Start with:  makemore train --config configs/municipis.yaml

            Exit status: 0 done; 1 a file or value is wrong, or a run diverged or could not save (one line on \
            stderr says which and why); 2 wrong command-line usage; 3 sample hit --max-length; 130/143 stopped by \
            SIGINT/SIGTERM after saving.
            """,
        subcommands: [Train.self, Eval.self, Sample.self, Info.self, Grads.self, Gradcheck.self, Bench.self, Tune.self]
    )

    /// ArgumentParser's `main`, with the exit statuses above: its usage errors
    /// (EX_USAGE, 64) become 2, and an error thrown while running is one line.
    static func main() {
        do {
            var command = try parseAsRoot()
            // After parsing (this module and the parser are built for baseline
            // x86-64, so --help and usage errors still answer on an older CPU:
            // for --help the parser returns its own help command), before any
            // of ours runs AVX code.
            let ours = configuration.subcommands.contains { ObjectIdentifier($0) == ObjectIdentifier(type(of: command)) }
            if ours, let problem = KernelSet.cpuProblem() {
                complain("Error: \(problem)")
                Foundation.exit(1)
            }
            try command.run()
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch let error as ValidationError {
            complain("Error: \(oneLine(error.message))")
            Foundation.exit(2)
        } catch {
            switch exitCode(for: error) {
            case .success:
                exit(withError: error)  // --help and friends: their text, status 0
            case .validationFailure:
                complain(fullMessage(for: error))
                Foundation.exit(2)
            default:
                complain("Error: \(fileErrorText(error))")
                Foundation.exit(1)
            }
        }
    }
}
