import ArgumentParser

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
            """,
        subcommands: [Train.self, Eval.self, Sample.self, Grads.self, Gradcheck.self, Bench.self]
    )
}
