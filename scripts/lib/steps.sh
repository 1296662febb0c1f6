# Sourced by scripts/setup*.sh and scripts/test.sh. Each setup step prints a heading and a one-line result;
# what apt-get, pip and npm print goes to the step's log, test-artifacts/setup/<step>.log (replaced on each
# run), shown only when the step fails.

LEANOPS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SETUP_LOGS="$LEANOPS_ROOT/test-artifacts/setup"
PYTHON="${PYTHON:-python3}"
STEP_LOG=/dev/null

# step NAME "heading": start a step whose tools log to $SETUP_LOGS/NAME.log
step() {
  mkdir -p "$SETUP_LOGS"
  STEP_LOG="$SETUP_LOGS/$1.log"
  : >"$STEP_LOG"
  printf '==> %s\n' "$2"
}

# result "what is there now": the step's one-line result
result() {
  printf '    ok: %s\n' "$1"
}

# fail "what went wrong and how to fix it": the step's one-line failure; ends the script
fail() {
  printf '    FAILED: %s\n' "$1" >&2
  exit 1
}

# quietly CMD...: run CMD with its output in the step's log; when it fails, say so and show the log's end
quietly() {
  local status=0
  printf '\n$ %s\n' "$*" >>"$STEP_LOG"
  "$@" >>"$STEP_LOG" 2>&1 </dev/null || status=$?
  if [ "$status" != 0 ]; then
    printf '    FAILED: `%s` exited %s; its output is in %s, which ends:\n' "$*" "$status" "${STEP_LOG#"$LEANOPS_ROOT/"}" >&2
    tail -n 15 "$STEP_LOG" | sed 's/^/      | /' >&2
    exit 1
  fi
}

# as_root CMD...: CMD as root (directly, or through sudo, which may ask for a password on the terminal)
as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  else
    sudo "$@"
  fi
}

# apt_install PACKAGE...: Debian/Ubuntu packages, installed quietly as root
apt_install() {
  command -v apt-get >/dev/null || fail "$* must be installed, and there is no apt-get here (not Debian or Ubuntu): install it by hand"
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
    fail "installing $* needs root: run this script as root (or install sudo), or install $* by hand"
  fi
  quietly as_root apt-get update -q
  quietly as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

# require_python: the Python that creates the venvs is 3.10 or later and can create them
require_python() {
  command -v "$PYTHON" >/dev/null \
    || fail "Python 3.10 or later is needed as \`$PYTHON\` (Debian/Ubuntu: apt-get install python3 python3-venv; or set PYTHON=/path/to/python3)"
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || fail "lean-ops needs Python 3.10 or later, and \`$PYTHON\` is $("$PYTHON" -V 2>&1): set PYTHON=/path/to/python3.10-or-later"
  "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null \
    || fail "\`$PYTHON\` cannot create virtual environments (Debian/Ubuntu: apt-get install python3-venv)"
}

# version PACKAGE [PYTHON]: the installed version of a Python distribution
version() {
  "${2:-.venv/bin/python}" -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$1" 2>/dev/null || echo "?"
}

# ensure_venv: ./.venv with lean-ops (editable) and the dev and aws extras; sets VENV_CHANGED=1 when it installed
ensure_venv() {
  VENV_CHANGED=0
  if [ ! -x .venv/bin/python ]; then
    require_python
    quietly "$PYTHON" -m venv .venv
  fi
  local stamp=.venv/.leanops-installed
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    quietly .venv/bin/python -m pip install --disable-pip-version-check --upgrade pip
    quietly .venv/bin/python -m pip install --disable-pip-version-check -e '.[dev,aws]'
    touch "$stamp"
    VENV_CHANGED=1
  fi
}
