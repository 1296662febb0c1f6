#!/usr/bin/env bash
# Install what the Spark engine needs on top of scripts/setup.sh. Idempotent.
#   - Debian's SQLite JDBC driver, so Spark's Iceberg JdbcCatalog opens the SQLite catalog PyIceberg uses
#   - the [spark] extra (pyspark 3.5 + the Iceberg Spark runtime jar from PyPI) into ./.venv
# Needs Java 17 on PATH (Debian: openjdk-17-jre-headless). Never downloads from Maven.
set -euo pipefail
cd "$(dirname "$0")/.."
SQLITE_JDBC_JAR="${LEANOPS_SQLITE_JDBC_JAR:-/usr/share/java/sqlite-jdbc.jar}"
if [ ! -f "$SQLITE_JDBC_JAR" ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q libxerial-sqlite-jdbc-java
fi
bash scripts/setup.sh
stamp=.venv/.leanops-spark-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet -e '.[dev,spark,aws]'
  touch "$stamp"
fi
