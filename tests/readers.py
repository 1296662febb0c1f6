"""Independent Iceberg readers of a lean-ops deployment, and an order-free comparison of what they read.

lean-ops writes Iceberg pieces PyIceberg has no API for (position deletes, rewrite commits); a test
proves them with readers that share no code or state with the writer:

    live = ctx.lake.curated_table("events").scan().to_arrow()
    assert_same_rows(live, read_pyiceberg_fresh(ctx.settings.home, "curated.events"), ("live", "fresh"))
    assert table_checksum(live) == table_checksum(read_duckdb_iceberg(ctx.settings.home, "curated.events"))

- `read_pyiceberg_fresh`: a new Python process opens a new `SqlCatalog` on `<home>/catalog.db`;
- `read_duckdb_iceberg`: DuckDB 1.5.5 + its iceberg extension in `.venv-duckdb-iceberg`
  (scripts/setup-duckdb-iceberg.sh) scans the table's current metadata.json, found in the catalog's
  SQLite `iceberg_tables` table; mark such tests `@requires_duckdb_iceberg`, the `duckdb_iceberg` tier
  (tests/tiers.py: skipped with the reason when not set up, failed under LEANOPS_REQUIRE_ALL_TIERS=1);
- `read_spark`: the project's Spark session (Iceberg JdbcCatalog on the same SQLite file); only in
  tests marked `spark`.

Every reader hands its rows back through a file (Arrow IPC or Parquet) in a temporary directory.
`table_checksum` and `assert_same_rows` compare values, not Arrow types: string vs large_string,
timestamp units and UTC spellings, decimal precision and float32 vs float64 are normalised away, but
a naive timestamp never equals a zoned one.
"""
from __future__ import annotations

import base64
import collections
import datetime as dt
import decimal
import hashlib
import json
import math
import os
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from leanops.config import CATALOG_NAME

ROOT = Path(__file__).resolve().parents[1]
DUCKDB_VENV = ROOT / ".venv-duckdb-iceberg"  # made by scripts/setup-duckdb-iceberg.sh
DUCKDB_PYTHON = DUCKDB_VENV / "bin" / "python"
DUCKDB_SETUP = "bash scripts/setup-duckdb-iceberg.sh"
READ_TIMEOUT_S = 120  # a hung reader fails the test instead of hanging the run; no test waits on it
DIFF_ROWS = 10  # rows of each side shown when two reads differ

requires_duckdb_iceberg = pytest.mark.duckdb_iceberg

_PYICEBERG_READ = """
import sys
import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
catalog_name, uri, warehouse, ident, out = sys.argv[1:]
table = SqlCatalog(catalog_name, uri=uri, warehouse=warehouse).load_table(ident).scan().to_arrow()
with pa.OSFile(out, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
    writer.write_table(table)
"""

# Runs in .venv-duckdb-iceberg: no pyarrow there, so DuckDB writes the rows as Parquet itself. The
# extensions load from the files the PyPI packages ship: autoloading would go to the network.
_DUCKDB_READ = """
import pathlib, sys
import duckdb, duckdb_extension_avro, duckdb_extension_iceberg
metadata, out = sys.argv[1:]
con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
con.execute("SET TimeZone = 'UTC'")
for module in (duckdb_extension_avro, duckdb_extension_iceberg):
    [path] = pathlib.Path(module.__file__).parent.glob(f"extensions/v{duckdb.__version__}/*.duckdb_extension")
    con.execute(f"LOAD '{path}'")
quote = lambda text: "'" + text.replace("'", "''") + "'"
con.execute(f"COPY (SELECT * FROM iceberg_scan({quote(metadata)})) TO {quote(out)} (FORMAT parquet)")
"""


class ReaderError(AssertionError):
    """An independent reader failed; the message carries its stderr."""


# --- readers ---------------------------------------------------------------------------------------

def read_pyiceberg_fresh(home: str | Path, ident: str) -> pa.Table:
    """`ident` ("curated.events") as a new PyIceberg in a new process reads it: no cached table or FileIO."""
    home = Path(home).absolute()
    with tempfile.TemporaryDirectory(prefix="leanops-read-") as tmp:
        out = Path(tmp) / "rows.arrow"
        env = {**os.environ, "PYICEBERG_HOME": tmp}  # no ~/.pyiceberg.yaml of the developer
        _run([sys.executable, "-c", _PYICEBERG_READ, CATALOG_NAME, f"sqlite:///{home / 'catalog.db'}",
              (home / "warehouse").as_uri(), ident, str(out)], f"fresh PyIceberg read of {ident}", env)
        with pa.memory_map(str(out)) as source:
            return pa.ipc.open_file(source).read_all()


def read_duckdb_iceberg(home: str | Path, ident: str) -> pa.Table:
    """`ident` as DuckDB's `iceberg_scan` reads its current metadata.json (position deletes applied)."""
    if not DUCKDB_PYTHON.is_file():
        raise ReaderError(f"DuckDB iceberg reader not installed ({DUCKDB_PYTHON} missing); run {DUCKDB_SETUP}")
    metadata = metadata_location(home, ident)
    with tempfile.TemporaryDirectory(prefix="leanops-read-") as tmp:
        out = Path(tmp) / "rows.parquet"
        _run([str(DUCKDB_PYTHON), "-c", _DUCKDB_READ, metadata, str(out)],
             f"DuckDB iceberg_scan of {ident} ({metadata})")
        return pq.read_table(out)


