#!/usr/bin/env bash
# How fast makemore is on this CPU, in one run of a few minutes, into one folder:
# the figures the README's per-CPU tables give (the step's share of the FMA peak
# on each vector path, the matrix products' register tiles, batch 65536 against
# batch 4096, thread scaling) and whether the AVX-512 and AVX2 paths write the
# same bits. Needs no Swift where it runs: make dist here, copy the repository
# with dist/makemore in it, and run
#
#   bench/cpu-report.sh [OUT]        # default bench/results/cpu-<CPU model>-<family>-<model>
#
# Where Swift is installed it also runs the kernel micro-benchmarks (bench/kernels) on
# each path, about a minute each (KERNELS=0 leaves them out).
#
# Environment: MAKEMORE_BIN (default dist/makemore, else .build/release/makemore),
# ROUNDS (default 3: the one-thread grid's rounds, the paths alternating, since a
# shared host runs the same code at speeds far apart in spells), THREADS (default
# 1, 2, 4, ... up to the CPU count, and the count itself), PYTHON (default
# python3; the standard library is enough).
#
# It writes:
#   cpu.txt               lscpu, the load, the binary
#   tune-<path>.txt       `makemore tune` at the shapes of batch 32, 4096/H 64 and 4096/H 256
#   kernels-<path>.txt    bench/kernels' table, where Swift is installed
#   step-grid.txt         every round of `makemore bench --threads 1 --batch-size 32,4096,65536
#                         --n-hidden 64,256`, each vector path in turn (per-run/*.json; merged
#                         per path into step-<path>.json by bench/merge.py)
#   scaling.txt/.json     `makemore bench --threads $THREADS --batch-size 1024,4096,65536 --n-hidden 64,256
#                         --stages`: the thread grid, and each cell's stages of the step per worker
#   identity.txt          scripts/isa-check/check.sh --native (AVX-512 CPUs only)
#   summary.md            the tables and the targets (bench/cpu_report.py), also printed
#
# Against PyTorch, torch.compile and JAX on the same machine: bench/compare.sh
# (MAKEMORE_BIN and PYTHON as here; see docs/benchmarks.md).
set -euo pipefail
if [ -n "${MAKEMORE_BIN:-}" ]; then MAKEMORE_BIN=$(realpath -m -- "$MAKEMORE_BIN"); fi
case "${1:-}" in -h|--help) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
out_arg=${1:-}
if [ -n "$out_arg" ]; then out_arg=$(realpath -m -- "$out_arg"); fi
cd "$(dirname "$0")/.."

bin=${MAKEMORE_BIN:-}
if [ -n "$bin" ] && [ ! -x "$bin" ]; then echo "cpu-report.sh: MAKEMORE_BIN=$bin: no such executable" >&2; exit 1; fi
if [ -z "$bin" ]; then
  for b in dist/makemore .build/release/makemore; do [ -x "$b" ] && { bin=$(realpath "$b"); break; }; done
fi
[ -n "$bin" ] && [ -x "$bin" ] || {
  echo "cpu-report.sh: no makemore binary: run make dist (or make build), or set MAKEMORE_BIN" >&2; exit 1; }
PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null || { echo "cpu-report.sh: $PYTHON not found (set PYTHON)" >&2; exit 1; }
ROUNDS=${ROUNDS:-3}
case "$ROUNDS" in ''|*[!0-9]*|0) echo "cpu-report.sh: ROUNDS must be a positive whole number, got '$ROUNDS'" >&2; exit 1 ;; esac

cpus=$(nproc)
if [ -z "${THREADS:-}" ]; then
  THREADS=1; t=2
  while [ "$t" -lt "$cpus" ]; do THREADS="$THREADS,$t"; t=$((2 * t)); done
  [ "$cpus" -gt 1 ] && THREADS="$THREADS,$cpus"
fi
for t in ${THREADS//,/ }; do  # checked before minutes of runs, not after
  case "$t" in ''|*[!0-9]*) echo "cpu-report.sh: THREADS must be a comma-separated list of thread counts, got '$THREADS'" >&2; exit 1 ;; esac
  [ "$t" -ge 1 ] && [ "$t" -le "$cpus" ] || { echo "cpu-report.sh: THREADS=$THREADS: each count must be from 1 to $cpus (this machine's CPUs)" >&2; exit 1; }
done
model=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*: *//')
family=$(awk -F': *' '/^cpu family/ { print $2; exit }' /proc/cpuinfo)
number=$(awk -F': *' '/^model[ \t]*:/ { print $2; exit }' /proc/cpuinfo)
# A virtual machine's model name can be as bare as "Intel(R) Xeon(R) Processor": family and model tell them apart.
slug=$(printf '%s %s %s' "${model:-unknown}" "$family" "$number" | tr 'A-Z' 'a-z' |
  sed 's/([^)]*)//g; s/[^a-z0-9]\{1,\}/-/g; s/^-//; s/-$//' | cut -c1-60)
