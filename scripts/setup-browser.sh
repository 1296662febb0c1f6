#!/usr/bin/env bash
# Install what the dashboard's browser test (tests/test_dashboard_browser.py) needs. Idempotent.
#   - Debian's chromium (headless Chromium at /usr/bin/chromium), when missing
#   - the Python `playwright` package into ./.venv, which drives that Chromium (executable_path)
# Never runs `playwright install`: no browser build is downloaded, Debian's chromium is the browser.
set -euo pipefail
cd "$(dirname "$0")/.."
PLAYWRIGHT_VERSION="${LEANOPS_PLAYWRIGHT_VERSION:-1.65.2}"
CHROMIUM="${LEANOPS_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
fi
bash scripts/setup.sh
if ! .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('playwright') != '$PLAYWRIGHT_VERSION')" \
     2>/dev/null; then
  .venv/bin/python -m pip install --quiet "playwright==$PLAYWRIGHT_VERSION"
fi
