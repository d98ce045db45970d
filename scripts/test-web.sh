#!/usr/bin/env bash
# Tests the browser planner: builds it, checks the wasm values against the native schedule
# crate bit for bit (wasm-bindgen-test in Node), then drives the real page in Chromium against
# the native `lrplan` CLI. Exits non-zero on any failure; skips nothing.
#
#   scripts/test-web.sh
#
# Honours CARGO_TARGET_DIR (default: the repository's target/) and LRPLAN_BIN (default: the
# debug `lrplan` built here). Set LRPLAN_WEB_BENCH=1 to also print the redraw benchmark.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$LRPLAN_ROOT/target}

# --- the page (also installs the wasm target, wasm-bindgen-cli and binaryen) ---------------
scripts/build-web.sh

# --- browser and test dependencies ---------------------------------------------------------
ensure_apt chromium
ensure_npm tests/browser

# --- native references: the lrplan CLI on every test plan -----------------------------------
cargo build -p lrplan-cli
LRPLAN_BIN=${LRPLAN_BIN:-$CARGO_TARGET_DIR/debug/lrplan}
export LRPLAN_BIN
REFS="$CARGO_TARGET_DIR/lrplan-web-refs"
rm -rf "$REFS"
mkdir -p "$REFS"
for plan in crates/web/tests/plans/*.toml; do
  name=$(basename "$plan" .toml)
  "$LRPLAN_BIN" --format csv "$plan" >"$REFS/$name.csv"
  "$LRPLAN_BIN" "$plan" >"$REFS/$name.summary"
done

# --- unit tests (native) and wasm-vs-native parity (wasm32 in Node) --------------------------
cargo test -p lrplan-web
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner LRPLAN_WEB_REFS="$REFS" \
  cargo test -p lrplan-web --target wasm32-unknown-unknown --test parity

# --- the page in Chromium --------------------------------------------------------------------
node --test tests/browser/planner.test.mjs
if [ "${LRPLAN_WEB_BENCH:-0}" = 1 ]; then
  node tests/browser/bench.mjs
fi
