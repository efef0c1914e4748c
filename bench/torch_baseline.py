"""PyTorch side of the scaling benchmark: µs per training step over a grid.

For every cell of threads x batch size x n_hidden it times the full training
step of the makemore part-4 MLP as bench/torch_train.py runs it: draw a
minibatch from a training set, forward (training-mode BatchNorm), backward
with autograd, SGD update and the running-statistics update. The data is
random but has the municipis shape (V = 29 symbols, block 3, E = 10, 85122
training windows), so cells compare with the Swift tool's `makemore bench`.

Each cell runs --warmup steps, then --repeats timed runs of --steps steps
(--steps 0: chosen per cell from the warmup so one run lasts about
--target-s). It reports µs/step (min and median over the repeats) and
samples/s (batch size / median step time), prints a table and, with --json,
writes a list of objects:

    {"framework": "pytorch", "threads", "batch_size", "n_hidden", "steps",
     "us_per_step_min", "us_per_step_median", "samples_per_s", "load_avg_1m",
     "other_cpus_busy"}

--mode compile times the same step with torch.compile (Inductor, the
default backend): the forward and the loss compiled into one graph, whose
backward AOTAutograd compiles too, and the SGD update plus the running
statistics compiled into another; the batch draw stays eager, as in eager
mode. Cells then say "framework": "torch.compile". Each cell compiles its
own graphs during the warm-up (batch size and n_hidden are static shapes), so
--warmup is raised to at least 3 there; compile time is not timed.

(load_avg_1m: the 1-minute load average when the cell started, which counts
this process's threads too; other_cpus_busy: the CPUs kept busy by other
processes while the cell was timed, from /proc/stat minus this process's CPU
time, -1 where unknown; both as in `makemore bench`'s cells. Timings taken on
a busy machine are noise.)

    bench/.venv/bin/python bench/torch_baseline.py --json bench/results/torch_baseline.json
"""

import argparse
import os
import platform
import statistics
import time

import torch

import torch_model as tm
from cell_stats import BLOCK, EMBD, N_TRAIN, TABLE_HEADER, VOCAB, cpu_snapshot, int_list, others_busy, table_row, write_json


def make_step(p: dict, Xtr: torch.Tensor, Ytr: torch.Tensor, batch_size: int, g: torch.Generator):
    """One training step, exactly as torch_train.py's loop body (lr 0.1)."""
    params = [p[k] for k in tm.PARAM_NAMES]

    def step() -> None:
        ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)
        out = tm.forward(p, Xtr[ix], Ytr[ix], train=True)
        for t in params:
            t.grad = None
        out["loss"].backward()
        with torch.no_grad():
            for t in params:
                t.add_(t.grad, alpha=-0.1)
            tm.update_running(p, out["bnmeani"], out["bnvar"])

    return step


def make_compiled_step(p: dict, Xtr: torch.Tensor, Ytr: torch.Tensor, batch_size: int, g: torch.Generator):
    """The same step as make_step, with the model and the update compiled by Inductor."""
    params = [p[k] for k in tm.PARAM_NAMES]

    def loss_and_stats(X, Y):
        out = tm.forward(p, X, Y, train=True)
        return out["loss"], out["bnmeani"].detach(), out["bnvar"].detach()

    def update(bnmeani, bnvar):
        with torch.no_grad():
            for t in params:
                t.add_(t.grad, alpha=-0.1)
            tm.update_running(p, bnmeani, bnvar)

    torch._dynamo.reset()  # a fresh cache per cell: the grid's cells would pass dynamo's recompile limit
    forward = torch.compile(loss_and_stats, dynamic=False)
    sgd = torch.compile(update, dynamic=False)

    def step() -> None:
        ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)
        loss, bnmeani, bnvar = forward(Xtr[ix], Ytr[ix])
        for t in params:
            t.grad = None
        loss.backward()
        sgd(bnmeani, bnvar)

    return step


def time_cell(threads: int, batch_size: int, n_hidden: int, args, Xtr, Ytr) -> dict:
    load = round(os.getloadavg()[0], 2)
    torch.set_num_threads(threads)
    p = tm.init_params(VOCAB, BLOCK, EMBD, n_hidden)
    for k in tm.PARAM_NAMES:
        p[k].requires_grad_(True)
    make = make_compiled_step if args.mode == "compile" else make_step
    step = make(p, Xtr, Ytr, batch_size, torch.Generator().manual_seed(1))

    # warm up; the second half (past the first calls' allocations, and the
    # compilation in compile mode) sizes --steps 0
    warmup = max(args.warmup, 3) if args.mode == "compile" else args.warmup
    half = warmup // 2
    for _ in range(half):
        step()
    t0 = time.perf_counter()
    for _ in range(warmup - half):
        step()
    per_step = (time.perf_counter() - t0) / max(warmup - half, 1)
    steps = args.steps or max(5, min(5000, round(args.target_s / max(per_step, 1e-7))))

    runs = []
    before = cpu_snapshot()
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        runs.append(1e6 * (time.perf_counter() - t0) / steps)
    others = others_busy(before, cpu_snapshot())
    median = statistics.median(runs)
    return {
        "framework": "torch.compile" if args.mode == "compile" else "pytorch",
        "threads": threads,
        "batch_size": batch_size,
        "n_hidden": n_hidden,
        "steps": steps,
        "us_per_step_min": round(min(runs), 2),
        "us_per_step_median": round(median, 2),
        "samples_per_s": round(batch_size / (median * 1e-6)),
        "load_avg_1m": load,
        "other_cpus_busy": others,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int_list, default=[1, 2], help="torch thread counts (default: 1,2)")
    ap.add_argument("--batch-size", type=int_list, default=[32, 256, 1024, 4096],
                    help="batch sizes, each >= 2 (default: 32,256,1024,4096)")
    ap.add_argument("--n-hidden", type=int_list, default=[64, 256], help="hidden sizes (default: 64,256)")
    ap.add_argument("--steps", type=int, default=0,
                    help="timed steps per repeat; 0 = per cell, about --target-s per repeat (default: %(default)s)")
    ap.add_argument("--target-s", type=float, default=0.25,
                    help="seconds per repeat when --steps is 0 (default: %(default)s)")
    ap.add_argument("--warmup", type=int, default=10, help="untimed steps per cell (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per cell (default: %(default)s)")
    ap.add_argument("--mode", choices=["eager", "compile"], default="eager",
                    help="eager autograd, or the step compiled by torch.compile (Inductor) (default: %(default)s)")
    ap.add_argument("--json", help="write the results here as a JSON list")
    args = ap.parse_args()
    if min(args.batch_size) < 2:
        ap.error("--batch-size values must be >= 2 (BatchNorm's Bessel variance divides by n-1)")
    if args.repeats < 1 or args.warmup < 0 or args.steps < 0:
        ap.error("--repeats must be >= 1, --warmup and --steps >= 0")

    g = torch.Generator().manual_seed(42)
    Xtr = torch.randint(0, VOCAB, (N_TRAIN, BLOCK), generator=g)
    Ytr = torch.randint(0, VOCAB, (N_TRAIN,), generator=g)

    print(f"torch {torch.__version__} ({args.mode}), {platform.processor() or platform.machine()}, "
          f"V={VOCAB} block={BLOCK} E={EMBD}")
    print(TABLE_HEADER)
    results = []
    for t in args.threads:
        for h in args.n_hidden:
            for b in args.batch_size:
                r = time_cell(t, b, h, args, Xtr, Ytr)
                results.append(r)
                print(table_row(r), flush=True)
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
