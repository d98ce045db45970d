#!/usr/bin/env bash
# Issue "end to end": plan in the page (headless Chromium), download, train with the trainer,
# compare the trainer's lr log with the page's table bit for bit; kill and resume one run.
# Builds the page and the trainer first (both idempotent).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

scripts/build-web.sh >/dev/null
bin=$(build_trainer)
ensure_apt chromium
ensure_npm tests/browser

LRPLAN_TRAINER="$bin" node --test tests/e2e/
