"""JAX side of the scaling benchmark: µs per training step over a grid.

The same step as bench/torch_baseline.py (the makemore part-4 MLP: embedding,
linear, training-mode BatchNorm with Bessel's variance, tanh, linear,
cross-entropy; SGD at lr 0.1 and the running-statistics update with momentum
0.001), as one `jax.jit` of value_and_grad + update with the minibatch drawn
inside (jax.random.randint from a key carried between steps), on random data of
the municipis shape (V = 29, block 3, E = 10, 85122 training windows). Params
and running statistics are donated, so the update is in place.

XLA's CPU thread pool is fixed when jax is imported, so each thread count runs
in a child process of its own with XLA_FLAGS set before the import:
    1 thread:  --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1
    T threads: --xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=T
Cells are written like torch_baseline.py's, with "framework": "jax".

    bench/.venv/bin/python bench/jax_baseline.py --threads 1,2 --json bench/results/jax.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from cell_stats import BLOCK, EMBD, N_TRAIN, TABLE_HEADER, VOCAB, cpu_snapshot, int_list, others_busy, table_row, write_json

BN_EPS = 1e-5


def xla_flags(threads: int) -> str:
    if threads == 1:
        return "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={threads}"


def child(args) -> list[dict]:
    """Runs every cell of one thread count (XLA_FLAGS already set by the parent)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    threads = args.threads[0]
    rng = np.random.default_rng(42)
    Xtr = jnp.asarray(rng.integers(0, VOCAB, (N_TRAIN, BLOCK)), dtype=jnp.int32)
    Ytr = jnp.asarray(rng.integers(0, VOCAB, (N_TRAIN,)), dtype=jnp.int32)

    def init(h: int):
        r = np.random.default_rng(2147483647)
        K = BLOCK * EMBD
        f = lambda *shape: jnp.asarray(r.standard_normal(shape), dtype=jnp.float32)  # noqa: E731
        params = {"C": f(VOCAB, EMBD), "W1": f(K, h) * (5 / 3) / K ** 0.5, "b1": f(h) * 0.1,
                  "W2": f(h, VOCAB) * 0.1, "b2": f(VOCAB) * 0.1, "bngain": 1.0 + f(h) * 0.1, "bnbias": f(h) * 0.1}
        running = (jnp.zeros(h, jnp.float32), jnp.ones(h, jnp.float32))
        return params, running

    def loss_fn(p, X, Y):
        n = X.shape[0]
        emb = p["C"][X].reshape(n, -1)
        hprebn = emb @ p["W1"] + p["b1"]
        mean = hprebn.mean(0)
        diff = hprebn - mean
        var = (diff ** 2).sum(0) / (n - 1)
        hpre = p["bngain"] * diff * (var + BN_EPS) ** -0.5 + p["bnbias"]
        logits = jnp.tanh(hpre) @ p["W2"] + p["b2"]
        logp = jax.nn.log_softmax(logits)
        loss = -jnp.take_along_axis(logp, Y[:, None], axis=1).mean()
        return loss, (mean, var)

    def make_step(batch: int):
        def step(params, running, key):
            key, sub = jax.random.split(key)
            ix = jax.random.randint(sub, (batch,), 0, N_TRAIN)
            (loss, (mean, var)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, Xtr[ix], Ytr[ix])
            params = jax.tree_util.tree_map(lambda w, g: w - 0.1 * g, params, grads)
            running = (0.999 * running[0] + 0.001 * mean, 0.999 * running[1] + 0.001 * var)
            return params, running, key, loss
        return jax.jit(step, donate_argnums=(0, 1))

    results = []
    for h in args.n_hidden:
        for b in args.batch_size:
            load = round(os.getloadavg()[0], 2)
            params, running = init(h)
            key = jax.random.PRNGKey(1)
            step = make_step(b)

            def run(n, params, running, key):
                for _ in range(n):
                    params, running, key, loss = step(params, running, key)
                loss.block_until_ready()
                return params, running, key

            half = args.warmup // 2
            params, running, key = run(max(half, 1), params, running, key)  # compiles
            t0 = time.perf_counter()
            params, running, key = run(max(args.warmup - half, 1), params, running, key)
            per_step = (time.perf_counter() - t0) / max(args.warmup - half, 1)
            steps = args.steps or max(5, min(5000, round(args.target_s / max(per_step, 1e-7))))
            runs = []
            before = cpu_snapshot()
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                params, running, key = run(steps, params, running, key)
                runs.append(1e6 * (time.perf_counter() - t0) / steps)
            others = others_busy(before, cpu_snapshot())
            median = statistics.median(runs)
            results.append({
                "framework": "jax", "threads": threads, "batch_size": b, "n_hidden": h, "steps": steps,
                "us_per_step_min": round(min(runs), 2), "us_per_step_median": round(median, 2),
                "samples_per_s": round(b / (median * 1e-6)), "load_avg_1m": load, "other_cpus_busy": others,
            })
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int_list, default=[1, 2], help="XLA thread counts (default: 1,2)")
    ap.add_argument("--batch-size", type=int_list, default=[32, 256, 1024, 4096], help="batch sizes, each >= 2")
    ap.add_argument("--n-hidden", type=int_list, default=[64, 256], help="hidden sizes (default: 64,256)")
    ap.add_argument("--steps", type=int, default=0, help="timed steps per repeat; 0 = about --target-s per repeat")
    ap.add_argument("--target-s", type=float, default=0.25, help="seconds per repeat when --steps is 0")
    ap.add_argument("--warmup", type=int, default=10, help="untimed steps per cell, the first compiling (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per cell (default: %(default)s)")
    ap.add_argument("--json", help="write the results here as a JSON list")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if min(args.batch_size) < 2:
        ap.error("--batch-size values must be >= 2")
    if args.child:
        json.dump(child(args), sys.stdout)
        return

    print(TABLE_HEADER)
    results = []
    for t in args.threads:
        env = dict(os.environ, XLA_FLAGS=xla_flags(t), JAX_PLATFORMS="cpu")
        cmd = [sys.executable, __file__, "--child", "--threads", str(t),
               "--batch-size", ",".join(map(str, args.batch_size)), "--n-hidden", ",".join(map(str, args.n_hidden)),
               "--steps", str(args.steps), "--target-s", str(args.target_s), "--warmup", str(args.warmup),
               "--repeats", str(args.repeats)]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"jax child for {t} thread(s) failed:\n{p.stderr[-2000:]}")
        cells = json.loads(p.stdout)
        for r in cells:
            print(table_row(r), flush=True)
        results += cells
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
