#!/usr/bin/env bash
# Quickstart 2: set up, then run the whole test suite. Exit code is pytest's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -n 2 -p no:cacheprovider "$@"
