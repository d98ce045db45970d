#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this and nothing else). Installs what it
# needs first (scripts/setup.sh), so it works on a fresh machine. Exits non-zero on the first
# failure; nothing is skipped.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

scripts/setup.sh

# The trainer links the libtorch inside the venv's torch package.
libtorch_env

step "format and lints"
cargo fmt --all -- --check
shellcheck -x scripts/*.sh crates/weights/bench/*.sh
cargo clippy --workspace --exclude lrplan-trainer --all-targets -- -D warnings
# Release, like the trainer's build and tests: libtorch's C++ glue is compiled once per profile.
cargo clippy --release -p lrplan-trainer --all-targets -- -D warnings
cargo clippy -p lrplan-web --target wasm32-unknown-unknown -- -D warnings

step "the schedule core builds for wasm32 without std or default features"
cargo build -q -p lrplan-schedule --target wasm32-unknown-unknown --no-default-features

step "correctly rounded cos and pow: a million arguments each against mpmath (release)"
# Not part of the plain `cargo test` (Cargo.toml: test = false): in a debug build the exact
# fallback takes minutes over the hard cases. The first run generates the reference (2 min).
cargo test --release -p lrplan-schedule --test crmath_reference

step "unit, property and CLI tests (schedule, cli, weights, web natively)"
cargo test --workspace --exclude lrplan-trainer

step "Python package: a PyTorch loop's lrs equal \`lrplan --format csv\`, bit for bit (pytest)"
# The package was built into .venv by the set-up (ensure_python_package); the tests build the CLI.
PYTHONDONTWRITEBYTECODE=1 "$LRPLAN_PYTHON" -m pytest -q crates/python/tests

step "web: wasm-bindgen tests in Node, browser end-to-end in Chromium"
scripts/test-web.sh

step "trainer"
scripts/test-trainer.sh

step "end to end: the curve planned in the browser is the curve trained"
scripts/test-e2e.sh

echo
echo "all tests passed"
