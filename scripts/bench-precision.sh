#!/usr/bin/env bash
# CPU: what bf16 autocast (and channels-last) buys over fp32, for the trainer and for PyTorch
# AMP (scripts/bench-trainer-torch.py with the same settings): steps/s of ResNet-18, 64x64,
# batch 32, synthetic data, SGD Nesterov; each configuration's best of REPEAT runs (default 3),
# the sides alternating. Prints steps/s per configuration, the bf16 / fp32 ratio of each side,
# and the trainer / PyTorch ratio at each configuration. (fp16 is left out: libtorch's CPU
# float16 kernels are reference code, tens of times slower than fp32; it is a GPU format.)
#
#   scripts/bench-precision.sh
#   THREADS=2 REPEAT=5 STEPS=30 scripts/bench-precision.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bin="${TRAINER:-$(build_trainer)}"
py="$LRPLAN_PYTHON"
threads="${THREADS:-$(nproc)}"
steps="${STEPS:-20}"
size=64
batch=32
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sed "s/@BATCH@/$batch/" scripts/bench-plan.toml.in > "$tmp/plan.toml"

# run_both PRECISION LAYOUT: "trainer pytorch" steps/s, each the best of REPEAT runs.
run_both() {
    local precision=$1 layout=$2 t=0 p=0 _
    local flags=(--precision "$precision")
    [ "$layout" = channels-last ] && flags+=(--channels-last)
    for _ in $(seq "${REPEAT:-3}"); do
        t=$(best "$t" "$("$bin" train --plan "$tmp/plan.toml" --synthetic $((batch * steps)) \
            --out "$tmp/run" --model resnet18 --image-size $size --threads "$threads" --device cpu \
            --no-val --no-charts --no-augment --max-steps "$steps" "${flags[@]}" | throughput)")
        rm -rf "$tmp/run"
        p=$(best "$p" "$("$py" scripts/bench-trainer-torch.py resnet18 $size $batch "$steps" \
            "$threads" cpu "$precision" "$layout" | throughput)")
    done
    echo "$t $p"
}

read -r t32 p32 < <(run_both fp32 nchw)
read -r t16 p16 < <(run_both bf16 nchw)
read -r tcl pcl < <(run_both bf16 channels-last)
awk -v n="$steps" -v th="$threads" -v t32="$t32" -v p32="$p32" -v t16="$t16" -v p16="$p16" \
    -v tcl="$tcl" -v pcl="$pcl" 'BEGIN {
    printf "resnet18 64px batch 32, %d steps, %d threads, cpu (steps/s):\n", n, th
    printf "  fp32                trainer %6.2f  pytorch     %6.2f  trainer/pytorch %.3f\n", t32, p32, t32 / p32
    printf "  bf16                trainer %6.2f  pytorch AMP %6.2f  trainer/pytorch %.3f\n", t16, p16, t16 / p16
    printf "  bf16 channels-last  trainer %6.2f  pytorch AMP %6.2f  trainer/pytorch %.3f\n", tcl, pcl, tcl / pcl
    printf "bf16 / fp32: trainer %.3f (channels-last %.3f)  pytorch %.3f (channels-last %.3f)\n", t16 / t32, tcl / t32, p16 / p32, pcl / p32 }'
