"""Make the PyTorch reference fixtures the Swift tests check against.

Like llm.c's test_gpt2 reference dump: one small model, one batch, and what
PyTorch autograd says about them. Deterministic; the outputs are committed.
Rerun from the repository root with

    bench/.venv/bin/python Tests/Fixtures/make_fixture.py

It writes, next to itself:

  model.safetensors  the notebook's init (generator 2147483647) for vocab 29
                     (". -abcdefghijklmnopqrstuvwxyz", municipis), block 3,
                     n_embd 10, n_hidden 64, then non-trivial running stats
                     bnmean_running = randn(H)*0.5, bnvar_running = 1 + rand(H)
                     from the same generator. F32; metadata format, vocab,
                     block_size, n_embd, n_hidden, step = "0".
  batch.safetensors  X I32 [32, 3], Y I32 [32]: 32 real municipis training
                     windows drawn with a fixed generator (holds Y = 0 and rows
                     that repeat a character, so the embedding scatter-add
                     accumulates).
  grads.safetensors  training-mode (batch statistics, Bessel variance) mean
                     cross-entropy "loss" (F32, shape []) and its gradients
                     w.r.t. C W1 b1 W2 b2 bngain bnbias, computed by autograd in
                     FLOAT64 and stored as F32 under the parameter names; the
                     float64 values also as F64 "<name>.f64" and "loss.f64".
  step.safetensors   a checkpoint after ONE SGD step (lr 0.1, float64 math
                     p - 0.1*grad) with the running stats updated by momentum
                     0.001 from the batch mean and (Bessel) variance. F32,
                     metadata step = "1".
  eval.json          eval-mode (running statistics) loss and logits of the
                     first 2 rows on the same batch, float64; also the
                     training-mode loss and batch mean / variance.
"""

import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
sys.path.insert(0, str(REPO_ROOT / "bench"))
import torch_model as tm  # noqa: E402

VOCAB = ". -abcdefghijklmnopqrstuvwxyz"   # index 0 is '.', then space, hyphen, a..z
BLOCK, EMBD, HIDDEN, BATCH = 3, 10, 64, 32
LR, MOMENTUM = 0.1, 0.001
BATCH_SEED = 1234


def make_model() -> dict:
    """The notebook's init, then non-trivial running statistics from the same generator."""
    g = torch.Generator().manual_seed(tm.INIT_SEED)
    p = tm.init_params(len(VOCAB), BLOCK, EMBD, HIDDEN, generator=g)
    p["bnmean_running"] = torch.randn(HIDDEN, generator=g) * 0.5
    p["bnvar_running"] = 1 + torch.rand(HIDDEN, generator=g)
    return p


def make_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """32 municipis training windows; the first generator seed from BATCH_SEED on
    whose draw holds a Y = 0 and a row repeating a character."""
    data = tm.load_splits(REPO_ROOT / "data" / "municipis.csv", "Nom", BLOCK)
    assert "".join(data["itos"]) == VOCAB, data["itos"]
    Xtr, Ytr = data["train"]
    for seed in range(BATCH_SEED, BATCH_SEED + 100):
        g = torch.Generator().manual_seed(seed)
        ix = torch.randint(0, Xtr.shape[0], (BATCH,), generator=g)
        X, Y = Xtr[ix], Ytr[ix]
        has_end = bool((Y == 0).any())
        has_repeat = any(len(set(row.tolist())) < BLOCK for row in X)
        if has_end and has_repeat:
            return X.to(torch.int32), Y.to(torch.int32)
    raise RuntimeError("no suitable batch")


@torch.no_grad()
def fused_backward(p: dict, X: torch.Tensor, Y: torch.Tensor) -> dict:
    """The fused backward of the notebook's exercise 3, by hand (a check on the formulas
    the Swift side implements, not part of the fixture)."""
    n = X.shape[0]
    emb = p["C"][X].view(n, -1)
    hprebn = emb @ p["W1"] + p["b1"]
    mu = hprebn.mean(0)
    var = ((hprebn - mu) ** 2).sum(0) / (n - 1)
    r = (var + tm.BN_EPS) ** -0.5
    bnraw = (hprebn - mu) * r
    h = torch.tanh(p["bngain"] * bnraw + p["bnbias"])
    logits = h @ p["W2"] + p["b2"]
    dlogits = torch.softmax(logits, 1)
    dlogits[torch.arange(n), Y] -= 1
    dlogits /= n
    g = {"W2": h.T @ dlogits, "b2": dlogits.sum(0)}
    dhpre = (1 - h ** 2) * (dlogits @ p["W2"].T)
    g["bngain"] = (bnraw * dhpre).sum(0)
    g["bnbias"] = dhpre.sum(0)
    dhprebn = p["bngain"] * r / n * (n * dhpre - dhpre.sum(0)
                                     - n / (n - 1) * bnraw * (dhpre * bnraw).sum(0))
    g["W1"] = emb.T @ dhprebn
    g["b1"] = dhprebn.sum(0)
    demb = (dhprebn @ p["W1"].T).view(n, -1, p["C"].shape[1])
    g["C"] = torch.zeros_like(p["C"]).index_add_(0, X.reshape(-1), demb.reshape(-1, p["C"].shape[1]))
    return g


