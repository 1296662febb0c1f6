#!/usr/bin/env bash
# Install an independent Iceberg reader for tests/readers.py into its own venv, ./.venv-duckdb-iceberg:
# DuckDB 1.5.5 with its iceberg and avro extensions. The project's .venv pins another DuckDB, and the
# reader must not share code with the writer. Needs only PyPI: the extensions come as the packages
# duckdb-extension-iceberg / duckdb-extension-avro, whose .duckdb_extension files tests/readers.py
# LOADs by path (nothing is fetched when DuckDB runs). Idempotent: a stamp names the pinned versions.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/steps.sh
DUCKDB_VERSION=1.5.5
VENV=.venv-duckdb-iceberg
PACKAGES=("duckdb==$DUCKDB_VERSION" "duckdb-extension-iceberg==$DUCKDB_VERSION"
          "duckdb-extension-avro==$DUCKDB_VERSION")
stamp="$VENV/.leanops-duckdb-iceberg-installed"
step duckdb-iceberg "duckdb_iceberg tier: DuckDB's own Iceberg reader in its own venv (.venv-duckdb-iceberg)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${PACKAGES[*]}" ] && [ -x "$VENV/bin/python" ]; then
  result "already set up: DuckDB $DUCKDB_VERSION with the iceberg and avro extensions in $VENV"
  exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
  require_python
  quietly "$PYTHON" -m venv "$VENV"
fi
quietly "$VENV/bin/python" -m pip install --disable-pip-version-check "${PACKAGES[@]}"
# fail here, not in a test, when the extensions do not load from the installed files
quietly "$VENV/bin/python" -c '
import pathlib, duckdb, duckdb_extension_avro, duckdb_extension_iceberg
con = duckdb.connect()
for module in (duckdb_extension_avro, duckdb_extension_iceberg):
    [path] = pathlib.Path(module.__file__).parent.glob(f"extensions/v{duckdb.__version__}/*.duckdb_extension")
    con.execute(f"LOAD {str(path)!r}")
'
echo "${PACKAGES[*]}" >"$stamp"
result "installed DuckDB $DUCKDB_VERSION with the iceberg and avro extensions in $VENV"
