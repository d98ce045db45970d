#!/usr/bin/env bash
# Installs everything lrplan needs on a fresh Debian machine with rustup, Python 3 and Node.
# Idempotent: each step checks before it installs, so a second run takes seconds.
#
#   - Debian: chromium + chromium-driver (browser tests), binaryen (wasm-opt)
#   - Rust:   the wasm32-unknown-unknown target, wasm-bindgen-cli pinned to the crate's version
#   - Python: a project-local venv (.venv) with torch 2.11.0 (the libtorch that tch 0.24 links),
#             numpy, scikit-learn (the digits data set), safetensors
#   - npm:    playwright-core for the browser tests (it drives the system Chromium)
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130
TORCH_VERSION=2.11.0

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
command -v wasm-opt >/dev/null || need_apt+=(binaryen)
if ((${#need_apt[@]})); then
    say "apt-get install ${need_apt[*]}"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
fi

if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
    say "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
    # No --locked: one of its locked dependencies is not in the registry.
    cargo install -q wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

if ! .venv/bin/python -c "import torch, numpy, sklearn, safetensors; assert torch.__version__.startswith('$TORCH_VERSION')" 2>/dev/null; then
    say "python venv .venv with torch==$TORCH_VERSION (about 4.6 GB, once)"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check \
        "torch==$TORCH_VERSION" numpy scikit-learn safetensors
fi

if [ -f tests/browser/package-lock.json ] && [ ! -d tests/browser/node_modules ]; then
    say "npm ci (tests/browser)"
    (cd tests/browser && npm ci --silent --no-audit --no-fund)
fi

say "ready"
