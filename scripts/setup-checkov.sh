#!/usr/bin/env bash
# Install checkov (the static policy checker tests/test_terraform.py runs over infra/terraform) into
# its own venv, ./.venv-checkov: checkov pins many dependencies (boto3, pydantic, networkx, ...) that
# would clash with the project's .venv. Idempotent: does nothing when the pinned version is there.
# Needs only PyPI; checkov scans the .tf files offline (no provider downloads).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/steps.sh
CHECKOV_VERSION=3.3.30  # the version the Terraform under infra/terraform was verified with
VENV=.venv-checkov
step checkov "checkov tier: checkov in its own venv (.venv-checkov)"
if [ -x "$VENV/bin/checkov" ] && [ "$(version checkov "$VENV/bin/python")" = "$CHECKOV_VERSION" ]; then
  result "already set up: checkov $CHECKOV_VERSION in $VENV"
  exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
  require_python
  quietly "$PYTHON" -m venv "$VENV"
fi
quietly "$VENV/bin/python" -m pip install --disable-pip-version-check "checkov==$CHECKOV_VERSION"
quietly "$VENV/bin/checkov" --version
result "installed checkov $CHECKOV_VERSION in $VENV"
