"""makemore / PyTorch per cell, as a markdown table, and the targets of docs/benchmarks.md.

    python3 bench/compare.py bench/results/makemore.json bench/results/torch.json \
        [--anchor torch.compile=bench/results/torch_compile.json] [--anchor jax=bench/results/jax.json] \
        [--markdown OUT.md]

Joins the result files on (threads, batch_size, n_hidden) and prints, per
cell, both median step times, both throughputs, both parallel efficiencies and
the ratio makemore/PyTorch in samples per second (= PyTorch µs / makemore µs).
With --anchor files (other baselines of the same grid: torch.compile, JAX),
PyTorch eager counts as one anchor more and each cell also shows the fastest
anchor and makemore / that anchor. Where makemore's file has the FMA peak
(`makemore bench` measures it), the makemore GFLOP/s of the step's six matrix
products and their share of the single-core peak × threads are shown. A `*`
marks cells where other processes kept more than 0.1 CPU busy (`others`) in
either run. Then the three speed targets (against PyTorch eager), met or
missed and by how much:

  * the notebook config (batch 32, n_hidden 64) on 1 thread: at least 30x PyTorch
  * batch 4096 with every core (the grid's largest thread count): at least 4x PyTorch
  * parallel efficiency at 2 threads of at least 90% from batch 1024 up

Standard library only (no torch, no matplotlib needed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchdata as bd  # noqa: E402


def run_ratios(c: dict, t: dict) -> list[float]:
    """makemore/PyTorch of each run pair (run i of both were measured back to back)."""
    a, b = c.get("run_medians"), t.get("run_medians")
    if not a or not b or len(a) != len(b):
        return []
    return [tb / ta for ta, tb in zip(a, b)]


def spread(rs: list[float]) -> str:
    return f"{min(rs):.1f}–{max(rs):.1f}" if len(rs) > 1 else ""


BUSY = 0.1  # other_cpus_busy above this: the cell shared the machine (as `makemore bench`'s '*')


def busy(*cells) -> bool:
    return any(c is not None and c.get("other_cpus_busy", -1) > BUSY for c in cells)


def gflops_and_share(c: dict, meta: dict) -> tuple[float | None, float | None]:
    """makemore's GFLOP/s (six matrix products per median step) and its share of
    the single-core FMA peak × ranks × threads; recomputed from the median, since
    files merged by an older bench/merge.py kept the middle run's."""
    flops = c.get("flops_per_step", 0)
    if not flops:
        return None, None
    g = flops / (c["us_per_step_median"] * 1e3)
    peak = (meta.get("fma_peak") or {}).get("single_core_gflops", 0)
    share = g / (peak * c["threads"] * c.get("ranks", 1)) if peak > 0 else None
    return g, share


def best_anchor(k, anchors: dict[str, dict]) -> tuple[str, dict] | None:
    have = [(name, cells[k]) for name, cells in anchors.items() if k in cells]
    return min(have, key=lambda a: a[1]["us_per_step_median"]) if have else None


def table(mm: list[dict], pt: dict, anchors: dict[str, dict] | None = None, meta: dict | None = None) -> list[str]:
    anchors, meta = anchors or {}, meta or {}
    runs = max((len(c.get("run_medians", [])) for c in mm), default=0)
    flops = any(c.get("flops_per_step") for c in mm)
    head = ("| threads | batch | H | makemore µs/step | PyTorch µs/step | makemore samples/s | PyTorch samples/s "
            "| makemore eff. | PyTorch eff. | makemore / PyTorch |")
    rule = "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    if anchors:
        head += " best anchor | makemore / best |"
        rule += "---|---:|"
    if flops:
        head += " makemore GFLOP/s | % of peak |"
        rule += "---:|---:|"
    if runs > 1:
        head += f" per run ({runs} runs) |"
        rule += "---:|"
    lines = [head, rule]
    flagged = False
    for c in sorted(mm, key=lambda c: (c["n_hidden"], c["batch_size"], c["threads"])):
        k = bd.key(c)
        t = pt.get(k)
        if t is None:
            continue
        ratio = t["us_per_step_median"] / c["us_per_step_median"]
        star = "*" if busy(c, t, *(a.get(k) for a in anchors.values())) else ""
        flagged = flagged or bool(star)
        line = (f"| {c['threads']}{star} | {c['batch_size']} | {c['n_hidden']} | {c['us_per_step_median']:.1f} "
                f"| {t['us_per_step_median']:.1f} | {bd.si(c['samples_per_s'])} | {bd.si(t['samples_per_s'])} "
                f"| {100 * c['efficiency']:.0f}% | {100 * t['efficiency']:.0f}% | **{ratio:.1f}x** |")
        if anchors:
            best = best_anchor(k, {"PyTorch": pt, **anchors})
            name, b = best
            line += f" {name} {b['us_per_step_median']:.1f} µs | **{b['us_per_step_median'] / c['us_per_step_median']:.1f}x** |"
        if flops:
            g, share = gflops_and_share(c, meta)
            line += (f" {g:.1f} |" if g is not None else " – |") + (f" {100 * share:.0f}% |" if share is not None else " – |")
        if runs > 1:
            line += f" {spread(run_ratios(c, t))} |"
        lines.append(line)
    if flagged:
        lines += ["", f"\\* other processes kept more than {BUSY} CPU busy during this cell (in one of the runs): "
                  "its times are not clean."]
    return lines


