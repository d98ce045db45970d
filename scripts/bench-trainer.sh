#!/usr/bin/env bash
# Trainer vs an equivalent PyTorch script (scripts/bench-trainer-torch.py): same model, batch
# size, optimizer and groups (SGD Nesterov), random data in memory, same thread count, same
# number of steps. Prints steps/s for both and the ratio trainer / PyTorch (goal >= 1).
# Each side runs REPEAT times (default 3), alternating, and its best run counts: on a shared
# machine the best of a few runs is the figure least disturbed by other processes.
#
#   scripts/bench-trainer.sh                 # small-cnn 32px b64 x60, resnet18 32px b32 x20, best of 3
#   THREADS=2 DEVICE=cpu scripts/bench-trainer.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
target="${CARGO_TARGET_DIR:-$repo/target}"
scripts/build-trainer.sh >/dev/null
bin="$target/release/trainer"
py="${LRPLAN_PYTHON:-$repo/.venv/bin/python}"
threads="${THREADS:-$(nproc)}"
device="${DEVICE:-cpu}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT


bench() {
    local model=$1 size=$2 batch=$3 steps=$4
    sed "s/@BATCH@/$batch/" scripts/bench-plan.toml.in > "$tmp/plan-$model.toml"
    local t=0 p=0 x i
    for i in $(seq "${REPEAT:-3}"); do
        x=$("$bin" train --plan "$tmp/plan-$model.toml" --synthetic $((batch * steps)) \
            --out "$tmp/run-$model" --model "$model" --image-size "$size" --threads "$threads" \
            --device "$device" --no-val --no-charts --no-augment --max-steps "$steps" \
            | sed -n 's/^throughput: \([0-9.]*\).*/\1/p')
        t=$(awk -v a="$t" -v b="$x" 'BEGIN { print (b > a) ? b : a }')
        rm -rf "$tmp/run-$model"
        x=$("$py" scripts/bench-trainer-torch.py "$model" "$size" "$batch" "$steps" "$threads" "$device" \
            | sed -n 's/^throughput: \([0-9.]*\).*/\1/p')
        p=$(awk -v a="$p" -v b="$x" 'BEGIN { print (b > a) ? b : a }')
    done
    awk -v m="$model" -v s="$size" -v b="$batch" -v n="$steps" -v t="$t" -v p="$p" -v th="$threads" 'BEGIN {
        printf "%-10s %3dpx batch %3d, %4d steps, %d threads: trainer %8.2f steps/s  pytorch %8.2f steps/s  ratio %.3f\n", m, s, b, n, th, t, p, t / p }'
}

bench small-cnn 32 64 "${SMALL_STEPS:-60}"
bench resnet18 32 32 "${RESNET_STEPS:-20}"