def read_spark(home: str | Path, ident: str) -> pa.Table:
    """`ident` as the project's Spark session (Iceberg JdbcCatalog on the same catalog.db) reads it."""
    from leanops.config import Settings
    from leanops.engines.spark import spark_session
    spark = spark_session(Settings.from_env(Path(home).absolute()))
    # Parquet's INT96 (Spark's default) would drop the UTC adjustment flag; micros keep it and the unit
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    with tempfile.TemporaryDirectory(prefix="leanops-read-") as tmp:
        out = Path(tmp) / "rows"
        spark.table(f"{CATALOG_NAME}.{ident}").write.parquet(out.as_uri())
        return pq.read_table(out)  # part files only: _SUCCESS and .crc files are skipped


def metadata_location(home: str | Path, ident: str) -> str:
    """The current metadata.json of `ident` as the SQL catalog records it (`iceberg_tables`)."""
    namespace, _, name = ident.rpartition(".")
    db = Path(home) / "catalog.db"
    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT metadata_location FROM iceberg_tables WHERE catalog_name = ? AND "
                           "table_namespace = ? AND table_name = ?", (CATALOG_NAME, namespace, name)).fetchone()
    if row is None or not row[0]:
        raise ReaderError(f"{ident}: no table in catalog {CATALOG_NAME!r} of {db}")
    return row[0]


def _run(command: list[str], what: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=READ_TIMEOUT_S)
    if done.returncode != 0:
        raise ReaderError(f"{what} failed (exit {done.returncode}):\n{done.stderr.strip()[-4000:]}")


# --- comparison -----------------------------------------------------------------------------------

def table_checksum(table: pa.Table) -> str:
    """sha256 over the column names and the multiset of rows: row order, column order and Arrow
    types that mean the same value do not change it.

    >>> a = pa.table({"k": pa.array(["x", "y"], pa.large_string()), "n": pa.array([1, 2], pa.int32())})
    >>> b = pa.table({"n": pa.array([2, 1], pa.int64()), "k": ["y", "x"]})
    >>> table_checksum(a) == table_checksum(b)
    True
    """
    digest = hashlib.sha256(json.dumps(sorted(table.column_names)).encode())
    for row in sorted(hashlib.sha256(row.encode()).digest() for row in canonical_rows(table)):
        digest.update(row)
    return digest.hexdigest()


def canonical_rows(table: pa.Table) -> list[str]:
    """Each row as one JSON text of its canonical values, columns in name order."""
    names = sorted(table.column_names)
    columns = [_canonical_column(table.column(name)) for name in names]
    return [json.dumps(values, separators=(",", ":")) for values in zip(*columns)] if names else []


def assert_same_rows(a: pa.Table, b: pa.Table, labels: tuple[str, str] = ("a", "b")) -> None:
    """`a` and `b` hold the same columns (by name) and the same rows (as a multiset, any order).

    Raises:
        AssertionError: naming the missing columns, or the rows only one side has (with counts).
    """
    left, right = labels
    if set(a.column_names) != set(b.column_names):
        raise AssertionError(f"columns differ: only in {left}: {sorted(set(a.column_names) - set(b.column_names))}, "
                             f"only in {right}: {sorted(set(b.column_names) - set(a.column_names))}")
    rows_a, rows_b = collections.Counter(canonical_rows(a)), collections.Counter(canonical_rows(b))
    if rows_a == rows_b:
        return
    names = sorted(a.column_names)
    lines = [f"rows differ: {left} has {a.num_rows}, {right} has {b.num_rows}; columns {names}"]
    for label, extra in ((left, rows_a - rows_b), (right, rows_b - rows_a)):
        lines.append(f"  only in {label} ({sum(extra.values())}):")
        for row, count in sorted(extra.items())[:DIFF_ROWS]:
            lines.append(f"    {row}" + (f"  x{count}" if count > 1 else ""))
        if len(extra) > DIFF_ROWS:
            lines.append(f"    ... {len(extra) - DIFF_ROWS} more")
    raise AssertionError("\n".join(lines))


def _canonical_column(column: pa.ChunkedArray) -> list:
    kind = column.type
    if pa.types.is_timestamp(kind):  # one unit; every UTC spelling is "UTC" (raises on lost precision)
        column = pc.cast(column, pa.timestamp("us", "UTC" if kind.tz else None))
    elif pa.types.is_float32(kind):  # float32 -> float64 is exact, so both sides print the same digits
        column = pc.cast(column, pa.float64())
    return [_canonical_value(value) for value in column.to_pylist()]


def _canonical_value(value):
    """A JSON value that two readers agree on exactly when the Iceberg values are equal."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)  # NaN/inf: valid JSON as strings
    if isinstance(value, decimal.Decimal):  # value, not scale or precision: 12.50 == 12.5
        return "dec:" + ("0" if value.is_zero() else format(value.normalize(), "f"))
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return "tstz:" + value.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds")
        return "ts:" + value.isoformat(timespec="microseconds")
    if isinstance(value, (dt.date, dt.time)):
        return f"{type(value).__name__}:{value.isoformat()}"
    if isinstance(value, uuid.UUID):
        return "bin:" + base64.b16encode(value.bytes).decode()
    if isinstance(value, (bytes, bytearray)):
        return "bin:" + base64.b16encode(bytes(value)).decode()
    if isinstance(value, dict):  # struct: fields by name
        return {key: _canonical_value(item) for key, item in sorted(value.items())}
    if isinstance(value, list):  # list, or map as [(key, value)]: maps compare as sets of entries
        items = [_canonical_value(list(item) if isinstance(item, tuple) else item) for item in value]
        return sorted(items, key=json.dumps) if value and isinstance(value[0], tuple) else items
    raise TypeError(f"no canonical form for {type(value).__name__}: {value!r}")
