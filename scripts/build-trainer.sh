#!/usr/bin/env bash
# Builds the native trainer (`trainer` binary of crate lrplan-trainer) against the libtorch
# shipped inside the project's PyTorch wheel. Idempotent: the venv is filled only when
# scripts/requirements.txt changed (ensure_venv); cargo rebuilds only what changed.
#
#   scripts/build-trainer.sh            # release build
#   CARGO_TARGET_DIR=/tmp/t scripts/build-trainer.sh
#   LRPLAN_PYTHON=/opt/env/bin/python scripts/build-trainer.sh    # another env's torch
#
# Its one line of standard output names the binary: `trainer binary: PATH`; the other scripts
# take the path from it (build_trainer in scripts/lib.sh; cargo's own output goes to standard
# error).
#
# Nothing is downloaded by tch itself: LIBTORCH_USE_PYTORCH=1 makes torch-sys ask the
# project's python where libtorch lives (libtorch_env in scripts/lib.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ensure_venv
# The shim includes c10d's gloo process group, whose headers the torch wheel lacks.
ensure_apt libgloo-dev
libtorch_env
cargo build --release -p lrplan-trainer "$@"
echo "trainer binary: ${CARGO_TARGET_DIR:-$LRPLAN_ROOT/target}/release/trainer"
