#!/usr/bin/env bash
# Create ./.venv (once) and install lean-ops into it with the test tools (the dev and aws extras). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/steps.sh
step setup "Python environment: lean-ops in .venv"
ensure_venv
what="lean-ops $(version lean-ops) on Python $(.venv/bin/python -c 'import platform; print(platform.python_version())') in .venv"
if [ "$VENV_CHANGED" = 1 ]; then result "installed $what"; else result "already set up: $what"; fi
