#!/usr/bin/env bash
# Install what the dashboard's browser test (tests/test_dashboard_browser.py) needs. Idempotent.
#   - Debian's chromium (headless Chromium at /usr/bin/chromium), when missing
#   - the Python `playwright` package into ./.venv, which drives that Chromium (executable_path)
# Never runs `playwright install`: no browser build is downloaded, Debian's chromium is the browser.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/steps.sh
PLAYWRIGHT_VERSION="${LEANOPS_PLAYWRIGHT_VERSION:-1.65.2}"
CHROMIUM="${LEANOPS_CHROMIUM:-/usr/bin/chromium}"
step browser "browser tier: Debian's chromium and Playwright for Python"
changed=0
if [ ! -x "$CHROMIUM" ]; then
  apt_install chromium fonts-dejavu-core
  changed=1
fi
ensure_venv
if [ "$(version playwright)" != "$PLAYWRIGHT_VERSION" ]; then
  quietly .venv/bin/python -m pip install --disable-pip-version-check "playwright==$PLAYWRIGHT_VERSION"
  changed=1
fi
what="$("$CHROMIUM" --version 2>/dev/null | head -n 1) at $CHROMIUM, playwright $PLAYWRIGHT_VERSION"
if [ "$changed" = 1 ]; then result "installed: $what"; else result "already set up: $what"; fi
