"""Evaluate a makemore-swift checkpoint with PyTorch.

Loads OUR checkpoint with safetensors.torch.load_file (no Swift involved),
rebuilds the notebook's train/dev/test split of the data, and prints the mean
cross-entropy of each split in eval mode (BatchNorm with the running
statistics) as one JSON object:

    {"train": 1.79, "dev": 1.86, "test": 1.85}

This proves a PyTorch user can evaluate a model trained by the Swift tool.

    bench/.venv/bin/python bench/torch_eval.py --checkpoint runs/municipis.safetensors
"""

import argparse
import json

import torch

import torch_model as tm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="our .safetensors checkpoint")
    ap.add_argument("--data", default=str(tm.DEFAULT_DATA),
                    help="data file: .csv (municipis cleaning) or .txt, one word per line (default: %(default)s)")
    ap.add_argument("--column", default="Nom", help="CSV column holding the words (default: %(default)s)")
    ap.add_argument("--split-seed", type=int, default=42, help="random.seed for the shuffle (default: %(default)s)")
    args = ap.parse_args()

    p, meta = tm.load_checkpoint(args.checkpoint)
    block_size = int(meta.get("block_size", p["W1"].shape[0] // p["C"].shape[1]))
    if block_size * p["C"].shape[1] != p["W1"].shape[0]:
        raise SystemExit(f"block_size {block_size} x n_embd {p['C'].shape[1]} != W1 rows {p['W1'].shape[0]}")
    data = tm.load_splits(args.data, args.column, block_size, args.split_seed)
    vocab = "".join(data["itos"])
    if "vocab" in meta and meta["vocab"] != vocab:
        raise SystemExit(f"checkpoint vocab {meta['vocab']!r} != data vocab {vocab!r}")
    if p["C"].shape[0] != len(vocab):
        raise SystemExit(f"checkpoint has {p['C'].shape[0]} embeddings, data has {len(vocab)} symbols")

    torch.set_grad_enabled(False)
    result = {split: tm.split_loss(p, *data[split]) for split in ("train", "dev", "test")}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
