"""PNG plots of a `makemore bench` run, with PyTorch's beside it if given.

    python3 bench/plot.py --makemore bench/results/makemore.json \
                          [--torch bench/results/torch.json] \
                          [--anchor torch.compile=bench/results/torch_compile.json ...] [--out bench/results]

writes, one panel per n_hidden:
  throughput.png  samples/s against threads, a line per implementation and
                  batch size (each implementation its own colour family, marker
                  and dash: makemore blue circles, solid; PyTorch orange
                  squares, dashed; other anchors dotted; darker = larger batch;
                  whiskers: the slowest and fastest run where the file merges
                  several)
  efficiency.png  parallel efficiency in percent against threads (100 = perfect
                  scaling), drawn as throughput.png
  breakdown.png   makemore's step split into sample / forward / backward /
                  BN sync / reduce+update / barrier wait / pool dispatch, as
                  stacked bars in percent of the step (µs per step on top)
  peak_share.png  (when the file has the FMA peak) makemore's GFLOP/s of the
                  step's six matrix products as a share of the single-core FMA
                  peak × threads, against threads

The legend sits below the panels, one row per implementation, so that it
hides no line. A hollow marker is a cell during which other processes kept more
than 0.1 CPU busy (`others` in `makemore bench`): its time is not clean.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchdata as bd  # noqa: E402

PHASES = [("sample", "sample batch"), ("forward", "forward"), ("backward", "backward"),
          ("bn_sync", "BN sync"), ("reduce_update", "reduce + update"),
          ("barrier_wait", "barrier wait"), ("pool", "pool dispatch/join")]


def panels(cells: list[dict]):
    hs = sorted({c["n_hidden"] for c in cells})
    fig, axes = plt.subplots(1, len(hs), figsize=(5.2 * len(hs), 4.2), squeeze=False)
    return hs, fig, axes[0]


BUSY = 0.1  # other_cpus_busy above this: the cell shared the machine


def busy(c: dict) -> bool:
    return c.get("other_cpus_busy", -1) > BUSY


def lines(ax, cells, h, field, look, shades):
    """One implementation's lines on one panel: look is its (line style, marker),
    shades its colour per batch size."""
    style, marker = look
    for b in sorted({c["batch_size"] for c in cells if c["n_hidden"] == h}):
        row = sorted((c for c in cells if c["n_hidden"] == h and c["batch_size"] == b), key=lambda c: c["threads"])
        ax.plot([c["threads"] for c in row], [c[field] for c in row], style, color=shades[b])
        # filled: a clean cell; hollow: other processes were busy during it
        for hollow in (False, True):
            pts = [c for c in row if busy(c) == hollow]
            if pts:
                ax.scatter([c["threads"] for c in pts], [c[field] for c in pts], marker=marker, s=30, zorder=3,
                           facecolors="none" if hollow else shades[b], edgecolors=shades[b])
        if field == "samples_per_s" and all(len(c.get("run_medians", [])) > 1 for c in row):
            # the spread over runs (bench/merge.py): slowest and fastest run's median
            lo = [c["samples_per_s"] - b / (max(c["run_medians"]) * 1e-6) for c in row]
            hi = [b / (min(c["run_medians"]) * 1e-6) - c["samples_per_s"] for c in row]
            ax.errorbar([c["threads"] for c in row], [c[field] for c in row], yerr=[lo, hi], fmt="none",
                        ecolor=shades[b], capsize=3, lw=0.8)


# Per implementation, in order: a colour family (shade: batch size), a line style and a marker,
# so that two implementations differ in colour and marker even where their lines cross or overlap.
LOOKS = [("Blues", "-", "o"), ("Oranges", "--", "s"), ("Greens", ":", "^"), ("Purples", ":", "D"),
         ("Greys", ":", "v"), ("Reds", ":", "P")]


def grid_legend(fig, rows):
    """A legend below the panels whose row i is rows[i] (matplotlib fills a legend column by column)."""
    rows = [r for r in rows if r]
    ncol = max(len(r) for r in rows)
    blank = (Line2D([], [], linestyle="none"), "")
    rows = [r + [blank] * (ncol - len(r)) for r in rows]
    entries = [rows[i][j] for j in range(ncol) for i in range(len(rows))]
    fig.legend([e[0] for e in entries], [e[1] for e in entries], loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=ncol, fontsize=8, frameon=False, handlelength=3)


def plot_lines(mm, pt, field, ylabel, title, path, machine, ideal=None, anchors=None):
    anchors = anchors or {}
    impls = {"makemore": mm, **({"PyTorch": pt} if pt else {}), **anchors}
    hs, fig, axes = panels(mm)
    every = [c for cells in impls.values() for c in cells]
    batches = sorted({c["batch_size"] for c in every})
    threads = sorted({c["threads"] for c in every})
    legend_rows = []
    for i, (name, cells) in enumerate(impls.items()):
        family, style, marker = LOOKS[i % len(LOOKS)]
        cmap = plt.get_cmap(family)
        # light to dark with the batch size; the palest shades are left out, they vanish on white
        shades = {b: cmap(0.45 + 0.5 * k / max(1, len(batches) - 1)) for k, b in enumerate(batches)}
        for ax, h in zip(axes, hs):
            lines(ax, cells, h, field, (style, marker), shades)
        have = {c["batch_size"] for c in cells}
        legend_rows.append([(Line2D([], [], color=shades[b], ls=style, marker=marker, markersize=5),
                             f"{name}, batch {b}") for b in batches if b in have])
    for ax, h in zip(axes, hs):
        if ideal is not None:
            ideal(ax)
        ax.set_xticks(threads)
        ax.set_xlabel("threads")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title}, n_hidden {h}")
        ax.grid(True, alpha=0.3)
    references = list(zip(*axes[0].get_legend_handles_labels()))  # what ideal() labelled
    if any(busy(c) for c in every):
        references.append((Line2D([], [], ls="none", marker="o", markerfacecolor="none", markeredgecolor="grey"),
                           f"hollow: others > {BUSY} CPU busy"))
    fig.suptitle(machine, fontsize=9)
    fig.tight_layout()
    grid_legend(fig, legend_rows + [references])
    # "tight" grows the image to take in the legend hanging below the panels
    fig.savefig(path, dpi=110, bbox_inches="tight")
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


def plot_peak_share(mm, meta, path, machine):
    """makemore's share of the FMA peak per cell (needs the peak in the file)."""
    peak = (meta.get("fma_peak") or {}).get("single_core_gflops", 0)
    cells = []
    for c in mm:
        if c.get("flops_per_step") and peak > 0:
            c = dict(c)
            c["peak_pct"] = 100 * c["flops_per_step"] / (c["us_per_step_median"] * 1e3) / (
                peak * c["threads"] * c.get("ranks", 1))
            cells.append(c)
    if not cells:
        return
    m = meta.get("machine", {})
    plot_lines(cells, [], "peak_pct", "% of FMA peak (1 core × threads)", "share of peak", path,
               machine + f"\nFMA peak of {m.get('cpu_model', '?')}: {peak:.1f} GFLOP/s per core "
               f"({meta['fma_peak'].get('all_cores_gflops', 0):.1f} on {meta['fma_peak'].get('all_cores_threads', '?')} cores at once)",
               ideal=lambda ax: ax.set_ylim(bottom=0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--makemore", required=True, help="makemore bench --json output")
    ap.add_argument("--torch", help="bench/torch_baseline.py --json output (optional)")
    ap.add_argument("--anchor", action="append", default=[], metavar="NAME=PATH",
                    help="another baseline (torch.compile, JAX), drawn dotted; repeatable; a missing file is skipped")
    ap.add_argument("--out", default="bench/results", help="folder for the PNGs (default: %(default)s)")
    args = ap.parse_args()
    mm, meta = bd.load(args.makemore)
    pt, _ = bd.load(args.torch)
    if not mm:
        raise SystemExit(f"{args.makemore}: no cells")
    mm, pt = bd.with_efficiency(mm), bd.with_efficiency(pt)
    anchors = {}
    for a in args.anchor:
        name, sep, path = a.partition("=")
        if not sep or not name:
            ap.error(f"--anchor: expected NAME=PATH, got {a!r}")
        if Path(path).exists() and bd.load(path)[0]:
            anchors[name] = bd.with_efficiency(bd.load(path)[0])
    m = meta.get("machine", {})
    machine = (f"{m.get('cpu_model', '?')}, {m.get('logical_cpus', '?')} CPUs, {m.get('numa_nodes', '?')} NUMA node(s)"
               f" — {meta.get('date', '')}") if m else ""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot_lines(mm, pt, "samples_per_s", "samples / s", "throughput", out / "throughput.png", machine,
               ideal=lambda ax: ax.set_yscale("log"), anchors=anchors)

    def ideal_eff(ax):
        ax.axhline(100, color="grey", lw=0.8, label="100% = perfect scaling")
        ax.axhline(90, color="red", lw=0.8, ls=":", label="90% target")
        ax.set_ylim(0, max(115, ax.get_ylim()[1]))

    # in percent, as the tables print it
    def pct(cells):
        return [dict(c, efficiency_pct=100 * c["efficiency"]) for c in cells]

    plot_lines(pct(mm), pct(pt), "efficiency_pct", "parallel efficiency (%)", "efficiency", out / "efficiency.png",
               machine, ideal=ideal_eff, anchors={k: pct(v) for k, v in anchors.items()})
    plot_breakdown(mm, out / "breakdown.png", machine)
    plot_peak_share(mm, meta, out / "peak_share.png", machine)


if __name__ == "__main__":
    main()
