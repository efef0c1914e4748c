import Foundation
import Parallel

/// The register tiles measured on this machine, remembered per CPU model so
/// that a run tunes only shapes it has not seen (FFTW's wisdom file).
///
/// A text file, one choice per line: CPU model, ISA, product and shape, tile,
/// tab-separated. It is a cache: a line that does not parse is ignored, a
/// file that cannot be read is treated as empty, and a failed save costs only
/// a re-measurement next time. The choice never changes a result's bits.
public struct TileCache {
    /// nil: remember nothing (measure each time).
    public let path: String?
    private var entries: [String: GemmTile] = [:]
    private var dirty = false

    /// `$MAKEMORE_CACHE_DIR/tiles.tsv`, else `$XDG_CACHE_HOME/makemore/tiles.tsv`, else `~/.cache/makemore/tiles.tsv`.
    public static var defaultPath: String? {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["MAKEMORE_CACHE_DIR"], !dir.isEmpty { return dir + "/tiles.tsv" }
        if let dir = env["XDG_CACHE_HOME"], !dir.isEmpty { return dir + "/makemore/tiles.tsv" }
        if let home = env["HOME"], !home.isEmpty { return home + "/.cache/makemore/tiles.tsv" }
        return nil
    }

    public init(path: String? = TileCache.defaultPath) {
        self.path = path
        guard let path, let bytes = try? FileReader.readAll(path: path, limit: FileReader.Limit.config) else { return }
        let text = String(decoding: bytes, as: UTF8.self)
        for line in text.split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count == 4, let tile = GemmTile(String(f[3])) else { continue }
            entries[f[0...2].joined(separator: "\t")] = tile
        }
    }

    static func key(cpu: String, isa: ISA, _ r: (product: StepProduct, m: Int, n: Int, k: Int, transposedA: Bool)) -> String {
        "\(cpu)\t\(isa.rawValue)\t\(r.product) m\(r.m) n\(r.n) k\(r.k)\(r.transposedA ? " At" : "")"
    }

    /// The plan for `engine`'s shapes: remembered tiles where this CPU has
    /// them, the rest measured now (all of them with `force`). Returns what
    /// was measured, for reports.
    public mutating func tune(_ engine: StepEngine, products: [StepProduct] = StepProduct.allCases,
                              force: Bool = false) -> (plan: GemmPlan, measured: [GemmTuner.Result]) {
        let cpu = cpuModelName()
        let rows = engine.rowTile  // every phase goes through a shard in tiles of this many rows
        var plan = engine.plan
        var missing = [StepProduct]()
        for p in products {
            let d = p.dimensions(engine.shape, rows: rows)
            if !force, let tile = entries[Self.key(cpu: cpu, isa: engine.kernels.isa, (p, d.m, d.n, d.k, d.transposedA))] {
                plan[p] = tile
            } else {
                missing.append(p)
            }
        }
        let measured = missing.isEmpty ? [] : GemmTuner.measure(shape: engine.shape, rows: rows, kernels: engine.kernels, products: missing)
        for r in measured {
            plan[r.product] = r.best
            entries[Self.key(cpu: cpu, isa: engine.kernels.isa, (r.product, r.m, r.n, r.k, r.transposedA))] = r.best
            dirty = true
        }
        return (plan, measured)
    }

    /// Writes the file if anything new was measured; a failure is returned as text, not thrown.
    public mutating func save() -> String? {
        guard dirty, let path else { return nil }
        let dir = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let text = entries.keys.sorted().map { "\($0)\t\(entries[$0]!)\n" }.joined()
            try AtomicFile.write(Array(text.utf8), to: path)
            dirty = false
            return nil
        } catch {
            return "tile cache not saved to \(path): \(fileErrorText(error)); the tiles are measured again next run"
        }
    }
}
