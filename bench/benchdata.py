"""Reading the results of `makemore bench --json` and bench/torch_baseline.py --json.

Both write cells with the same keys (framework, threads, batch_size, n_hidden,
us_per_step_min, us_per_step_median, samples_per_s); makemore's file is an
object with the cells under "results" and the machine under "machine",
PyTorch's a plain list. Standard library only, so compare.py runs anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path


def load(path: str | Path | None) -> tuple[list[dict], dict]:
    """(cells, metadata) of a result file; ([], {}) for None."""
    if path is None:
        return [], {}
    data = json.loads(Path(path).read_text())
    if isinstance(data, list):
        return data, {}
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        return data["results"], {k: v for k, v in data.items() if k != "results"}
    raise SystemExit(f"{path}: expected a list of cells or an object with 'results'")


def key(cell: dict) -> tuple[int, int, int]:
    return cell["threads"], cell["batch_size"], cell["n_hidden"]


def with_efficiency(cells: list[dict]) -> list[dict]:
    """Adds speedup/efficiency (against the smallest thread count of the same
    batch and n_hidden) where a file lacks them (PyTorch's)."""
    out = []
    for c in cells:
        c = dict(c)
        if "efficiency" not in c:
            same = [d for d in cells if d["batch_size"] == c["batch_size"] and d["n_hidden"] == c["n_hidden"]]
            base = min(same, key=lambda d: d["threads"])
            c["speedup"] = base["us_per_step_median"] / c["us_per_step_median"]
            c["efficiency"] = c["speedup"] * base["threads"] / c["threads"]
        out.append(c)
    return out


def si(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.0f}k"
    return f"{x:.0f}"
