"""Write Iceberg data files straight from a DuckDB query: COPY ... TO Parquet, then register them.

DuckDB writes Parquet on every core, with Iceberg field ids (FIELD_IDS) and one directory per day
partition (PARTITION_BY); PyIceberg reads each footer back into a DataFile (stats, partition). This
is the embedded engine's write path for local warehouses; remote warehouses use the Arrow writer.
"""
from __future__ import annotations

import dataclasses
import os
import re
import uuid

import duckdb
from pyiceberg.io.pyarrow import parquet_file_to_data_file
from pyiceberg.manifest import DataFile
from pyiceberg.table import Transaction
from pyiceberg.types import (
    BooleanType, DateType, DecimalType, DoubleType, FloatType, IcebergType, IntegerType, LongType, StringType,
    TimestampType, TimestamptzType,
)

from leanops.catalog.tables import local_path

_SAFE_NAME = re.compile(r"^\w+$")


def supports(location: str) -> bool:
    """DuckDB writes the files itself only where it can: a local warehouse."""
    return location.startswith("file://") or location.startswith("/")


def _checked(name: str) -> str:
    if not _SAFE_NAME.match(name):
        raise ValueError(f"unsafe column name {name!r}")
    return name


PARALLEL_ROWS = 250_000  # below this a batch is one file: more would only be small files to compact later


def copy_select(con: duckdb.DuckDBPyConnection, txn: Transaction, select_sql: str, provided: set[str],
                rows: int | None = None) -> "Written":
    """Run `select_sql` (columns named as the table's) into data files of an unpartitioned table: one per
    thread so COPY runs on every core when the batch has at least PARALLEL_ROWS `rows` (or is of unknown
    size), else a single file sized for the batch.

    `provided` names the query's columns; the table's other columns are written as NULL. The query's
    column order does not matter.
    """
    metadata = txn.table_metadata
    schema = metadata.schema()
    if not metadata.spec().is_unpartitioned():
        raise ValueError("the DuckDB writer writes unpartitioned tables only; use the Arrow writer")
    out_dir = os.path.join(local_path(metadata.location), "data", f"leanops-{uuid.uuid4().hex}")
    os.makedirs(out_dir, exist_ok=True)
    columns = [f'"{_checked(f.name)}"' if f.name in provided
               else f'CAST(NULL AS {duck_type(f.field_type)}) AS "{_checked(f.name)}"' for f in schema.fields]
    field_ids = ", ".join(f"'{_checked(f.name)}': {f.field_id}" for f in schema.fields)
    projection = ", ".join(columns)
    # snappy: DuckDB writes zstd at about half the speed
    options = ["FORMAT parquet", f"FIELD_IDS {{{field_ids}}}", "COMPRESSION snappy", "RETURN_STATS true"]
    target = out_dir
    if rows is None or rows >= PARALLEL_ROWS:
        options += ["PER_THREAD_OUTPUT true", "FILENAME_PATTERN 'part-{i}'"]
    else:
        target = os.path.join(out_dir, "part-0.parquet")
    stats = con.execute(f"COPY (SELECT {projection} FROM ({select_sql})) TO '{_literal(target)}' "
                        f"({', '.join(options)})").fetchall()
    paths = sorted(os.path.join(d, f) for d, _, names in os.walk(out_dir) for f in names if f.endswith(".parquet"))
    files = [parquet_file_to_data_file(txn._table.io, metadata, "file://" + p) for p in paths]
    return Written(files, _column_maxima(stats))


@dataclasses.dataclass(frozen=True)
class Written:
    files: list[DataFile]
    column_max: dict[str, str]  # per column, the greatest value DuckDB saw (first characters exact)


def _column_maxima(stats: list[tuple]) -> dict[str, str]:
    """Per column, the max over the files COPY wrote (its RETURN_STATS rows)."""
    maxima: dict[str, str] = {}
    for row in stats:
        for quoted, column in (row[4] or {}).items():
            name, value = quoted.strip('"'), column.get("max")
            if value is not None and (name not in maxima or value > maxima[name]):
                maxima[name] = value
    return maxima


def duck_type(iceberg_type: IcebergType) -> str:
    """DuckDB type of an Iceberg primitive type."""
    if isinstance(iceberg_type, DecimalType):
        return f"DECIMAL({iceberg_type.precision}, {iceberg_type.scale})"
    for kind, name in _DUCK_TYPES:
        if isinstance(iceberg_type, kind):
            return name
    raise ValueError(f"no DuckDB type for Iceberg type {iceberg_type}")


_DUCK_TYPES = ((StringType, "VARCHAR"), (LongType, "BIGINT"), (IntegerType, "INTEGER"), (DoubleType, "DOUBLE"),
               (FloatType, "FLOAT"), (BooleanType, "BOOLEAN"), (DateType, "DATE"),
               (TimestamptzType, "TIMESTAMPTZ"), (TimestampType, "TIMESTAMP"))


def _literal(text: str) -> str:
    return text.replace("'", "''")
