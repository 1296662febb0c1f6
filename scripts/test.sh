#!/usr/bin/env bash
# Quickstart 2: check what each test tier needs (tests/tiers.py), set up every tier this machine can run,
# then run the whole suite. A tier whose prerequisite is missing is skipped, with one line naming what is
# missing and how to get it; LEANOPS_REQUIRE_ALL_TIERS=1 (.ci/run sets it) makes that an error instead.
# The setup steps' own output is in test-artifacts/setup/. Arguments go to pytest; the exit code is pytest's.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/steps.sh
require_python
tiers="$("$PYTHON" tests/tiers.py preflight)"  # the table on stderr; here, the tiers that can run
can_run() { grep -qx "$1" <<<"$tiers"; }
bash scripts/setup.sh
if can_run spark; then bash scripts/setup-spark.sh; fi
if can_run asl; then bash scripts/setup-asl.sh; fi
if can_run checkov; then bash scripts/setup-checkov.sh; fi
if can_run browser; then bash scripts/setup-browser.sh; fi
if can_run duckdb_iceberg; then bash scripts/setup-duckdb-iceberg.sh; fi
echo "==> Tests: pytest on 2 workers, a line per finished file; skip reasons and the time per tier at the end"
exec .venv/bin/python -m pytest -n 2 -p no:cacheprovider -rfEs --progress-by-file "$@"
