"""Shared PyTorch reference pieces for makemore-swift.

This is the PyTorch twin of the Swift model: Karpathy's makemore part-4 MLP
("becoming a backprop ninja") with the data handling of the reference notebook.
The bench/ scripts and Tests/Fixtures/make_fixture.py import it; it is not a
trainer by itself and deliberately uses autograd, never a manual backward.

Shapes: n = batch, E = n_embd (10), K = block_size * E (30),
H = n_hidden (64), V = vocab size (29 for municipis, 27 for names).

Data, exactly as the reference notebook (verified against the reference notebook's numbers):
  * municipis.csv (column Nom): take the part before the first '/'; if the
    name holds ', ' and split(', ') gives exactly 2 parts, swap them to
    "b a"; fold to ASCII (NFKD, drop combining marks); lowercase; delete the
    characters ( ) ' "  -- the APOSTROPHE IS DELETED. Keeping it gives 30
    symbols and 85202/10505/10761 examples; deleting it gives the design's
    29 symbols ". -abcdefghijklmnopqrstuvwxyz" and 85122/10498/10753.
  * names.txt: one word per line, used as is.
  * vocab: sorted distinct characters, indices from 1; '.' is 0.
  * random.seed(42); random.shuffle(words); 80/10/10 split; windows of
    block_size previous indices padded with 0.

Checkpoints are safetensors with the notebook's tensor names (see PARAM_NAMES and
RUNNING_NAMES), all F32, and string metadata format/vocab/block_size/n_embd/
n_hidden/step.
"""

from __future__ import annotations

import csv
import json
import os
import random
import struct
import unicodedata
from pathlib import Path

import torch
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT / "data" / "municipis.csv"

FORMAT = "makemore-swift/1"
INIT_SEED = 2147483647
BN_EPS = 1e-5
# Trainable parameters, in the notebook's order.
PARAM_NAMES = ["C", "W1", "b1", "W2", "b2", "bngain", "bnbias"]
# BatchNorm running statistics (buffers, not trained by gradient).
RUNNING_NAMES = ["bnmean_running", "bnvar_running"]
ALL_NAMES = PARAM_NAMES + RUNNING_NAMES


# ----------------------------------------------------------------------------
# data

def clean_municipi(name: str) -> str:
    """Clean one municipality name the way the reference notebook does."""
    name = name.split("/")[0]
    if ", " in name:
        parts = name.split(", ")
        if len(parts) == 2:
            name = parts[1] + " " + parts[0]
    name = "".join(c for c in unicodedata.normalize("NFKD", name)
                   if not unicodedata.combining(c))
    name = name.lower()
    for c in "()'\"":
        name = name.replace(c, "")
    return name


def load_words(path: str | os.PathLike = DEFAULT_DATA, column: str = "Nom") -> list[str]:
    """Words of a data file: a .csv column (municipis cleaning) or a .txt, one per line."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if column not in (reader.fieldnames or []):
                raise SystemExit(f"{path}: no column {column!r} (have {reader.fieldnames})")
            return [clean_municipi(row[column]) for row in reader]
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def build_vocab(words: list[str]) -> list[str]:
    """itos: '.' at 0, then the sorted distinct characters."""
    return ["."] + sorted(set("".join(words)))


def shuffle_split(words: list[str], seed: int = 42) -> tuple[list[str], list[str], list[str]]:
    """random.seed(seed); random.shuffle; 80/10/10 split (the notebook's n1, n2)."""
    words = list(words)
    random.seed(seed)
    random.shuffle(words)
    n1 = int(0.8 * len(words))
    n2 = int(0.9 * len(words))
    return words[:n1], words[n1:n2], words[n2:]


def build_dataset(words: list[str], stoi: dict[str, int], block_size: int):
    """X [N, block_size] int64 context windows, Y [N] int64 next-character targets."""
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + ".":
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]
    return torch.tensor(X, dtype=torch.long).view(-1, block_size), torch.tensor(Y, dtype=torch.long)


