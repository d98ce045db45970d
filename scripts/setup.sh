#!/usr/bin/env bash
# Installs everything lrplan needs on a fresh Debian machine with rustup, Python 3 and Node.
# Idempotent: each step checks before it installs (scripts/lib.sh), so a second run takes
# seconds. The other scripts make the same checks for what they use, so each also runs alone.
#
#   - Debian: chromium (browser tests), shellcheck (the scripts' lint), binaryen (wasm-opt)
#   - Rust:   the wasm32-unknown-unknown target, wasm-bindgen-cli at the web crate's version
#   - Python: a project-local venv (.venv) with scripts/requirements.txt: torch 2.11.0 (the
#             libtorch that tch 0.24 links), numpy, scikit-learn (the digits data set), ...
#             and the lrplan package built from crates/python (pip install crates/python)
#   - npm:    tests/browser's playwright-core (it drives the system Chromium)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ensure_apt chromium shellcheck libgloo-dev
ensure_wasm_tools
ensure_venv
ensure_python_package
ensure_npm tests/browser
say "ready"