def main() -> None:
    p32 = make_model()
    X, Y = make_batch()
    Xl, Yl = X.long(), Y.long()

    # float64 copies; gradients only on the trainable parameters
    p64 = {k: v.double() for k, v in p32.items()}
    for k in tm.PARAM_NAMES:
        p64[k].requires_grad_(True)

    out = tm.forward(p64, Xl, Yl, train=True)
    loss = out["loss"]
    loss.backward()
    grads64 = {k: p64[k].grad.detach().clone() for k in tm.PARAM_NAMES}

    # one SGD step and the running-stat update, float64 math, stored F32
    with torch.no_grad():
        stepped = {k: p64[k].detach() - LR * grads64[k] for k in tm.PARAM_NAMES}
        bnmeani, bnvar = out["bnmeani"].detach(), out["bnvar"].detach()
        stepped["bnmean_running"] = (1 - MOMENTUM) * p64["bnmean_running"] + MOMENTUM * bnmeani
        stepped["bnvar_running"] = (1 - MOMENTUM) * p64["bnvar_running"] + MOMENTUM * bnvar

        ev = tm.forward({k: v.detach() for k, v in p64.items()}, Xl, Yl, train=False)

    itos = list(VOCAB)
    tm.save_checkpoint(HERE / "model.safetensors", p32, itos, BLOCK, step=0)
    tm.save_safetensors(HERE / "batch.safetensors", {"X": X, "Y": Y},
                        {"format": tm.FORMAT, "block_size": str(BLOCK)})

    g_tensors = {"loss": loss.detach().float(), "loss.f64": loss.detach()}
    for k, v in grads64.items():
        g_tensors[k] = v.float()
        g_tensors[k + ".f64"] = v
    tm.save_safetensors(HERE / "grads.safetensors", g_tensors, {
        "format": tm.FORMAT,
        "what": "d(mean cross-entropy)/d(param), training-mode BN (Bessel), torch autograd in float64",
    })
    tm.save_checkpoint(HERE / "step.safetensors", stepped, itos, BLOCK, step=1,
                       extra={"lr": LR, "bn_momentum": MOMENTUM})

    evald = {
        "what": "model.safetensors on batch.safetensors, float64; eval mode uses the running BN statistics",
        "eval_loss": ev["loss"].item(),
        "eval_logits_first2": ev["logits"][:2].tolist(),
        "train_loss": loss.item(),
        "train_bnmeani": bnmeani.tolist(),
        "train_bnvar": bnvar.tolist(),
    }
    with open(HERE / "eval.json", "w") as f:
        json.dump(evald, f, indent=1)
        f.write("\n")

    # the hand-written fused backward must agree with autograd
    manual = fused_backward({k: v.detach() for k, v in p64.items()}, Xl, Yl)
    worst = max((manual[k] - grads64[k]).abs().max().item() for k in tm.PARAM_NAMES)
    assert worst < 1e-12, worst

    # summary
    print(f"fused backward (exercise 3) vs autograd, float64: max |diff| {worst:.1e}")
    print(f"batch: Y==0 at rows {torch.nonzero(Y == 0).flatten().tolist()}, "
          f"rows repeating a char: {sum(len(set(r.tolist())) < BLOCK for r in X)}")
    print(f"train-mode loss {loss.item():.12f}   eval-mode loss {ev['loss'].item():.12f}")
    for k in tm.PARAM_NAMES:
        gk = grads64[k]
        print(f"  d{k:<7} {str(list(gk.shape)):<9} |g|max {gk.abs().max().item():.3e}")
    total = 0
    for name in ["model.safetensors", "batch.safetensors", "grads.safetensors",
                 "step.safetensors", "eval.json"]:
        size = (HERE / name).stat().st_size
        total += size
        print(f"  wrote {name:<18} {size:>7} bytes")
    print(f"  total {total} bytes")


if __name__ == "__main__":
    main()
