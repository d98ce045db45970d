#!/usr/bin/env bash
# Builds the trainer and runs its test suite (CPU; needs the project venv with torch for the
# parity tests, which fail rather than skip without it).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
scripts/build-trainer.sh
export VIRTUAL_ENV="${LRPLAN_VENV:-$repo/.venv}"
export PATH="$VIRTUAL_ENV/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1
export LRPLAN_PYTHON="${LRPLAN_PYTHON:-$VIRTUAL_ENV/bin/python}"
cargo test --release -p lrplan-trainer "$@"
