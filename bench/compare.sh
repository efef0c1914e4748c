#!/usr/bin/env bash
# makemore and PyTorch side by side, in one go: the benchmark numbers of docs/benchmarks.md.
#
#   bench/compare.sh                 # the grid of configs/scaling.yaml
#   THREADS=1,2 BATCH=32,4096 HIDDEN=64 RUNS=1 bench/compare.sh     # a smaller grid, once
#   KERNELS=1 bench/compare.sh       # and the kernel micro-benchmarks: docs/benchmarks.md's numbers
#   ANCHORS=eager bench/compare.sh   # PyTorch eager only (default: eager,compile,jax)
#   MAKEMORE_BIN=dist/makemore PYTHON=python3 bench/compare.sh   # on a machine without Swift (make dist here)
#
# 1. builds the release binary, unless MAKEMORE_BIN names one already built (such
#    as dist/makemore, which needs no Swift where it runs);
# 2. makes bench/.venv with torch, numpy and matplotlib if it lacks them
#    (CPU wheels from download.pytorch.org, else PyPI; PYTHON=/path/to/python
#    uses an existing interpreter with torch instead), and jax (PyPI's CPU
#    jaxlib) when ANCHORS has jax; an anchor whose installation fails is
#    skipped with a message, and so is one whose run fails (torch.compile
#    needs a C++ compiler for Inductor's CPU code);
# 3. runs `makemore bench`, bench/torch_baseline.py (PyTorch eager) and the
#    other anchors of ANCHORS (torch.compile: torch_baseline.py --mode compile;
#    jax: bench/jax_baseline.py, one jax.jit of the whole step) over the same
#    grid (threads x batch sizes x n_hidden), alternately, RUNS times (default 3:
#    on this virtual machine the 2-thread cells of both differ by up to 2x
#    between runs minutes apart), into $OUT/per-run/, and merges each framework's
#    runs (bench/merge.py: per cell the median of the runs' medians) into
#    $OUT/makemore.{json,csv}, $OUT/torch.json, $OUT/torch_compile.json and
#    $OUT/jax.json; where the grid asks one thread, every anchor gets one
#    (torch.set_num_threads; XLA_FLAGS without Eigen's thread pool);
# 4. prints the ratio table and the targets (bench/compare.py, also written to
#    $OUT/compare.md: makemore against PyTorch eager and against the fastest
#    anchor per cell), the ranks scaling model's predictions ($OUT/predict.txt), and
#    draws $OUT/{throughput,efficiency,breakdown,peak_share}.png (bench/plot.py);
# 5. with KERNELS=1, also runs the kernel micro-benchmarks (bench/kernels) into
#    $OUT/kernels.txt.
#
# Timings are only meaningful on a quiet machine: check `uptime` first (the
# script warns above a 1-minute load of 0.3 per CPU); every cell records its load.
set -euo pipefail
# MAKEMORE_BIN and a PYTHON path may be relative to where the script was started
# from (-s: a venv's python is a link that must stay one).
if [ -n "${MAKEMORE_BIN:-}" ]; then MAKEMORE_BIN=$(realpath -ms -- "$MAKEMORE_BIN"); fi
case "${PYTHON:-}" in */*) PYTHON=$(realpath -ms -- "$PYTHON") ;; esac
cd "$(dirname "$0")/.."

OUT=${OUT:-bench/results}
THREADS=${THREADS:-1,2}
BATCH=${BATCH:-32,256,1024,4096}
HIDDEN=${HIDDEN:-64,256}
REPEATS=${REPEATS:-5}
RUNS=${RUNS:-3}
ANCHORS=${ANCHORS:-eager,compile,jax}
VENV=bench/.venv
want() { case ",$ANCHORS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
MAKEMORE=${MAKEMORE_BIN:-}
if [ -n "$MAKEMORE" ]; then  # checked before anything is installed
  [ -x "$MAKEMORE" ] || { echo "MAKEMORE_BIN=$MAKEMORE: no such executable (make dist builds dist/makemore)" >&2; exit 1; }
  [ -z "${KERNELS:-}" ] || { echo "KERNELS=1 needs Swift (bench/kernels is a Swift package); leave it out with MAKEMORE_BIN" >&2; exit 1; }
fi

if [ -z "${PYTHON:-}" ]; then
  PYTHON=$VENV/bin/python
  if ! "$PYTHON" -c 'import torch, numpy, matplotlib' 2>/dev/null; then
    echo "== installing torch, numpy, matplotlib into $VENV (once)"
    [ -x "$PYTHON" ] || python3 -m venv "$VENV"
    # CPU wheels (~200 MB) when download.pytorch.org answers; otherwise PyPI's, which
    # bring the CUDA libraries along (a few GB) but run on the CPU all the same.
    "$PYTHON" -m pip install -q --timeout 15 --retries 0 torch --index-url https://download.pytorch.org/whl/cpu \
      --extra-index-url https://pypi.org/simple \
      || "$PYTHON" -m pip install -q torch
    "$PYTHON" -m pip install -q numpy matplotlib
  fi
fi
COMPILE=; JAX=
if want compile; then
  if "$PYTHON" -c 'import torch; torch.compile' 2>/dev/null && command -v "${CXX:-g++}" >/dev/null; then COMPILE=1
  else echo "== torch.compile: needs torch 2 and a C++ compiler (Inductor's CPU code); skipped"; fi
fi
if want jax; then
  if ! "$PYTHON" -c 'import jax' 2>/dev/null; then
    echo "== installing jax (CPU) into $("$PYTHON" -c 'import sys; print(sys.prefix)') (once)"
    "$PYTHON" -m pip install -q --timeout 15 --retries 0 jax || true
  fi
  if "$PYTHON" -c 'import jax' 2>/dev/null; then JAX=1; else echo "== jax: could not be installed; skipped"; fi
fi

if [ -n "$MAKEMORE" ]; then
  echo "== using $MAKEMORE"
else
  echo "== building"
  swift build -c release 2>&1 | tail -1
  MAKEMORE=.build/release/makemore
fi

cpus=$(nproc)
load=$(cut -d' ' -f1 /proc/loadavg)
echo "== $(uptime)"
if awk -v l="$load" -v c="$cpus" 'BEGIN { exit !(l > 0.3 * c) }'; then
  echo "warning: load average $load on $cpus CPUs: the machine is busy and the timings will be noisy"
fi

mkdir -p "$OUT/per-run"
rm -f "$OUT"/per-run/makemore-*.json "$OUT"/per-run/torch-*.json "$OUT"/per-run/jax-*.json
rm -f "$OUT"/torch_compile.json "$OUT"/jax.json
grid=(--threads "$THREADS" --batch-size "$BATCH" --n-hidden "$HIDDEN" --repeats "$REPEATS")
for i in $(seq 1 "$RUNS"); do
  echo "== makemore, run $i of $RUNS"
  "$MAKEMORE" bench --config configs/scaling.yaml "${grid[@]}" --json "$OUT/per-run/makemore-$i.json"
  echo "== PyTorch, run $i of $RUNS"
  "$PYTHON" bench/torch_baseline.py "${grid[@]}" --json "$OUT/per-run/torch-$i.json"
  if [ -n "$COMPILE" ]; then
    echo "== torch.compile, run $i of $RUNS"
    "$PYTHON" bench/torch_baseline.py --mode compile "${grid[@]}" --json "$OUT/per-run/torch-compile-$i.json" \
      || { echo "== torch.compile failed; skipped from here on"; COMPILE=; rm -f "$OUT"/per-run/torch-compile-*.json; }
  fi
  if [ -n "$JAX" ]; then
    echo "== JAX, run $i of $RUNS"
    "$PYTHON" bench/jax_baseline.py "${grid[@]}" --json "$OUT/per-run/jax-$i.json" \
      || { echo "== JAX failed; skipped from here on"; JAX=; rm -f "$OUT"/per-run/jax-*.json; }
  fi
done
echo "== merging the runs (per cell: the median of the runs' medians)"
"$PYTHON" bench/merge.py "$OUT/makemore.json" "$OUT"/per-run/makemore-*.json
"$PYTHON" bench/merge.py "$OUT/torch.json" "$OUT"/per-run/torch-[0-9]*.json
anchors=()
if [ -n "$COMPILE" ]; then
  "$PYTHON" bench/merge.py "$OUT/torch_compile.json" "$OUT"/per-run/torch-compile-*.json
  anchors+=(--anchor "torch.compile=$OUT/torch_compile.json")
fi
if [ -n "$JAX" ]; then
  "$PYTHON" bench/merge.py "$OUT/jax.json" "$OUT"/per-run/jax-*.json
  anchors+=(--anchor "jax=$OUT/jax.json")
fi
"$MAKEMORE" bench --from "$OUT/makemore.json" --csv "$OUT/makemore.csv"
echo "== makemore / PyTorch and the other anchors"
"$PYTHON" bench/compare.py "$OUT/makemore.json" "$OUT/torch.json" "${anchors[@]}" --markdown "$OUT/compare.md"
echo "== scaling model"
"$MAKEMORE" bench --from "$OUT/makemore.json" --predict | sed -n '/^Scaling model/,$p' | tee "$OUT/predict.txt"
echo "== plots"
if ! "$PYTHON" -c 'import matplotlib' 2>/dev/null; then
  echo "== $PYTHON has no matplotlib: no plots (the tables and JSON are written)"
else
  "$PYTHON" bench/plot.py --makemore "$OUT/makemore.json" --torch "$OUT/torch.json" "${anchors[@]}" --out "$OUT"
fi
if [ -n "${KERNELS:-}" ]; then
  echo "== kernel micro-benchmarks (bench/kernels)"
  swift build -c release --package-path bench/kernels 2>&1 | tail -1
  bench/kernels/.build/release/KernelBench --quiet --min-time 0.2 | tee "$OUT/kernels.txt"
fi
