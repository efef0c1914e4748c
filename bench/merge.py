"""Merges several runs of the same grid into one result file.

    python3 bench/merge.py OUT.json RUN1.json RUN2.json ...

On a shared or virtual machine two runs minutes apart can differ by 2x in the
2-thread cells (where the hypervisor puts the two vCPUs changes what a cache
line costs to move), so bench/compare.sh runs makemore and PyTorch alternately
RUNS times and merges each framework's runs here. Per cell (same threads,
batch_size, n_hidden): us_per_step_median is the median of the runs' medians,
us_per_step_min the least of their minima, run_medians lists every run's
median in run order, samples_per_s follows the median, other_cpus_busy is the
largest of the runs'. The FMA peak is the highest each run measured (one
core, and all cores at once): a peak is a best window, and one probe that
fell in a busy spell of the host would understate it. For makemore the breakdown and per-worker times are
those of the run whose median is the middle one; speedup and efficiency are
recomputed from the merged medians, and GFLOP/s and the peak shares from the
merged median, minimum and peak, as `makemore bench` computes them; predictions are left to
`makemore bench --from OUT.json --predict`, which recomputes them.

Works on both formats (makemore's object, PyTorch's list); standard library only.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchdata as bd  # noqa: E402


def merge_cells(runs: list[list[dict]]) -> list[dict]:
    order, groups = [], {}
    for cells in runs:
        for c in cells:
            k = bd.key(c)
            if k not in groups:
                order.append(k)
                groups[k] = []
            groups[k].append(c)
    out = []
    for k in order:
        cells = groups[k]
        medians = [c["us_per_step_median"] for c in cells]
        middle = sorted(cells, key=lambda c: c["us_per_step_median"])[(len(cells) - 1) // 2]
        m = dict(middle)
        m["us_per_step_median"] = round(statistics.median(medians), 3)
        m["us_per_step_min"] = round(min(c["us_per_step_min"] for c in cells), 3)
        m["run_medians"] = medians
        m["samples_per_s"] = round(m["batch_size"] / (m["us_per_step_median"] * 1e-6))
        if "other_cpus_busy" in m:
            m["other_cpus_busy"] = max(c.get("other_cpus_busy", -1) for c in cells)
        if "load_avg_1m" in m:
            m["load_avg_1m"] = max(c.get("load_avg_1m", 0) for c in cells)
        m.pop("speedup", None)
        m.pop("efficiency", None)
        out.append(m)
    out = bd.with_efficiency(out)
    for c in out:
        c["speedup"], c["efficiency"] = round(c["speedup"], 3), round(c["efficiency"], 3)
        if "baseline_threads" in c:
            same = [d for d in out if d["batch_size"] == c["batch_size"] and d["n_hidden"] == c["n_hidden"]]
            c["baseline_threads"] = min(d["threads"] for d in same)
    return out


def reshare(cells: list[dict], peak: dict) -> None:
    """Each makemore cell's gflops and peak shares from its merged median and
    minimum and the merged peak (the middle run's were of its own times and
    peak); the shares only where a peak was measured."""
    one = peak.get("single_core_gflops", 0)
    per_core = peak.get("all_cores_gflops", 0) / max(peak.get("all_cores_threads", 1), 1)
    for c in cells:
        flops = c.get("flops_per_step")
        if not flops or "gflops" not in c:
            continue
        cores = c["threads"] * c.get("ranks", 1)
        c["gflops"] = round(flops / (c["us_per_step_median"] * 1e3), 3)
        if one > 0 and per_core > 0:
            c["peak_share"] = round(c["gflops"] / (one * cores), 4)
            c["peak_share_all_cores"] = round(c["gflops"] / (per_core * cores), 4)
            c["peak_share_best"] = round(flops / (c["us_per_step_min"] * 1e3) / (one * cores), 4)


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    out, paths = Path(sys.argv[1]), sys.argv[2:]
    loaded = [bd.load(p) for p in paths]
    cells = merge_cells([c for c, _ in loaded])
    meta = loaded[0][1]
    if meta:  # makemore's object form
        data = dict(meta)
        data["results"] = cells
        for stale in ("predictions", "rank_predictions"):  # of one run's cells; --from recomputes them
            data.pop(stale, None)
        data["runs"] = len(paths)
        peaks = [m["fma_peak"] for _, m in loaded if m and m.get("fma_peak")]
        if peaks:
            data["fma_peak"] = dict(peaks[0])
            for field in ("single_core_gflops", "all_cores_gflops"):
                data["fma_peak"][field] = max(p[field] for p in peaks)
        reshare(cells, data.get("fma_peak", {}))  # GFLOP/s even where no peak was measured
        data["load_avg_end"] = loaded[-1][1].get("load_avg_end", data.get("load_avg_end"))
    else:
        data = cells
    out.write_text(json.dumps(data, indent=1, sort_keys=bool(meta)) + "\n")
    print(f"wrote {out} ({len(cells)} cells from {len(paths)} runs)")


if __name__ == "__main__":
    main()
