#!/usr/bin/env bash
# Builds the native trainer (`trainer` binary of crate lrplan-trainer) against the libtorch
# shipped inside the project's PyTorch wheel. Idempotent: the venv is created and filled only
# when a quick import says something is missing; cargo rebuilds only what changed.
#
#   scripts/build-trainer.sh            # release build
#   CARGO_TARGET_DIR=/tmp/t scripts/build-trainer.sh
#
# Its one line of standard output names the binary: `trainer binary: PATH`; the other scripts
# take the path from it (cargo's own output goes to standard error).
#
# Nothing is downloaded by tch itself: LIBTORCH_USE_PYTORCH=1 makes torch-sys ask the venv's
# python where libtorch lives.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${LRPLAN_VENV:-$repo/.venv}"

if ! "$venv/bin/python" -c 'import torch, numpy, sklearn, safetensors' >/dev/null 2>&1; then
    echo "build-trainer: setting up $venv (torch==2.11.0 numpy scikit-learn safetensors)" >&2
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet torch==2.11.0 numpy scikit-learn safetensors
fi

# torch-sys runs `python` when VIRTUAL_ENV is set; put the venv first so it is that one.
export VIRTUAL_ENV="$venv"
export PATH="$venv/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1

cd "$repo"
cargo build --release -p lrplan-trainer "$@"
target="${CARGO_TARGET_DIR:-$repo/target}"
echo "trainer binary: $target/release/trainer"
