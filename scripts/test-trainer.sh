#!/usr/bin/env bash
# Builds the trainer and runs its test suite (CPU; needs the project venv with torch for the
# parity tests, which fail rather than skip without it).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

scripts/build-trainer.sh
libtorch_env
cargo test --release -p lrplan-trainer "$@"