def targets(mm: list[dict], pt: dict) -> list[str]:
    out = []
    cells = {bd.key(c): c for c in mm}
    max_t = max(c["threads"] for c in mm)

    def ratio(k):
        return pt[k]["us_per_step_median"] / cells[k]["us_per_step_median"] if k in cells and k in pt else None

    def runs_note(k):
        rs = run_ratios(cells[k], pt[k])
        return f" (runs: {spread(rs)}x)" if len(rs) > 1 else ""

    r = ratio((1, 32, 64))
    if r is None:
        out.append("- notebook config (batch 32, H 64, 1 thread) ≥ 30x PyTorch: not in this run")
    else:
        out.append(f"- notebook config (batch 32, H 64, 1 thread) ≥ 30x PyTorch: **{r:.1f}x**{runs_note((1, 32, 64))}, "
                   + ("met" if r >= 30 else f"missed by {30 / r:.2f}x ({100 * (1 - r / 30):.0f}% short)"))
    for h in sorted({c["n_hidden"] for c in mm}):
        r = ratio((max_t, 4096, h))
        if r is not None:
            out.append(f"- batch 4096, H {h}, {max_t} threads ≥ 4x PyTorch: **{r:.1f}x**{runs_note((max_t, 4096, h))}, "
                       + ("met" if r >= 4 else f"missed by {4 / r:.2f}x"))
    for c in sorted(mm, key=lambda c: (c["n_hidden"], c["batch_size"])):
        if c["threads"] == 2 and c["batch_size"] >= 1024:
            e = c["efficiency"]
            base = cells.get((1, c["batch_size"], c["n_hidden"]))
            per_run = ""
            if base and len(c.get("run_medians", [])) > 1 and len(base.get("run_medians", [])) == len(c["run_medians"]):
                effs = [b / (2 * m) for b, m in zip(base["run_medians"], c["run_medians"])]
                per_run = f" (runs: {100 * min(effs):.1f}–{100 * max(effs):.1f}%)"
            out.append(f"- efficiency at 2 threads ≥ 90%, batch {c['batch_size']}, H {c['n_hidden']}: "
                       f"**{100 * e:.1f}%**{per_run}, "
                       + ("met" if e >= 0.9 else f"missed by {100 * (0.9 - e):.1f} points"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("makemore", help="makemore bench --json output")
    ap.add_argument("torch", help="bench/torch_baseline.py --json output")
    ap.add_argument("--anchor", action="append", default=[], metavar="NAME=PATH",
                    help="another baseline's results (bench/torch_baseline.py --mode compile, bench/jax_baseline.py); "
                         "repeatable; a missing file is skipped")
    ap.add_argument("--markdown", help="also write the table and targets here")
    args = ap.parse_args()
    mm, meta = bd.load(args.makemore)
    tc, _ = bd.load(args.torch)
    mm, tc = bd.with_efficiency(mm), bd.with_efficiency(tc)
    pt = {bd.key(c): c for c in tc}
    anchors, anchor_cells = {}, {}
    for a in args.anchor:
        name, sep, path = a.partition("=")
        if not sep or not name:
            ap.error(f"--anchor: expected NAME=PATH, got {a!r}")
        if not Path(path).exists():
            print(f"({name}: no {path}, skipped)", file=sys.stderr)
            continue
        cells = bd.with_efficiency(bd.load(path)[0])
        if cells:
            anchors[name] = {bd.key(c): c for c in cells}
            anchor_cells[name] = cells
    machine = meta.get("machine", {})
    head = []
    if machine:
        line = (f"Machine: {machine.get('cpu_model')}, {machine.get('logical_cpus')} CPUs, "
                f"{machine.get('numa_nodes')} NUMA node(s); run {meta.get('date', '?')}; "
                f"load average at the start {meta.get('load_avg_start', ['?'])[0]}")
        peak = meta.get("fma_peak")
        if peak:
            line += (f"; FMA peak ({machine.get('cpu_model')}) {peak['single_core_gflops']:.1f} GFLOP/s on one core, "
                     f"{peak['all_cores_gflops']:.1f} on {peak['all_cores_threads']} cores at once")
        for name, cells in (("makemore", mm), ("PyTorch", tc), *anchor_cells.items()):
            others = sorted(c["other_cpus_busy"] for c in cells if c.get("other_cpus_busy", -1) >= 0)
            if others:
                line += (f"; CPUs kept busy by other processes during the {name} cells "
                         f"{others[0]:.2f}–{others[-1]:.2f} (median {others[len(others) // 2]:.2f})")
        head += [line + ".", ""]
    text = "\n".join(head + table(mm, pt, anchors, meta) + ["", "Targets:", ""] + targets(mm, pt)) + "\n"
    print(text, end="")
    if args.markdown:
        Path(args.markdown).write_text(text)
        print(f"wrote {args.markdown}")


if __name__ == "__main__":
    main()
