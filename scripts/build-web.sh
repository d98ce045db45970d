#!/usr/bin/env bash
# Builds the browser planner into web/pkg/ (wasm + JS glue), optimised for size, and prints
# the gzipped size of everything the page downloads. Idempotent: installs only what is missing
# (the wasm target, wasm-bindgen-cli, binaryen: ensure_wasm_tools in scripts/lib.sh).
#
#   scripts/build-web.sh            # then: python3 -m http.server -d web 8000
#
# Honours CARGO_TARGET_DIR (default: the repository's target/).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
TARGET_DIR=${CARGO_TARGET_DIR:-$LRPLAN_ROOT/target}

ensure_wasm_tools

# --- build -------------------------------------------------------------------------------
# One module: the planner, plan-file reader included (the schedule crate's own TOML reader).
rm -rf web/pkg
WASM="$TARGET_DIR/wasm32-unknown-unknown/wasm/lrplan_web.wasm"
# The `wasm` profile (root Cargo.toml): opt-level "s", fat LTO, one codegen unit.
CARGO_TARGET_DIR=$TARGET_DIR cargo build -p lrplan-web --profile wasm --target wasm32-unknown-unknown
# wasm-opt runs on rustc's output, before wasm-bindgen: Debian's binaryen (108) cannot parse the
# table instructions of wasm-bindgen's externref glue, while rustc's module it optimises fine
# (the exports and custom sections wasm-bindgen reads are kept).
wasm-opt -Oz --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  -o "$TARGET_DIR/lrplan_web.opt.wasm" "$WASM"
wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section \
  --out-name lrplan_web --out-dir web/pkg "$TARGET_DIR/lrplan_web.opt.wasm"

# --- size --------------------------------------------------------------------------------
gz() { # files... -> total gzipped bytes, listing each
  local total=0 n f
  for f in "$@"; do
    n=$(gzip -9 -c "$f" | wc -c)
    total=$((total + n))
    printf '  %-36s %8d bytes gzipped\n' "$f" "$n" >&2
  done
  echo "$total"
}
total=$(gz web/index.html web/style.css web/app.js web/pkg/lrplan_web.js web/pkg/lrplan_web_bg.wasm)
echo "page load total: $total bytes gzipped ($((total / 1024)) KiB; budget 150 KB)"
if [ "$total" -ge 150000 ]; then
  echo "error: the page is over its 150 KB gzipped budget" >&2
  [ "${LRPLAN_WEB_SIZE_CHECK:-1}" = 0 ] || exit 1
fi