OUT=bench/results/cpu-$slug
if [ -n "$out_arg" ]; then OUT=$(realpath -m --relative-to=. "$out_arg"); fi  # relative: the files name no machine's paths
mkdir -p "$OUT/per-run"
rm -f "$OUT"/per-run/step-*.json
# The register tiles are measured afresh here, not taken from the user's tile cache.
MAKEMORE_CACHE_DIR=$(mktemp -d)
export MAKEMORE_CACHE_DIR
trap 'rm -rf "$MAKEMORE_CACHE_DIR"' EXIT
unset MAKEMORE_ISA  # each path is chosen below
if grep -qw avx512f /proc/cpuinfo; then paths="avx512 avx2"; else paths="avx2"; fi

started=$(date +%s)
say() { printf '== [%s] %s\n' "$(date -u -d "@$(( $(date +%s) - started ))" +%M:%S)" "$*"; }
isa_env() { if [ "$1" = avx2 ] && [ "$paths" != avx2 ]; then echo MAKEMORE_ISA=avx2; fi; }  # the default path: nothing
# Runs "$@" with its output appended to the file $1; if it fails, says so with the file's end and stops.
logged() {
  local log=$1; shift
  "$@" >> "$log" 2>&1 || {
    local status=$?
    echo "cpu-report.sh: '$*' failed with status $status; the end of $log:" >&2
    tail -n 5 "$log" >&2
    exit 1
  }
}

say "$model, $cpus CPUs; $bin; into $OUT"
{ echo "binary: $(realpath --relative-to=. "$bin")"; echo "date: $(date -u +%FT%TZ)"; echo "uptime: $(uptime)"; echo; lscpu; } > "$OUT/cpu.txt"
load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" -v c="$cpus" 'BEGIN { exit !(l > 0.3 * c) }'; then
  echo "warning: load average $load on $cpus CPUs: the machine is busy and the timings will be noisy"
fi

for p in $paths; do
  say "register tiles, $p path (makemore tune)"
  : > "$OUT/tune-$p.txt"
  for shapes in "" "--batch-size 4096 --n-hidden 64" "--batch-size 4096 --n-hidden 256"; do
    # shellcheck disable=SC2086  # $shapes: several flags, or none
    logged "$OUT/tune-$p.txt" env $(isa_env $p) "$bin" tune $shapes
  done
  sed -i '/^remembered in/d' "$OUT/tune-$p.txt"  # the temporary cache's path
done

if [ "${KERNELS:-1}" != 0 ] && command -v swift >/dev/null; then
  say "kernel micro-benchmarks: building bench/kernels"
  logged "$MAKEMORE_CACHE_DIR/kernels-build.txt" swift build -c release --package-path bench/kernels
  for p in $paths; do
    say "kernel micro-benchmarks, $p path"
    : > "$OUT/kernels-$p.txt"
    logged "$OUT/kernels-$p.txt" env $(isa_env $p) bench/kernels/.build/release/KernelBench --quiet --min-time 0.2
  done
fi

: > "$OUT/step-grid.txt"
for r in $(seq 1 "$ROUNDS"); do
  for p in $paths; do
    say "one thread, round $r of $ROUNDS, $p path"
    echo "== round $r $p" >> "$OUT/step-grid.txt"
    logged "$OUT/step-grid.txt" env $(isa_env $p) "$bin" bench --threads 1 --batch-size 32,4096,65536 --n-hidden 64,256 \
      --peak-s 0.1 --json "$OUT/per-run/step-$p-$r.json"
  done
done
for p in $paths; do "$PYTHON" bench/merge.py "$OUT/step-$p.json" "$OUT"/per-run/step-$p-*.json > /dev/null; done

say "threads $THREADS (makemore bench)"
: > "$OUT/scaling.txt"
logged "$OUT/scaling.txt" "$bin" bench --threads "$THREADS" --batch-size 1024,4096,65536 --n-hidden 64,256 --peak-s 0.1 \
  --stages --json "$OUT/scaling.json"

if [ "$paths" != avx2 ]; then
  say "the AVX-512 and AVX2 paths' bits (scripts/isa-check/check.sh --native)"
  scripts/isa-check/check.sh --native "$bin" > "$OUT/identity.txt" 2>&1 || true
else
  echo "no AVX-512 on this CPU: only the AVX2 path runs here (make check-avx512 emulates the other)" > "$OUT/identity.txt"
fi

say "summary"
"$PYTHON" bench/cpu_report.py "$OUT" | tee "$OUT/summary.md"
say "done: $OUT"
