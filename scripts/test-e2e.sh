#!/usr/bin/env bash
# Issue "end to end": plan in the page (headless Chromium), download, train with the trainer,
# compare the trainer's lr log with the page's table bit for bit; kill and resume one run.
# Builds the page and the trainer first (both idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}

scripts/build-web.sh >/dev/null
scripts/build-trainer.sh >/dev/null
[ -d tests/browser/node_modules ] || (cd tests/browser && npm ci --silent --no-audit --no-fund)

LRPLAN_TRAINER="$target/release/trainer" node --test tests/e2e/
