#!/usr/bin/env bash
# The main job: pre-train the small CNN on digits 0-4, then fine-tune a 10-class model from
# that backbone (frozen for the first phase) on all ten digits, and print the validation
# accuracy (target >= 95%, about two minutes on a 2-core CPU).
#
#   scripts/main-job.sh              # builds if needed, writes runs/digits-{pretrain,finetune}
#
# Data: scikit-learn's bundled 8x8 digits, converted once to data/digits and data/digits04
# by scripts/prepare-digits.py (no download). Images are upscaled to 16x16; --no-flip because
# a mirrored digit is not the same digit.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bin=$(build_trainer)
"$LRPLAN_PYTHON" scripts/prepare-digits.py data
threads="${THREADS:-2}"
start=$(date +%s)
rm -rf runs/digits-pretrain runs/digits-finetune
"$bin" train --plan examples/digits-pretrain.toml --data data/digits04 --out runs/digits-pretrain \
    --model small-cnn --image-size 16 --seed 1 --no-flip --threads "$threads"
"$bin" train --plan examples/digits-finetune.toml --data data/digits --out runs/digits-finetune \
    --weights runs/digits-pretrain/last.safetensors \
    --model small-cnn --image-size 16 --seed 2 --no-flip --threads "$threads"
end=$(date +%s)
acc=$(tail -n 1 runs/digits-finetune/metrics.csv | cut -d, -f5)
echo "main job: final validation accuracy ${acc} on all ten digits; wall time $((end - start)) s"
awk -v a="$acc" 'BEGIN { exit !(a >= 0.95) }' || { echo "main job: accuracy below 95%" >&2; exit 1; }
