# The commands whose results must not depend on the ISA. check.sh runs them
# twice with the same dist/makemore: on this machine with MAKEMORE_ISA=avx2,
# and in the emulated AVX-512 machine with the default (widest) kernels.
# Every result is printed as one `RESULT` line; the two lists must be equal.
#
# Inputs: $M the binary, $DATA a folder with names2k.txt, model.safetensors and
# batch.safetensors, $OUT a writable folder. Plain POSIX sh: the emulated
# machine has only busybox.

# md5 of a safetensors file's tensor bytes: the header after the first 8 bytes
# names the data file and the paths, which differ between the two machines.
tensors_md5() {
    n=$(od -An -tu8 -N8 "$1" | tr -d ' ')
    tail -c +$((9 + n)) "$1" | md5sum | cut -d' ' -f1
}

A="--data $DATA/names2k.txt --clean lowercase --column none --threads 1 --no-pin"

# The default model at a small batch (two 32-row shards, one row tile each),
# with the dev loss evaluated halfway.
$M train $A --n-hidden 64 --batch-size 64 --steps 40 --eval-every 20 --checkpoint "$OUT/small.safetensors" 2>&1 \
    | grep -E '^(kernels|step|final)'
echo "RESULT small $(tensors_md5 "$OUT/small.safetensors")"

# Every padding: H 200 → 208 columns (a column-tile edge in every product),
# K = 5·7 = 35 → 48, an odd batch of 37 split into shards of 19 and 18 rows.
$M train $A --n-hidden 200 --block-size 5 --n-embd 7 --batch-size 37 --steps 20 --eval-every 0 --checkpoint "$OUT/odd.safetensors" 2>&1 \
    | grep -E '^(kernels|step|final)'
echo "RESULT odd $(tensors_md5 "$OUT/odd.safetensors")"

# A batch of 2 shards × 2048 rows, so that phases 2 and 3 go through each
# shard in ten row tiles and every sum over rows continues across them.
$M train $A --n-hidden 64 --batch-size 4096 --shards 2 --steps 3 --eval-every 0 --checkpoint "$OUT/tiled.safetensors" 2>&1 \
    | grep -E '^(kernels|step|final)'
echo "RESULT tiled $(tensors_md5 "$OUT/tiled.safetensors")"

# Folding shards at H 200: the token tables and sums in column blocks of
# 64, 64, 64 and 16 (208 columns). At batch 512 BatchNorm's backward runs
# row by row; at 1024 the step folds it too (`ModelShape.foldsBatchNorm`).
$M train $A --n-hidden 200 --batch-size 512 --shards 2 --steps 3 --eval-every 0 --checkpoint "$OUT/blocks.safetensors" 2>&1 \
    | grep -E '^(kernels|step|final)'
echo "RESULT blocks $(tensors_md5 "$OUT/blocks.safetensors")"
$M train $A --n-hidden 200 --batch-size 1024 --shards 2 --steps 3 --eval-every 0 --checkpoint "$OUT/blocks-bn.safetensors" 2>&1 \
    | grep -E '^(kernels|step|final)'
echo "RESULT blocks-bn $(tensors_md5 "$OUT/blocks-bn.safetensors")"

# Loss and gradients of the PyTorch fixture's model and batch.
$M grads --checkpoint "$DATA/model.safetensors" --batch "$DATA/batch.safetensors" --out "$OUT/grads.safetensors" >/dev/null
echo "RESULT grads $(tensors_md5 "$OUT/grads.safetensors")"

# Evaluation with the running statistics, and sampling.
$M eval --checkpoint "$OUT/small.safetensors" --data "$DATA/names2k.txt" --json | sed 's/^/RESULT eval /'
$M sample --checkpoint "$OUT/small.safetensors" -n 3 --seed 3 | sed 's/^/RESULT sample /'
