"""The summary of a bench/cpu-report.sh folder: one CPU's tables and targets.

    python3 bench/cpu_report.py FOLDER      (prints Markdown)

Reads step-<path>.json (the one-thread grid per vector path, merged over the
rounds: fastest repeat of any round, median of the rounds' medians),
tune-<path>.txt, scaling.json and identity.txt, as bench/cpu-report.sh writes
them. Shares of the FMA peak are of each path's own peak, the highest its
rounds measured. Standard library only.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchdata as bd  # noqa: E402

PATHS = {"avx512": "AVX-512", "avx2": "AVX2"}
TUNE_ROW = re.compile(r"^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+x\d+)\s+([\d.]+)")
TUNE_HEAD = re.compile(r"row tiles of (\d+) \(batch (\d+) in (\d+) shards\).*H (\d+)$")
# The model's six matrix products as bench/kernels names them (the folded step adds smaller ones).
SIX_PRODUCTS = {"emb·W1", "h·W2", "hT·dlogits", "dlogits·W2T", "embT·dh", "dh·W1T"}
# bench/kernels' per-call table: name, shape, ns/call, GFLOP/s, % of peak, best ns, best % of peak.
KERNEL_ROW = re.compile(r"^(\S.*?)\s{2,}(\S.*?)\s{2,}([\d.]+)\s+([\d.]+)\s+(\d+)%\s+([\d.]+)\s+(\d+)%\s*$")


def cell(cells: list[dict], batch: int, hidden: int, threads: int = 1) -> dict | None:
    return next((c for c in cells if bd.key(c) == (threads, batch, hidden)), None)


def fastest_rate(c: dict) -> float:
    return c["batch_size"] / c["us_per_step_min"] * 1e6


def us(x: float) -> str:
    return f"{x:.0f}" if x >= 100 else f"{x:.3g}"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def step_section(grids: dict[str, tuple[list[dict], dict]]) -> list[str]:
    lines = ["## One thread, the step's share of the FMA peak", "",
             "Fastest repeat of any round (µs/step min), its samples/s and share of the path's own "
             "single-core peak (the model's six matrix products as written; shards of 38 rows or more "
             "fold three of them, so the engine does less than that); the median of the rounds' medians beside it.", ""]
    targets = []
    for p, (cells, meta) in grids.items():
        peak = meta.get("fma_peak", {}).get("single_core_gflops")
        lines += [f"**{PATHS[p]}** (FMA peak {peak:.0f} GFLOP/s per core):" if peak else f"**{PATHS[p]}**:", "",
                  "| batch | H | µs/step fastest | median | samples/s | % of peak |", "|---:|---:|---:|---:|---:|---:|"]
        for c in sorted((c for c in cells if c["threads"] == 1), key=lambda c: (c["n_hidden"], c["batch_size"])):
            lines.append(f"| {c['batch_size']} | {c['n_hidden']} | {us(c['us_per_step_min'])} | "
                         f"{us(c['us_per_step_median'])} | {bd.si(fastest_rate(c))} | {100 * c['peak_share_best']:.0f}% |")
        lines.append("")
        for h in (64, 256):
            big, mid = cell(cells, 65536, h), cell(cells, 4096, h)
            if mid:
                share = mid["peak_share_best"]
                targets.append(f"| {PATHS[p]}: batch 4096, H {h} at 60% of the peak or more | {100 * share:.0f}% | {verdict(share >= 0.6)} |")
            if big and mid:
                keep = fastest_rate(big) / fastest_rate(mid)
                targets.append(f"| {PATHS[p]}: batch 65536 at 90% or more of batch 4096's samples/s, H {h} | "
                               f"{100 * keep:.0f}% | {verdict(keep >= 0.9)} |")
    if len(grids) == 2:
        fast, slow = (cells for cells, _ in grids.values())
        ratios = [cell(slow, c["batch_size"], c["n_hidden"])["us_per_step_min"] / c["us_per_step_min"]
                  for c in fast if cell(slow, c["batch_size"], c["n_hidden"])]
        if ratios:
            lines += [f"AVX-512 against forced AVX2, fastest repeats: {min(ratios):.2f}-{max(ratios):.2f}x.", ""]
    return lines + ["## Targets", "", "| target | measured | |", "|---|---:|---|"] + targets + [""]


def tune_section(folder: Path, grids: dict[str, tuple[list[dict], dict]]) -> list[str]:
    lines = ["## The matrix products' register tiles (`makemore tune`)", "",
             "Each product at the step's shapes with the tile the tuner chose: its GFLOP/s in the tuner's "
             "short timing (a few milliseconds per candidate, so below the best-iteration figures of "
             "bench/kernels, which needs Swift) and that as a share of the path's peak.", ""]
    for p, (_, meta) in grids.items():
        f = folder / f"tune-{p}.txt"
        if not f.exists():
            continue
        peak = meta.get("fma_peak", {}).get("single_core_gflops")
        lines += [f"**{PATHS[p]}**:", "", "| shapes of | product | m × n × k | tile | GFLOP/s | % of peak |",
                  "|---|---|---|---|---:|---:|"]
        where = "?"
        for line in f.read_text().splitlines():
            head = TUNE_HEAD.search(line)
            if head:
                where = f"batch {head.group(2)}, H {head.group(4)} ({head.group(1)}-row tiles)"
            row = TUNE_ROW.match(line)
            if row:
                name, m, n, k, tile, gflops = row.groups()
                share = f"{100 * float(gflops) / peak:.0f}%" if peak else "-"
                lines.append(f"| {where} | {name} | {m} × {n} × {k} | {tile} | {float(gflops):.1f} | {share} |")
        lines.append("")
    return lines


def kernels_section(folder: Path, paths: list[str]) -> tuple[list[str], list[str]]:
    """bench/kernels' matrix products and softmax-CE, where the folder has its tables; and target lines."""
    lines, targets = [], []
    for p in paths:
        f = folder / f"kernels-{p}.txt"
        if not f.exists():
            continue
        rows = [m.groups() for m in map(KERNEL_ROW.match, f.read_text().splitlines()) if m]
        all_gemms = [(name[5:], int(best)) for name, _, _, _, _, _, best in rows if name.startswith("gemm ")]
        gemms = [(name, best) for name, best in all_gemms if name.split()[0] in SIX_PRODUCTS]
        folded = [f"{name} {best}%" for name, best in all_gemms if name.split()[0] not in SIX_PRODUCTS]
        softmax = [r for r in rows if r[0] == "softmaxCE r512 H64"]
        if not gemms:
            continue
        under = [f"{name} {best}%" for name, best in gemms if best < 80]
        lines += [f"**{PATHS[p]}**: the model's six products at {len(gemms)} shapes, {min(b for _, b in gemms)}-"
                  f"{max(b for _, b in gemms)}% of the peak by the best iteration"
                  + (f"; under 80%: {', '.join(under)}" if under else "") + "."
                  + (f" The folded step's smaller products: {', '.join(folded)}." if folded else "")
                  + (f" Softmax-CE over 512 rows: {float(softmax[0][2]) / 1000:.1f} µs a call "
                     f"(best {float(softmax[0][5]) / 1000:.1f})." if softmax else ""), ""]
        targets.append(f"| {PATHS[p]}: the six matrix products in bench/kernels at 80% of the peak or more (best iteration) | "
                       f"{len(gemms) - len(under)} of {len(gemms)} | {verdict(not under)} |")
    if lines:
        lines = ["## Kernel micro-benchmarks (bench/kernels)", "",
                 "Every matrix product at the shapes of one shard and of the step's row tiles; the full tables are in "
                 "kernels-<path>.txt.", ""] + lines
    return lines, targets


