#!/usr/bin/env bash
# Quickstart 2: set up (including the Spark tier: PySpark, the Iceberg runtime jar, Debian's SQLite
# JDBC driver), then run the whole test suite. Exit code is pytest's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-spark.sh
exec .venv/bin/python -m pytest -n 2 -p no:cacheprovider "$@"
