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
#
# Then mixed precision: ResNet-50, 224x224, batch 128, bf16 autocast and channels-last, the
# trainer (--precision bf16 --channels-last) vs PyTorch AMP with the same settings: steps/s,
# the ratio, and the trainer's images/s as a fraction of the GPU's dense bf16 peak (a training
# step of ResNet-50 is about 3 x 4.1 G multiply-adds per image; the peak is looked up by the
# GPU's name, or given as PEAK_TFLOPS).
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
    --max-steps "$steps" | tee /dev/stderr | throughput)
torch_out=$(timeout 200 "$py" scripts/bench-trainer-torch.py resnet18 $size $batch "$steps" "$(nproc)" cuda:0)
p=$(echo "$torch_out" | throughput)
torch_syncs=$(echo "$torch_out" | sed -n 's/^host syncs per step: \([0-9.]*\).*/\1/p')
awk -v t="$t" -v p="$p" -v n="$steps" 'BEGIN {
    printf "resnet18 224px batch 64, %d steps, cuda:0: trainer %.2f steps/s  pytorch %.2f steps/s  ratio %.3f\n", n, t, p, t / p }'
echo "host syncs per step: trainer ${ours_syncs:-?} (its CUDA check)  pytorch ${torch_syncs:-?}"

steps50="${STEPS50:-60}"
sed "s/@BATCH@/128/" scripts/bench-plan.toml.in > "$tmp/plan-128.toml"
t50=$(timeout 300 "$bin" train --plan "$tmp/plan-128.toml" --synthetic $((128 * steps50)) \
    --out "$tmp/run-50" --model resnet50 --image-size $size --device cuda:0 --no-val --no-charts \
    --no-augment --max-steps "$steps50" --precision bf16 --channels-last \
    | tee /dev/stderr | throughput)
p50=$(timeout 300 "$py" scripts/bench-trainer-torch.py resnet50 $size 128 "$steps50" "$(nproc)" cuda:0 \
    bf16 channels-last | throughput)
peak="${PEAK_TFLOPS:-$("$py" -c '
import torch
name = torch.cuda.get_device_name(0)
# Dense bf16 tensor-core peaks (TFLOPS), from the vendors data sheets (SXM parts).
peaks = {"H200": 989, "H100": 989, "H800": 989, "GH200": 989, "B200": 2250, "A100": 312,
         "A800": 312, "L40S": 362, "L40": 181, "L4": 121, "A10": 125, "RTX 4090": 165,
         "RTX 3090": 71}
print(next((str(v) for k, v in peaks.items() if k in name), "0"))')}"
awk -v n="$steps50" -v t="$t50" -v p="$p50" -v peak="$peak" 'BEGIN {
    printf "resnet50 224px batch 128 bf16 channels-last, %d steps, cuda:0: trainer %.2f steps/s  pytorch AMP %.2f steps/s  ratio %.3f\n", n, t, p, t / p
    img = t * 128
    if (peak > 0) printf "trainer: %.0f images/s = %.1f%% of the GPU bf16 peak (%d TFLOPS)\n", img, 100 * img * 3 * 2 * 4.1e9 / (peak * 1e12), peak
    else printf "trainer: %.0f images/s (GPU peak unknown: set PEAK_TFLOPS)\n", img }'

gpus="${GPUS:-$("$py" -c 'import torch; print(torch.cuda.device_count())')}"
if [ "$gpus" -gt 1 ]; then
    global=$((batch * gpus))
    threads=$(( $(nproc) / gpus > 0 ? $(nproc) / gpus : 1 ))
    sed "s/@BATCH@/$global/" scripts/bench-plan.toml.in > "$tmp/plan-$gpus.toml"
    launch() { timeout 300 "$py" -m torch.distributed.run --standalone --nproc-per-node "$gpus" "$@"; }
    tn=$(launch --no-python "$bin" train --plan "$tmp/plan-$gpus.toml" \
        --synthetic $((global * steps)) --out "$tmp/run-$gpus" --model resnet18 --image-size $size \
        --device cuda --threads "$threads" --no-val --no-charts --no-augment --max-steps "$steps" \
        | tee /dev/stderr | throughput)
    pn=$(launch scripts/bench-trainer-torch.py resnet18 $size $global "$steps" "$threads" cuda \
        | throughput)
    awk -v g="$gpus" -v n="$steps" -v t="$tn" -v p="$pn" -v t1="$t" -v p1="$p" 'BEGIN {
        printf "resnet18 224px, %d GPUs x batch 64, %d steps (NCCL): trainer %.2f steps/s  pytorch DDP %.2f steps/s  ratio %.3f\n", g, n, t, p, t / p
        printf "scaling efficiency vs 1 GPU: trainer %.3f  pytorch %.3f\n", t / t1, p / p1 }'
fi
