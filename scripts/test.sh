#!/usr/bin/env bash
# Quickstart 2: set up (including the Spark tier: PySpark, the Iceberg runtime jar, Debian's SQLite
# JDBC driver; the npm asl-validator; checkov; Debian's chromium + playwright; DuckDB's iceberg reader), then run the whole test suite. Exit code is pytest's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-spark.sh
bash scripts/setup-asl.sh     # npm asl-validator for the Step Functions definitions
bash scripts/setup-checkov.sh # checkov, in its own venv, for infra/terraform
bash scripts/setup-browser.sh # Debian's chromium + playwright for tests/test_dashboard_browser.py
bash scripts/setup-duckdb-iceberg.sh # DuckDB 1.5.5 + iceberg extension, in its own venv, for tests/readers.py
exec .venv/bin/python -m pytest -n 2 -p no:cacheprovider "$@"
