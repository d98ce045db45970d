#!/usr/bin/env bash
# The trainer's data pipeline against torchvision's: images per second from JPEG files to the
# normalised [256, 3, 224, 224] batch tensor, on a folder of IMAGES (default 2,048) JPEGs of
# about 500x375 made from scikit-learn's two photos (scripts/bench-data-torch.py make), with
# THREADS (default 2) cores each:
#
#   trainer    `trainer bench-data`: the training run's loader (rayon pool of THREADS threads)
#              and its batch-to-tensor step;
#   torchvision ImageFolder + DataLoader(num_workers=THREADS), the same transforms.
#
# Both for the training transform (RandomResizedCrop(224) + flip) and the validation one
# (Resize(256) + CenterCrop(224)); the trainer decodes every pass, as torchvision does
# (LRPLAN_MEMORY_LIMIT=0: a training run would keep a validation split this small decoded).
# Each side makes PASSES (default 2) passes per call, REPEAT (default 3) calls alternating,
# and its best pass counts. With more cores than THREADS both
# sides are pinned to the first THREADS cores (taskset).
#
#   scripts/bench-data.sh
#   THREADS=4 IMAGES=4096 scripts/bench-data.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bin=$(build_trainer)
py="$LRPLAN_PYTHON"
threads="${THREADS:-2}"
passes="${PASSES:-2}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

pin=()
if [ "$(nproc)" -gt "$threads" ] && command -v taskset >/dev/null; then
    pin=(taskset -c "0-$((threads - 1))")
fi

say "making ${IMAGES:-2048} JPEGs in $tmp/photos"
"$py" scripts/bench-data-torch.py make "$tmp/photos" "${IMAGES:-2048}"

rate() { sed -n 's/^images\/s: \([0-9.]*\).*/\1/p'; }

for split in train val; do
    t=0 p=0
    for _ in $(seq "${REPEAT:-3}"); do
        t=$(best "$t" "$(LRPLAN_MEMORY_LIMIT=0 RAYON_NUM_THREADS="$threads" "${pin[@]}" "$bin" bench-data \
            --data "$tmp/photos" --split "$split" --image-size 224 --batch-size 256 \
            --epochs "$passes" | rate)")
        p=$(best "$p" "$("${pin[@]}" "$py" scripts/bench-data-torch.py run "$tmp/photos" \
            "$split" 224 256 "$threads" "$passes" | rate)")
    done
    awk -v s="$split" -v t="$t" -v p="$p" -v th="$threads" 'BEGIN {
        printf "%-5s transform, 224 px, batch 256, %d cores: trainer %7.1f images/s, torchvision %7.1f (ratio %.2f)\n", s, th, t, p, t / p }'
done
