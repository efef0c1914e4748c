"""What the anchors' benchmark scripts (torch_baseline.py, jax_baseline.py)
share, without importing any framework: their grid arguments, the measure
of how busy other processes kept the CPUs during a cell (as `makemore bench`
reports it in its `others` column), and the table and JSON they write."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

# The synthetic data's shape: the municipis training split (V symbols, block, n_embd, windows).
VOCAB, BLOCK, EMBD, N_TRAIN = 29, 3, 10, 85122


def int_list(s: str) -> list[int]:
    try:
        values = [int(v) for v in s.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {s!r}")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {s!r}")
    return values


def cpu_snapshot() -> tuple[float, float, float]:
    """(machine busy CPU-seconds from /proc/stat, this process's CPU-seconds, wall seconds)."""
    busy = float("nan")
    try:
        with open("/proc/stat") as f:
            v = [float(x) for x in f.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
        busy = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    t = os.times()
    return busy, t.user + t.system, time.perf_counter()


def others_busy(a, b) -> float:
    """CPUs kept busy by other processes between two snapshots, on average (-1: unknown)."""
    if a[0] != a[0] or b[0] != b[0] or b[2] <= a[2]:
        return -1.0
    return round(max(0.0, ((b[0] - a[0]) - (b[1] - a[1])) / (b[2] - a[2])), 3)


TABLE_HEADER = f"{'threads':>7} {'batch':>6} {'H':>4} {'steps':>6} {'us/step min':>12} {'median':>10} {'samples/s':>11} {'others':>7}"


def table_row(r: dict) -> str:
    """One cell (a result dict) under TABLE_HEADER."""
    return (f"{r['threads']:>7} {r['batch_size']:>6} {r['n_hidden']:>4} {r['steps']:>6} {r['us_per_step_min']:>12.1f} "
            f"{r['us_per_step_median']:>10.1f} {r['samples_per_s']:>11,} {r['other_cpus_busy']:>7.2f}")


def write_json(path: str, results: list[dict]) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {p}")