def load_splits(path=DEFAULT_DATA, column: str = "Nom", block_size: int = 3, seed: int = 42) -> dict:
    """Everything the scripts need: itos, stoi and (X, Y) for train/dev/test."""
    words = load_words(path, column)
    itos = build_vocab(words)
    stoi = {s: i for i, s in enumerate(itos)}
    tr, dev, te = shuffle_split(words, seed)
    return {
        "itos": itos,
        "stoi": stoi,
        "train": build_dataset(tr, stoi, block_size),
        "dev": build_dataset(dev, stoi, block_size),
        "test": build_dataset(te, stoi, block_size),
    }


# ----------------------------------------------------------------------------
# model

def init_params(vocab_size: int, block_size: int = 3, n_embd: int = 10, n_hidden: int = 64,
                seed: int = INIT_SEED, generator: torch.Generator | None = None) -> dict:
    """The notebook's init (float32). Running stats start at mean 0, var 1.

    Pass `generator` to keep drawing from it afterwards (the notebook samples
    its minibatches from the same generator that initialised the weights).
    """
    g = generator if generator is not None else torch.Generator().manual_seed(seed)
    V, E, H = vocab_size, n_embd, n_hidden
    K = block_size * E
    p = {
        "C": torch.randn((V, E), generator=g),
        "W1": torch.randn((K, H), generator=g) * (5 / 3) / K ** 0.5,
        "b1": torch.randn(H, generator=g) * 0.1,
        "W2": torch.randn((H, V), generator=g) * 0.1,
        "b2": torch.randn(V, generator=g) * 0.1,
        "bngain": 1.0 + torch.randn(H, generator=g) * 0.1,
        "bnbias": torch.randn(H, generator=g) * 0.1,
        "bnmean_running": torch.zeros(H),
        "bnvar_running": torch.ones(H),
    }
    return p


def forward(p: dict, X: torch.Tensor, Y: torch.Tensor | None = None, train: bool = True) -> dict:
    """The notebook's forward. Returns a dict with logits, loss (if Y given) and,
    in training mode, the batch statistics bnmeani [H] and bnvar [H] (Bessel).

    train=True: BatchNorm uses the batch statistics (n >= 2);
    train=False: it uses bnmean_running / bnvar_running (eval and sampling).
    """
    n = X.shape[0]
    emb = p["C"][X]                                  # n, block, E
    embcat = emb.view(n, -1)                         # n, K
    hprebn = embcat @ p["W1"] + p["b1"]              # n, H
    out = {}
    if train:
        bnmeani = hprebn.mean(0)                     # H
        bndiff = hprebn - bnmeani
        bnvar = (bndiff ** 2).sum(0) / (n - 1)       # H, Bessel's correction as the notebook
        bnvar_inv = (bnvar + BN_EPS) ** -0.5
        bnraw = bndiff * bnvar_inv
        out["bnmeani"], out["bnvar"] = bnmeani, bnvar
    else:
        bnraw = (hprebn - p["bnmean_running"]) * (p["bnvar_running"] + BN_EPS) ** -0.5
    hpreact = p["bngain"] * bnraw + p["bnbias"]      # n, H
    h = torch.tanh(hpreact)
    logits = h @ p["W2"] + p["b2"]                   # n, V
    out["logits"] = logits
    if Y is not None:
        out["loss"] = F.cross_entropy(logits, Y)
    return out


@torch.no_grad()
def update_running(p: dict, bnmeani: torch.Tensor, bnvar: torch.Tensor, momentum: float = 0.001) -> None:
    """bnmean_running <- (1-m)*old + m*bnmeani, same for the variance (in place)."""
    p["bnmean_running"].copy_((1 - momentum) * p["bnmean_running"] + momentum * bnmeani)
    p["bnvar_running"].copy_((1 - momentum) * p["bnvar_running"] + momentum * bnvar)


