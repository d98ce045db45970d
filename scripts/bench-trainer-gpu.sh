#!/usr/bin/env bash
# GPU benchmark for a CUDA machine (under 5 minutes): ResNet-18, 224x224, batch 64, synthetic
# data, SGD Nesterov; the trainer vs the same model in PyTorch (bench-trainer-torch.py), both
# on cuda:0. The trainer binary must have been built against PyTorch 2.11's libtorch; on the
# GPU machine its libraries come from that machine's PyTorch install, found through its python
# (LRPLAN_PYTHON, as every script; PYTHON, which this script read first, still names it):
#
#   LRPLAN_PYTHON=python3 scripts/bench-trainer-gpu.sh [path/to/trainer]
#
# First `trainer doctor --check-cuda` (the GPU's steps against the CPU's; no CUDA or a mismatch
# stops here), then steps/s for both, the ratio, and the host syncs per step: the trainer's as
# its check counts them (small CNN), PyTorch's from torch.cuda.set_sync_debug_mode.
#
# With more than one GPU (GPUS, default all that torch sees), then data parallel: both sides
# under torchrun, one process per GPU (NCCL), 64 images per GPU (the plan's global batch is
# 64 x GPUS): steps/s, the ratio to PyTorch's DistributedDataParallel, and the scaling
# efficiency, N-GPU images/s over N times the one-GPU images/s (with 64 per GPU on both, the
# ratio of the steps/s).
set -euo pipefail
LRPLAN_PYTHON="${PYTHON:-${LRPLAN_PYTHON:-}}"
source "$(dirname "$0")/lib.sh"
need_python
py="$LRPLAN_PYTHON"
bin="${1:-${CARGO_TARGET_DIR:-$LRPLAN_ROOT/target}/release/trainer}"
torch_lib="$("$py" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
check="$("$bin" doctor --check-cuda)" || { echo "bench-gpu: trainer doctor --check-cuda failed" >&2; exit 1; }
echo "$check"
ours_syncs=$(echo "$check" | sed -n 's/.*host syncs per step[^:]*: \([0-9.]*\).*/\1/p')
steps="${STEPS:-100}"
batch=64
size=224
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sed "s/@BATCH@/$batch/" scripts/bench-plan.toml.in > "$tmp/plan.toml"
t=$(timeout 200 "$bin" train --plan "$tmp/plan.toml" --synthetic $((batch * steps)) --out "$tmp/run" \
    --model resnet18 --image-size $size --device cuda:0 --no-val --no-charts --no-augment \
    --max-steps "$steps" | tee /dev/stderr | sed -n 's/^throughput: \([0-9.]*\).*/\1/p')
torch_out=$(timeout 200 "$py" scripts/bench-trainer-torch.py resnet18 $size $batch "$steps" "$(nproc)" cuda:0)
p=$(echo "$torch_out" | sed -n 's/^throughput: \([0-9.]*\).*/\1/p')
torch_syncs=$(echo "$torch_out" | sed -n 's/^host syncs per step: \([0-9.]*\).*/\1/p')
awk -v t="$t" -v p="$p" -v n="$steps" 'BEGIN {
    printf "resnet18 224px batch 64, %d steps, cuda:0: trainer %.2f steps/s  pytorch %.2f steps/s  ratio %.3f\n", n, t, p, t / p }'
echo "host syncs per step: trainer ${ours_syncs:-?} (its CUDA check)  pytorch ${torch_syncs:-?}"

gpus="${GPUS:-$("$py" -c 'import torch; print(torch.cuda.device_count())')}"
if [ "$gpus" -gt 1 ]; then
    global=$((batch * gpus))
    threads=$(( $(nproc) / gpus > 0 ? $(nproc) / gpus : 1 ))
    sed "s/@BATCH@/$global/" scripts/bench-plan.toml.in > "$tmp/plan-$gpus.toml"
    launch() { timeout 300 "$py" -m torch.distributed.run --standalone --nproc-per-node "$gpus" "$@"; }
    tn=$(launch --no-python "$bin" train --plan "$tmp/plan-$gpus.toml" \
        --synthetic $((global * steps)) --out "$tmp/run-$gpus" --model resnet18 --image-size $size \
        --device cuda --threads "$threads" --no-val --no-charts --no-augment --max-steps "$steps" \
        | tee /dev/stderr | sed -n 's/^throughput: \([0-9.]*\).*/\1/p')
    pn=$(launch scripts/bench-trainer-torch.py resnet18 $size $global "$steps" "$threads" cuda \
        | sed -n 's/^throughput: \([0-9.]*\).*/\1/p')
    awk -v g="$gpus" -v n="$steps" -v t="$tn" -v p="$pn" -v t1="$t" -v p1="$p" 'BEGIN {
        printf "resnet18 224px, %d GPUs x batch 64, %d steps (NCCL): trainer %.2f steps/s  pytorch DDP %.2f steps/s  ratio %.3f\n", g, n, t, p, t / p
        printf "scaling efficiency vs 1 GPU: trainer %.3f  pytorch %.3f\n", t / t1, p / p1 }'
fi
