#!/usr/bin/env bash
# Install the npm asl-validator (pinned in tools/asl-validator/package-lock.json) that
# tests/test_asl_validator.py runs on every rendered Step Functions definition. Idempotent: a stamp in
# node_modules holds the checksum of the lock file it was installed from.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/steps.sh
step asl "ASL tier: the npm asl-validator (tools/asl-validator)"
cd tools/asl-validator
command -v npm >/dev/null \
  || fail "npm is missing: the ASL tests need Node.js 18 or later with npm (https://nodejs.org; Debian/Ubuntu: apt-get install nodejs npm)"
lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
stamp=node_modules/.leanops-lock-sha256
what() { echo "asl-validator $(node -p 'require("./node_modules/asl-validator/package.json").version') on Node.js $(node --version | tr -d v)"; }
if [ -x node_modules/.bin/asl-validator ] && [ "$(cat "$stamp" 2>/dev/null)" = "$lock_sum" ]; then
  result "already set up: $(what)"
  exit 0
fi
quietly npm ci --no-audit --no-fund
echo "$lock_sum" >"$stamp"
result "installed $(what)"
