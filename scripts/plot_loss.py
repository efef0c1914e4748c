#!/usr/bin/env python3
"""Train and dev loss curves from makemore's metrics files.

`makemore train` writes runs/NAME.metrics.csv beside runs/NAME.safetensors:
one row every 256 steps, one at each evaluation off that grid and one at the end, with the columns
step,train_loss,lr,samples_per_s,dev_loss,elapsed_s. This draws the train loss
of each file as a line and its dev loss as points, several runs on one figure
to compare them:

    bench/.venv/bin/python scripts/plot_loss.py runs/municipis.metrics.csv --out loss.png
    bench/.venv/bin/python scripts/plot_loss.py runs/a.metrics.csv runs/b.metrics.csv --log

Needs matplotlib (`make test` puts it into bench/.venv; or pip install matplotlib).
"""
import argparse
import csv
import os
import sys

COLUMNS = ["step", "train_loss", "lr", "samples_per_s", "dev_loss", "elapsed_s"]


def read(path):
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames != COLUMNS:
                sys.exit(f"{path}: not a makemore metrics file (header {reader.fieldnames}, expected {','.join(COLUMNS)})")
            rows = list(reader)
    except OSError as e:
        sys.exit(f"{path}: {e.strerror}")
    try:
        train = [(int(r["step"]), float(r["train_loss"])) for r in rows if r["train_loss"]]
        dev = [(int(r["step"]), float(r["dev_loss"])) for r in rows if r["dev_loss"]]
    except ValueError as e:
        sys.exit(f"{path}: bad row ({e})")
    if not train:
        sys.exit(f"{path}: no rows yet (a row is written every 256 steps)")
    return train, dev


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("metrics", nargs="+", help="metrics files (runs/NAME.metrics.csv)")
    ap.add_argument("--out", default="loss.png", help="the PNG to write (default loss.png)")
    ap.add_argument("--log", action="store_true", help="logarithmic step axis")
    args = ap.parse_args()

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for path in args.metrics:
        train, dev = read(path)
        name = os.path.basename(path).removesuffix(".metrics.csv")
        (line,) = ax.plot(*zip(*train), lw=1, alpha=0.85, label=f"{name}: train (mean of each 256 steps)")
        if dev:
            ax.plot(*zip(*dev), "o-", ms=4, color=line.get_color(), label=f"{name}: dev")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss")
    if args.log:
        ax.set_xscale("log")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    fig.savefig(args.out, dpi=120, bbox_inches="tight")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
