#!/usr/bin/env bash
# Install what the Spark engine needs on top of scripts/setup.sh. Idempotent.
#   - Debian's SQLite JDBC driver, so Spark's Iceberg JdbcCatalog opens the SQLite catalog PyIceberg uses
#   - the [spark] extra (pyspark 3.5 + the Iceberg Spark runtime jar from PyPI) into ./.venv
# Needs Java 17 to run (Debian: openjdk-17-jre-headless; tests/tiers.py checks it). Never downloads from Maven.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/steps.sh
step spark "Spark tier: PySpark, the Iceberg Spark runtime, Debian's SQLite JDBC driver"
SQLITE_JDBC_JAR="${LEANOPS_SQLITE_JDBC_JAR:-/usr/share/java/sqlite-jdbc.jar}"
changed=0
if [ ! -f "$SQLITE_JDBC_JAR" ]; then
  apt_install libxerial-sqlite-jdbc-java
  changed=1
fi
ensure_venv
stamp=.venv/.leanops-spark-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  quietly .venv/bin/python -m pip install --disable-pip-version-check -e '.[dev,aws,spark]'
  touch "$stamp"
  changed=1
fi
what="PySpark $(version pyspark), Iceberg Spark runtime package $(version snowpark-connect-deps-iceberg), SQLite JDBC driver at $SQLITE_JDBC_JAR"
if [ "$changed" = 1 ]; then result "installed: $what"; else result "already set up: $what"; fi
