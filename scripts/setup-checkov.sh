#!/usr/bin/env bash
# Install checkov (the static policy checker tests/test_terraform.py runs over infra/terraform) into
# its own venv, ./.venv-checkov: checkov pins many dependencies (boto3, pydantic, networkx, ...) that
# would clash with the project's .venv. Idempotent: does nothing when the pinned version is there.
# Needs only PyPI; checkov scans the .tf files offline (no provider downloads).
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKOV_VERSION=3.3.30  # the version the Terraform under infra/terraform was verified with
VENV=.venv-checkov
PYTHON="${PYTHON:-python3}"
if [ -x "$VENV/bin/checkov" ] && [ "$("$VENV/bin/python" -m pip show checkov 2>/dev/null | sed -n 's/^Version: //p')" = "$CHECKOV_VERSION" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
"$VENV/bin/checkov" --version
