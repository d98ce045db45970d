#!/usr/bin/env bash
# Data-parallel training on the CPU: the trainer vs PyTorch's DistributedDataParallel, both
# launched by torchrun with gloo, 2 processes x 1 thread, the same model, global batch, SGD
# groups and number of steps on random data in memory (the PyTorch side is
# scripts/bench-trainer-torch.py, which switches to DDP under torchrun). Prints rank 0's
# steps/s for both and the ratio trainer / PyTorch (goal >= 1).
#
# Each side runs REPEAT times (default 3), alternating, and its best run counts (a shared
# machine disturbs the others).
#
#   scripts/bench-ddp.sh                     # small-cnn 32px, global batch 64, 150 steps
#   NPROC=2 STEPS=300 REPEAT=5 scripts/bench-ddp.sh
#   TRAINER=/tmp/trainer-before scripts/bench-ddp.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bin="${TRAINER:-$(build_trainer)}"
py="$LRPLAN_PYTHON"
torchrun="$(dirname "$py")/torchrun"
nproc="${NPROC:-2}"
size=32 batch=64 steps="${STEPS:-150}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

launch() { "$torchrun" --nproc-per-node "$nproc" --standalone "$@" 2>/dev/null; }

sed "s/@BATCH@/$batch/" scripts/bench-plan.toml.in > "$tmp/plan.toml"
t=0 p=0
for _ in $(seq "${REPEAT:-3}"); do
    t=$(best "$t" "$(launch --no-python "$bin" train --plan "$tmp/plan.toml" \
        --synthetic $((batch * steps)) --out "$tmp/run" --model small-cnn --image-size "$size" \
        --threads 1 --device cpu --no-val --no-charts --no-augment --max-steps "$steps" | throughput)")
    rm -rf "$tmp/run"
    p=$(best "$p" "$(launch scripts/bench-trainer-torch.py small-cnn "$size" "$batch" "$steps" 1 cpu | throughput)")
done
awk -v n="$nproc" -v s="$size" -v b="$batch" -v k="$steps" -v t="$t" -v p="$p" 'BEGIN {
    printf "small-cnn %dpx, global batch %d, %d steps, %d processes x 1 thread (gloo): trainer %.2f steps/s, pytorch DDP %.2f (ratio %.3f)\n", s, b, k, n, t, p, t / p }'