@torch.no_grad()
def split_loss(p: dict, X: torch.Tensor, Y: torch.Tensor) -> float:
    """Mean cross-entropy over a whole split, eval mode (running BN stats)."""
    return forward(p, X, Y, train=False)["loss"].item()


# ----------------------------------------------------------------------------
# checkpoints (safetensors)

def checkpoint_metadata(itos: list[str], block_size: int, n_embd: int, n_hidden: int,
                        step: int, extra: dict | None = None) -> dict:
    meta = {
        "format": FORMAT,
        "vocab": "".join(itos),
        "block_size": str(block_size),
        "n_embd": str(n_embd),
        "n_hidden": str(n_hidden),
        "step": str(step),
    }
    for k, v in (extra or {}).items():
        meta[k] = str(v)
    return meta


_DTYPES = {torch.float32: ("F32", "<f4"), torch.float64: ("F64", "<f8"),
           torch.int32: ("I32", "<i4"), torch.int64: ("I64", "<i8")}


def safetensors_bytes(tensors: dict, metadata: dict | None = None) -> bytes:
    """Serialize to safetensors with a deterministic header.

    safetensors.torch.save_file keeps the metadata in a Rust HashMap, so its
    key order (and thus the file's bytes) changes from run to run; this writer
    emits the metadata keys sorted and the tensors in a fixed order, so a
    rerun of the fixture script reproduces identical files. The layout is the
    standard one (u64 LE header length, JSON header padded with spaces to a
    multiple of 8, raw little-endian data), read by safetensors.torch.load_file.
    """
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(metadata[k]) for k in sorted(metadata)}
    # widest dtypes first (stable), so every tensor's data is aligned to its
    # element size, as safetensors itself does (readers may load in place)
    items = sorted(tensors.items(), key=lambda kv: -kv[1].element_size())
    for name, t in items:
        t = t.detach().cpu().contiguous()
        if t.dtype not in _DTYPES:
            raise TypeError(f"{name}: unsupported dtype {t.dtype}")
        code, np_dtype = _DTYPES[t.dtype]
        data = t.numpy().astype(np_dtype, copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(chunks)


def save_safetensors(path, tensors: dict, metadata: dict | None = None) -> None:
    """Atomic write: temporary file, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(safetensors_bytes(tensors, metadata))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(path, p: dict, itos: list[str], block_size: int, step: int,
                    extra: dict | None = None) -> None:
    """Write our checkpoint: the 9 tensors as F32, plus string metadata."""
    E = p["C"].shape[1]
    H = p["W1"].shape[1]
    tensors = {k: p[k].detach().to(torch.float32) for k in ALL_NAMES}
    save_safetensors(path, tensors, checkpoint_metadata(itos, block_size, E, H, step, extra))


def load_checkpoint(path) -> tuple[dict, dict]:
    """Read our checkpoint (as a PyTorch user would, with safetensors.torch.load_file).

    Returns (params, metadata). Vectors stored as [1, H] (the notebook's
    keepdim shapes) are flattened to [H]. Missing running stats default to
    mean 0 / var 1.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file
    t = load_file(str(path))
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    missing = [k for k in PARAM_NAMES if k not in t]
    if missing:
        raise SystemExit(f"{path}: missing tensors {missing}")
    p = {k: v.to(torch.float32) for k, v in t.items() if k in ALL_NAMES}
    H = p["W1"].shape[1]
    for k in ["b1", "bngain", "bnbias"] + RUNNING_NAMES:
        if k in p:
            p[k] = p[k].reshape(-1)
            if p[k].numel() != H:
                raise SystemExit(f"{path}: {k} has {p[k].numel()} elements, expected {H}")
    p["b2"] = p["b2"].reshape(-1)
    p.setdefault("bnmean_running", torch.zeros(H))
    p.setdefault("bnvar_running", torch.ones(H))
    return p, meta
