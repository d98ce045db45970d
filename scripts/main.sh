#!/usr/bin/env bash
# The main job, from a fresh clone: set up, build the planner page, print the default plan,
# then the default transfer-learning run (pre-train on digits 0-4, fine-tune all ten digits
# from that backbone with a frozen phase) and its validation accuracy.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

scripts/setup.sh

step "the planner page"
scripts/build-web.sh
echo "serve it with: python3 -m http.server -d web 8000   (then open http://127.0.0.1:8000/)"

step "the default plan (the original's settings), as the page and the trainer compute it"
cargo run -q --release -p lrplan-cli

step "the default training job: digits, pre-train then fine-tune from the backbone"
scripts/main-job.sh
