#!/usr/bin/env bash
# Trainer vs an equivalent PyTorch script (scripts/bench-trainer-torch.py): same model, batch
# size, optimizer and groups (SGD Nesterov), random data in memory, same thread count, same
# number of steps. Prints steps/s for both and the ratio trainer / PyTorch (goal >= 1).
#
# PyTorch runs twice: as installed, and with the malloc setting the trainer makes for itself
# (crates/trainer/src/malloc.rs: glibc keeps freed memory instead of mapping fresh pages every
# step). The first ratio is the one users see; the second shows what is left once both sides
# allocate alike.
#
# Each side runs REPEAT times (default 5), alternating, and its best run counts: on a shared
# machine the best of a few runs is the figure least disturbed by other processes.
#
# `resnet18.pt` is the same ResNet-18 scripted from the Python definition (torch.jit.script)
# and trained by the trainer as a TorchScript model (`--model FILE.pt`), against the same eager
# PyTorch side.
#
#   scripts/bench-trainer.sh                 # small-cnn 32px b64 x150, resnet18 and
#                                            # resnet18.pt 32px b32 x40, best of 5
#   BENCH=resnet18.pt scripts/bench-trainer.sh   # only the cases named (space-separated)
#   THREADS=2 DEVICE=cpu REPEAT=3 scripts/bench-trainer.sh
#   TRAINER=/tmp/trainer-before BENCH=small-cnn scripts/bench-trainer.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
# TRAINER=PATH benches that binary (e.g. one built before a change) instead of building.
bin="${TRAINER:-$(build_trainer)}"
py="$LRPLAN_PYTHON"
threads="${THREADS:-$(nproc)}"
device="${DEVICE:-cpu}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The trainer's own setting, spelled as glibc's environment variables (-1 is SIZE_MAX).
same_malloc=(MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=18446744073709551615)

# bench LABEL TRAINER_MODEL TORCH_MODEL SIZE BATCH STEPS
bench() {
    local label=$1 trainer_model=$2 model=$3 size=$4 batch=$5 steps=$6
    [[ " ${BENCH:-$label} " == *" $label "* ]] || return 0
    sed "s/@BATCH@/$batch/" scripts/bench-plan.toml.in > "$tmp/plan-$model.toml"
    local torch_args=("$model" "$size" "$batch" "$steps" "$threads" "$device")
    local t=0 p=0 q=0 _
    for _ in $(seq "${REPEAT:-5}"); do
        t=$(best "$t" "$("$bin" train --plan "$tmp/plan-$model.toml" --synthetic $((batch * steps)) \
            --out "$tmp/run-$model" --model "$trainer_model" --image-size "$size" --threads "$threads" \
            --device "$device" --no-val --no-charts --no-augment --max-steps "$steps" | throughput)")
        rm -rf "$tmp/run-$model"
        p=$(best "$p" "$("$py" scripts/bench-trainer-torch.py "${torch_args[@]}" | throughput)")
        q=$(best "$q" "$(env "${same_malloc[@]}" "$py" scripts/bench-trainer-torch.py "${torch_args[@]}" | throughput)")
    done
    awk -v m="$label" -v s="$size" -v b="$batch" -v n="$steps" -v t="$t" -v p="$p" -v q="$q" -v th="$threads" 'BEGIN {
        printf "%-11s %3dpx batch %3d, %4d steps, %d threads: trainer %7.2f steps/s, pytorch %7.2f (ratio %.3f), pytorch with the trainer'"'"'s malloc %7.2f (ratio %.3f)\n", m, s, b, n, th, t, p, t / p, q, t / q }'
}

"$py" scripts/bench-trainer-torch.py script resnet18 "$tmp/resnet18.pt"
bench small-cnn small-cnn small-cnn 32 64 "${SMALL_STEPS:-150}"
bench resnet18 resnet18 resnet18 32 32 "${RESNET_STEPS:-40}"
bench resnet18.pt "$tmp/resnet18.pt" resnet18 32 32 "${RESNET_STEPS:-40}"
