"""Train the makemore part-4 MLP in PyTorch and save it in our checkpoint format.

The reference notebook's training loop with autograd: minibatches of --batch-size
drawn uniformly from the training windows, lr 0.1 then 0.01 from half way
(step 100000 of the notebook's 200000), BatchNorm running statistics with
momentum 0.001. The result is a makemore-swift checkpoint (same tensor names
and metadata as the Swift tool writes), so `makemore eval/sample` can load a
PyTorch-trained model.

The notebook draws its minibatches from the generator that initialised the
weights; by default this script uses a separate generator seeded by --seed
(the Swift config's train.seed). --notebook-rng reproduces the notebook.

    bench/.venv/bin/python bench/torch_train.py --steps 200000 --out runs/torch.safetensors
"""

import argparse
import json
import time

import torch

import torch_model as tm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(tm.DEFAULT_DATA),
                    help="data file: .csv (municipis cleaning) or .txt, one word per line (default: %(default)s)")
    ap.add_argument("--column", default="Nom", help="CSV column holding the words (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=200000, help="training steps (default: %(default)s)")
    ap.add_argument("--out", required=True, help="checkpoint to write (.safetensors)")
    ap.add_argument("--batch-size", type=int, default=32, help="minibatch size, >= 2 (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=1, help="minibatch sampling seed (default: %(default)s)")
    ap.add_argument("--notebook-rng", action="store_true",
                    help="draw minibatches from the init generator, as the notebook does (ignores --seed)")
    ap.add_argument("--block-size", type=int, default=3, help="context length (default: %(default)s)")
    ap.add_argument("--n-embd", type=int, default=10, help="embedding size (default: %(default)s)")
    ap.add_argument("--n-hidden", type=int, default=64, help="hidden units (default: %(default)s)")
    ap.add_argument("--lr-decay-step", type=int, default=100000,
                    help="step from which lr is 0.01 instead of 0.1 (default: %(default)s)")
    ap.add_argument("--momentum", type=float, default=0.001, help="BN running-stat momentum (default: %(default)s)")
    ap.add_argument("--print-every", type=int, default=10000, help="progress interval (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads, 0 = PyTorch's choice (default: %(default)s; at batch 32 one thread "
                         "is fastest, and on a shared 2-core box 2 threads can be 100x slower)")
    args = ap.parse_args()
    if args.batch_size < 2:
        ap.error("--batch-size must be >= 2 (BatchNorm's Bessel variance divides by n-1)")
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    data = tm.load_splits(args.data, args.column, args.block_size)
    Xtr, Ytr = data["train"]
    g_init = torch.Generator().manual_seed(tm.INIT_SEED)
    p = tm.init_params(len(data["itos"]), args.block_size, args.n_embd, args.n_hidden, generator=g_init)
    g = g_init if args.notebook_rng else torch.Generator().manual_seed(args.seed)
    params = [p[k] for k in tm.PARAM_NAMES]
    for t in params:
        t.requires_grad_(True)
    print(f"{len(data['itos'])} symbols, {Xtr.shape[0]} training windows, "
          f"{sum(t.nelement() for t in params)} parameters")

    t0 = time.perf_counter()
    for i in range(args.steps):
        ix = torch.randint(0, Xtr.shape[0], (args.batch_size,), generator=g)
        out = tm.forward(p, Xtr[ix], Ytr[ix], train=True)
        for t in params:
            t.grad = None
        out["loss"].backward()
        lr = 0.1 if i < args.lr_decay_step else 0.01
        with torch.no_grad():
            for t in params:
                t.add_(t.grad, alpha=-lr)
            tm.update_running(p, out["bnmeani"], out["bnvar"], args.momentum)
        if i % args.print_every == 0 or i == args.steps - 1:
            print(f"{i:7d}/{args.steps:7d}: loss {out['loss'].item():.4f}  "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)

    elapsed = time.perf_counter() - t0
    with torch.no_grad():
        losses = {s: tm.split_loss(p, *data[s]) for s in ("train", "dev", "test")}
    print(json.dumps(losses))
    print(f"{args.steps} steps in {elapsed:.1f} s ({1e6 * elapsed / max(args.steps, 1):.0f} us/step)")
    tm.save_checkpoint(args.out, p, data["itos"], args.block_size, args.steps,
                       extra={"trainer": "pytorch", "batch_size": args.batch_size,
                              "seed": "notebook" if args.notebook_rng else args.seed})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
