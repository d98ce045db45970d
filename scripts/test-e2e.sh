#!/usr/bin/env bash
# Issue "end to end": plan in the page (headless Chromium), download, train with the trainer,
# compare the trainer's lr log with the page's table bit for bit; kill and resume one run.
# Builds the page and the trainer first (both idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build-web.sh >/dev/null
bin=$(scripts/build-trainer.sh | sed -n 's/^trainer binary: //p')
[ -d tests/browser/node_modules ] || (cd tests/browser && npm ci --silent --no-audit --no-fund)

LRPLAN_TRAINER="$bin" node --test tests/e2e/
