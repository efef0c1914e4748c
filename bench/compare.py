"""makemore / PyTorch per cell, as a markdown table, and the README's targets.

    python3 bench/compare.py bench/results/makemore.json bench/results/torch.json [--markdown OUT.md]

Joins the two result files on (threads, batch_size, n_hidden) and prints, per
cell, both median step times, both throughputs, both parallel efficiencies and
the ratio makemore/PyTorch in samples per second (= PyTorch µs / makemore µs).
Then the three targets of issue #5, met or missed and by how much:

  * the seed config (batch 32, n_hidden 64) on 1 thread: at least 30x PyTorch
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


def table(mm: list[dict], pt: dict) -> list[str]:
    runs = max((len(c.get("run_medians", [])) for c in mm), default=0)
    lines = [
        "| threads | batch | H | makemore µs/step | PyTorch µs/step | makemore samples/s | PyTorch samples/s "
        "| makemore eff. | PyTorch eff. | makemore / PyTorch |" + (f" per run ({runs} runs) |" if runs > 1 else ""),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if runs > 1 else ""),
    ]
    for c in sorted(mm, key=lambda c: (c["n_hidden"], c["batch_size"], c["threads"])):
        t = pt.get(bd.key(c))
        if t is None:
            continue
        ratio = t["us_per_step_median"] / c["us_per_step_median"]
        lines.append(
            f"| {c['threads']} | {c['batch_size']} | {c['n_hidden']} | {c['us_per_step_median']:.1f} "
            f"| {t['us_per_step_median']:.1f} | {bd.si(c['samples_per_s'])} | {bd.si(t['samples_per_s'])} "
            f"| {100 * c['efficiency']:.0f}% | {100 * t['efficiency']:.0f}% | **{ratio:.1f}x** |"
            + (f" {spread(run_ratios(c, t))} |" if runs > 1 else ""))
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
        out.append("- seed config (batch 32, H 64, 1 thread) ≥ 30x PyTorch: not in this run")
    else:
        out.append(f"- seed config (batch 32, H 64, 1 thread) ≥ 30x PyTorch: **{r:.1f}x**{runs_note((1, 32, 64))}, "
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
    ap.add_argument("--markdown", help="also write the table and targets here")
    args = ap.parse_args()
    mm, meta = bd.load(args.makemore)
    tc, _ = bd.load(args.torch)
    mm, tc = bd.with_efficiency(mm), bd.with_efficiency(tc)
    pt = {bd.key(c): c for c in tc}
    machine = meta.get("machine", {})
    head = []
    if machine:
        line = (f"Machine: {machine.get('cpu_model')}, {machine.get('logical_cpus')} CPUs, "
                f"{machine.get('numa_nodes')} NUMA node(s); run {meta.get('date', '?')}; "
                f"load average at the start {meta.get('load_avg_start', ['?'])[0]}")
        for name, cells in (("makemore", mm), ("PyTorch", tc)):
            others = sorted(c["other_cpus_busy"] for c in cells if c.get("other_cpus_busy", -1) >= 0)
            if others:
                line += (f"; CPUs kept busy by other processes during the {name} cells "
                         f"{others[0]:.2f}–{others[-1]:.2f} (median {others[len(others) // 2]:.2f})")
        head += [line + ".", ""]
    text = "\n".join(head + table(mm, pt) + ["", "Targets:", ""] + targets(mm, pt)) + "\n"
    print(text, end="")
    if args.markdown:
        Path(args.markdown).write_text(text)
        print(f"wrote {args.markdown}")


if __name__ == "__main__":
    main()
