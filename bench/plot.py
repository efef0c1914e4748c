"""PNG plots of a `makemore bench` run, with PyTorch's beside it if given.

    python3 bench/plot.py --makemore bench/results/makemore.json \
                          [--torch bench/results/torch.json] [--out bench/results]

writes, one panel per n_hidden:
  throughput.png  samples/s against threads, a line per batch size
                  (makemore solid, PyTorch dashed, same colour; whiskers: the
                  slowest and fastest run where the file merges several)
  efficiency.png  parallel efficiency against threads (1 = perfect scaling)
  breakdown.png   makemore's step split into sample / forward / backward /
                  BN sync / reduce+update / barrier wait / pool dispatch, as
                  stacked bars in percent of the step (µs per step on top)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchdata as bd  # noqa: E402

PHASES = [("sample", "sample batch"), ("forward", "forward"), ("backward", "backward"),
          ("bn_sync", "BN sync"), ("reduce_update", "reduce + update"),
          ("barrier_wait", "barrier wait"), ("pool", "pool dispatch/join")]


def panels(cells: list[dict]):
    hs = sorted({c["n_hidden"] for c in cells})
    fig, axes = plt.subplots(1, len(hs), figsize=(5.2 * len(hs), 4.2), squeeze=False)
    return hs, fig, axes[0]


def lines(ax, cells, h, field, style, label_prefix, colours):
    for b in sorted({c["batch_size"] for c in cells if c["n_hidden"] == h}):
        row = sorted((c for c in cells if c["n_hidden"] == h and c["batch_size"] == b), key=lambda c: c["threads"])
        ax.plot([c["threads"] for c in row], [c[field] for c in row], style, color=colours[b],
                marker="o", label=f"{label_prefix} batch {b}")
        if field == "samples_per_s" and all(len(c.get("run_medians", [])) > 1 for c in row):
            # the spread over runs (bench/merge.py): slowest and fastest run's median
            lo = [c["samples_per_s"] - b / (max(c["run_medians"]) * 1e-6) for c in row]
            hi = [b / (min(c["run_medians"]) * 1e-6) - c["samples_per_s"] for c in row]
            ax.errorbar([c["threads"] for c in row], [c[field] for c in row], yerr=[lo, hi], fmt="none",
                        ecolor=colours[b], capsize=3, lw=0.8)


def plot_lines(mm, pt, field, ylabel, title, path, machine, ideal=None):
    hs, fig, axes = panels(mm)
    batches = sorted({c["batch_size"] for c in mm + pt})
    cmap = plt.get_cmap("viridis")
    colours = {b: cmap(i / max(1, len(batches) - 1) * 0.9) for i, b in enumerate(batches)}
    threads = sorted({c["threads"] for c in mm + pt})
    for ax, h in zip(axes, hs):
        lines(ax, mm, h, field, "-", "makemore", colours)
        if pt:
            lines(ax, pt, h, field, "--", "PyTorch", colours)
        if ideal is not None:
            ideal(ax)
        ax.set_xticks(threads)
        ax.set_xlabel("threads")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title}, n_hidden {h}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, ncol=2 if pt else 1)
    fig.suptitle(machine, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def plot_breakdown(mm, path, machine):
    hs, fig, axes = panels(mm)
    cmap = plt.get_cmap("tab10")
    for ax, h in zip(axes, hs):
        row = sorted((c for c in mm if c["n_hidden"] == h), key=lambda c: (c["batch_size"], c["threads"]))
        x = range(len(row))
        bottom = [0.0] * len(row)
        for i, (k, label) in enumerate(PHASES):
            vals = [100 * c["breakdown_us"][k] / max(sum(c["breakdown_us"].values()), 1e-9) for c in row]
            ax.bar(x, vals, bottom=bottom, color=cmap(i), label=label, width=0.75)
            bottom = [b + v for b, v in zip(bottom, vals)]
        for xi, c in zip(x, row):
            ax.text(xi, 101, f"{c['profiled_us_per_step']:.0f}µs" if c["profiled_us_per_step"] >= 10
                    else f"{c['profiled_us_per_step']:.1f}µs", ha="center", va="bottom", fontsize=6.5)
        ax.set_xticks(list(x))
        ax.set_xticklabels([f"b{c['batch_size']}\nT{c['threads']}" for c in row], fontsize=7)
        ax.set_ylim(0, 110)
        ax.set_ylabel("% of step (worker 0)")
        ax.set_title(f"where the step goes, n_hidden {h}")
    axes[-1].legend(fontsize=7, loc="lower left", bbox_to_anchor=(1.0, 0.0))
    fig.suptitle(machine, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--makemore", required=True, help="makemore bench --json output")
    ap.add_argument("--torch", help="bench/torch_baseline.py --json output (optional)")
    ap.add_argument("--out", default="bench/results", help="folder for the PNGs (default: %(default)s)")
    args = ap.parse_args()
    mm, meta = bd.load(args.makemore)
    pt, _ = bd.load(args.torch)
    if not mm:
        raise SystemExit(f"{args.makemore}: no cells")
    mm, pt = bd.with_efficiency(mm), bd.with_efficiency(pt)
    m = meta.get("machine", {})
    machine = (f"{m.get('cpu_model', '?')}, {m.get('logical_cpus', '?')} CPUs, {m.get('numa_nodes', '?')} NUMA node(s)"
               f" — {meta.get('date', '')}") if m else ""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot_lines(mm, pt, "samples_per_s", "samples / s", "throughput", out / "throughput.png", machine,
               ideal=lambda ax: ax.set_yscale("log"))

    def ideal_eff(ax):
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.axhline(0.9, color="red", lw=0.8, ls=":", label="90% target")
        ax.set_ylim(0, 1.15)

    plot_lines(mm, pt, "efficiency", "parallel efficiency", "efficiency", out / "efficiency.png", machine,
               ideal=ideal_eff)
    plot_breakdown(mm, out / "breakdown.png", machine)


if __name__ == "__main__":
    main()
