import ArgumentParser
import Bench
import Foundation
import Makemore
import Parallel

struct Tune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the matrix products' register tiles on this CPU and remember the fastest.",
        discussion: """
            Each of a step's six matrix products can run with several register blockings (rows × SIMD16 \
            vectors of the output held in registers). Which is fastest depends on the CPU (register file, FMA \
            pipes) and on the shape, so `train` and `bench` measure the candidates at their shapes the first \
            time and remember the choice per CPU model in the tile cache \
            ($MAKEMORE_CACHE_DIR/tiles.tsv, else $XDG_CACHE_HOME/makemore/tiles.tsv, else ~/.cache/makemore/tiles.tsv). \
            Every candidate accumulates each output in the same order, so the choice never changes a bit of \
            any result, only the speed.

            This command measures again now (for the shapes of the given config), prints every candidate's \
            speed, and updates the cache. MAKEMORE_ISA=avx2 measures the AVX2 kernels on an AVX-512 CPU. \
            Without a config or --data, and without data/municipis.csv in the current folder (the binary \
            copied alone to another machine), it tunes the bundled data's shapes (V 29).

              makemore tune
              makemore tune --config configs/names.yaml --batch-size 4096 --shards 8 --n-hidden 256
            """)

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let config = try options.resolve()
        let vocabSize: Int
        if options.dataFlags.data == nil && options.config == nil && !FileManager.default.fileExists(atPath: config.data.path) {
            // dist/makemore alone on another machine: the bundled data's vocabulary, which is also
            // the shape `makemore bench` times, rather than a refusal for want of a file.
            vocabSize = BenchSpec().vocabSize
            print("no \(config.data.path) here: tuning the bundled data's shapes (V \(vocabSize), as `makemore bench` "
                + "times them); give --data or --config for another vocabulary")
        } else {
            vocabSize = try loadDataset(config, vocabulary: nil).vocabulary.count
        }
        let shape = ModelShape(vocabSize: vocabSize, blockSize: config.model.blockSize,
                               nEmbd: config.model.nEmbd, nHidden: config.model.nHidden)
        let (batch, shards) = (config.train.batchSize, config.shards)
        let engine = StepEngine(model: Model(shape: shape), batchSize: batch, shards: shards, workers: 1)
        var cache = TileCache()
        let (plan, measured) = cache.tune(engine, force: true)
        print("\(cpuModelName()), \(engine.kernels.isa.label) kernels, one thread; "
            + "row tiles of \(engine.rowTile) (batch \(batch) in \(shards) shards), V \(shape.vocabSize), K \(shape.inputWidth), H \(shape.nHidden)")
        print("product         m     n     k   tile   GFLOP/s   other tiles (GFLOP/s)")
        for r in measured {
            let others = r.timings.dropFirst().prefix(5).map { "\($0.tile) \(String(format: "%.1f", $0.gflops))" }
            let name = r.product.name(shape, rows: engine.rowTile).padding(toLength: 12, withPad: " ", startingAt: 0)
            let tile = "\(plan[r.product])".padding(toLength: 5, withPad: " ", startingAt: 0)
            print(name + String(format: " %5d %5d %5d   ", r.m, r.n, r.k) + tile
                + String(format: " %8.1f   ", r.timings[0].gflops) + others.joined(separator: ", "))
        }
        if let problem = cache.save() {
            print("warning: \(problem)")
        } else if let path = cache.path {
            print("remembered in \(path)")
        }
    }
}