def scaling_section(folder: Path) -> list[str]:
    f = folder / "scaling.json"
    if not f.exists():
        return []
    cells, meta = bd.load(f)
    threads = sorted({c["threads"] for c in cells})
    lines = ["## Threads", "", "Speedup against one thread and efficiency (speedup / threads), by the medians "
             "and, in brackets, by the fastest repeats.", "",
             "| batch | H | " + " | ".join(f"{t} thread{'s' if t > 1 else ''}" for t in threads) + " |",
             "|---:|---:|" + "---:|" * len(threads)]
    for b, h in sorted({(c["batch_size"], c["n_hidden"]) for c in cells}, key=lambda k: (k[1], k[0])):
        one = cell(cells, b, h, threads[0])
        row = []
        for t in threads:
            c = cell(cells, b, h, t)
            if not (c and one):
                row.append("-")
                continue
            med = one["us_per_step_median"] / c["us_per_step_median"]
            best = one["us_per_step_min"] / c["us_per_step_min"]
            row.append(f"{med:.2f}x {100 * med * threads[0] / t:.0f}% ({100 * best * threads[0] / t:.0f}%)")
        lines.append(f"| {b} | {h} | " + " | ".join(row) + " |")
    return lines + [""]


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.strip().splitlines()[2].strip())
    folder = Path(sys.argv[1])
    # Each path's merged one-thread grid, read once: (cells, metadata), AVX-512 first.
    grids = {p: bd.load(folder / f"step-{p}.json") for p in PATHS if (folder / f"step-{p}.json").exists()}
    if not grids:
        raise SystemExit(f"{folder}: no step-avx512.json or step-avx2.json (run bench/cpu-report.sh)")
    paths = list(grids)
    meta = next(iter(grids.values()))[1]
    machine = meta.get("machine", {})
    out = [f"# {machine.get('cpu_model', 'unknown CPU')}", "",
           f"{machine.get('logical_cpus', '?')} logical CPUs, {machine.get('topology', '')}; {meta.get('date', '')}; "
           f"rounds of the one-thread grid: {meta.get('runs', 1)}.", ""]
    kernels, kernel_targets = kernels_section(folder, paths)
    step = step_section(grids)
    if kernel_targets:  # into the targets table, which ends the step section
        step = step[:-1] + kernel_targets + [""]
    out += step + kernels + tune_section(folder, grids) + scaling_section(folder)
    identity = folder / "identity.txt"
    if identity.exists():
        text = identity.read_text().strip().splitlines()
        same = [l for l in text if l.startswith("identical:")]
        out += ["## The AVX-512 and AVX2 paths", "",
                f"{same[0].rstrip(':')} (scripts/isa-check/check.sh --native)." if same else
                ("\n".join(text[-5:]) if text else "identity.txt is empty"), ""]
    print("\n".join(out))


if __name__ == "__main__":
    main()
