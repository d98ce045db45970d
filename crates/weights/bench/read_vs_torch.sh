#!/usr/bin/env bash
# Time reading a ~100 MB ResNet-50-like state dict into memory: lrplan-weights (release)
# vs torch.load in Python, same file, same machine, page cache warm for both.
#
# Usage: crates/weights/bench/read_vs_torch.sh [RUNS] [ROUNDS]   (defaults 11 and 5)
# Python: $LRPLAN_PYTHON, else <workspace>/.venv/bin/python (needs torch).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
runs="${1:-11}"
rounds="${2:-5}"
# The one way the scripts find Python: $LRPLAN_PYTHON, else the project's .venv.
# shellcheck source-path=SCRIPTDIR source=../../../scripts/lib.sh
source "$root/scripts/lib.sh"
need_python
py="$LRPLAN_PYTHON"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
file="$work/resnet50_like.pt"
"$py" "$here/make_resnet50_like.py" "$file"

(cd "$root" && cargo build --quiet --release -p lrplan-weights --example read_bench)

cat >"$work/torch_load.py" <<'PY'
import statistics, sys, time
import torch
path, runs = sys.argv[1], int(sys.argv[2])
torch.load(path)  # warm-up
wall, cpu = [], []
for _ in range(runs):
    c, t = time.process_time(), time.perf_counter()
    sd = torch.load(path)
    wall.append((time.perf_counter() - t) * 1e3)
    cpu.append((time.process_time() - c) * 1e3)
    del sd
print(f"{statistics.median(wall):.2f} {sum(cpu) / len(cpu):.1f}")
PY

# Alternate the two readers so that both see the same background load; each round
# reports a median, and the summary takes the median over rounds.
ours_w=(); ours_c=(); torch_w=(); torch_c=()
for round in $(seq "$rounds"); do
  # $(...) waits for the process to exit, so one reader's teardown (torch's takes a
  # while) never overlaps the other's measurement.
  out="$("$CARGO_TARGET_DIR/release/examples/read_bench" "$file" "$runs" 2>/dev/null)"
  read -r w c <<<"$out"
  ours_w+=("$w"); ours_c+=("$c")
  out="$("$py" "$work/torch_load.py" "$file" "$runs")"
  read -r w c <<<"$out"
  torch_w+=("$w"); torch_c+=("$c")
  echo "round $round: lrplan-weights ${ours_w[-1]} ms (CPU ${ours_c[-1]}), torch.load ${torch_w[-1]} ms (CPU ${torch_c[-1]})"
done

echo "file:           $(du -h "$file" | cut -f1) ($(basename "$file"), 161 f32 tensors)"
echo "machine:        $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), torch $("$py" -c 'import torch; print(torch.__version__)')"
"$py" - "$rounds" "$runs" "${ours_w[*]}" "${ours_c[*]}" "${torch_w[*]}" "${torch_c[*]}" <<'PY'
import statistics, sys
rounds, runs = sys.argv[1], sys.argv[2]
ow, oc, tw, tc = (statistics.median(map(float, a.split())) for a in sys.argv[3:7])
print(f"lrplan-weights: {ow:.1f} ms wall, {oc:.1f} ms CPU per read (median of {rounds} rounds x {runs} reads)")
print(f"torch.load:     {tw:.1f} ms wall, {tc:.1f} ms CPU per read (median of {rounds} rounds x {runs} reads)")
print(f"ratio:          torch.load / lrplan-weights = {tw / ow:.2f}x wall, {tc / oc:.2f}x CPU")
PY
