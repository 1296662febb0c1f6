#!/usr/bin/env bash
# Installs the npm asl-validator (pinned in tools/asl-validator/package-lock.json) that
# tests/test_asl_validator.py runs on every rendered Step Functions definition. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../tools/asl-validator"
if ! command -v npm >/dev/null; then
  echo "setup-asl: npm is missing (Node.js 18+ is needed for the ASL validation tests)" >&2
  exit 1
fi
if [ ! -x node_modules/.bin/asl-validator ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
