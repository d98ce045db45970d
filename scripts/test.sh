#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this and nothing else). Installs what it
# needs first (scripts/setup.sh), so it works on a fresh machine. Exits non-zero on the first
# failure; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/setup.sh

# The trainer links the libtorch inside the venv's torch package.
export LIBTORCH_USE_PYTORCH=1
export PATH="$root/.venv/bin:$PATH"
export LRPLAN_PYTHON="$root/.venv/bin/python"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --exclude lrplan-trainer --all-targets -- -D warnings
# Release, like the trainer's build and tests: libtorch's C++ glue is compiled once per profile.
VIRTUAL_ENV="$root/.venv" cargo clippy --release -p lrplan-trainer --all-targets -- -D warnings
cargo clippy -p lrplan-web --target wasm32-unknown-unknown -- -D warnings

step "the schedule core builds for wasm32 without std or default features"
cargo build -q -p lrplan-schedule --target wasm32-unknown-unknown --no-default-features

step "unit, property and CLI tests (schedule, cli, weights, web natively)"
cargo test --workspace --exclude lrplan-trainer

step "web: wasm-bindgen tests in Node, browser end-to-end in Chromium"
scripts/test-web.sh

step "trainer"
scripts/test-trainer.sh

step "end to end: the curve planned in the browser is the curve trained"
scripts/test-e2e.sh

echo
echo "all tests passed"
