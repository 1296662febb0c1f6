#!/usr/bin/env bash
# Quickstart 1: set up, then run the end-to-end demo on the embedded default (home: ./.leanops-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/leanops demo "$@"
