"""DuckDB connections for the embedded engine: UTC, bounded memory, spill directory in the home."""
from __future__ import annotations

import re
from pathlib import Path

import duckdb


def connect(spill_dir: Path | None = None, memory_limit: str = "3GB") -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that interprets zone-less timestamps as UTC and spills beyond `memory_limit`."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'").fetchall()
    con.execute("SET enable_progress_bar = false").fetchall()  # it draws on stdout, which --json owns
    con.execute(f"SET memory_limit = '{_checked_size(memory_limit)}'").fetchall()
    if spill_dir is not None:
        con.execute(f"SET temp_directory = '{_quoted(str(spill_dir))}'").fetchall()
    return con


def arrow(con: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None):
    """Run a query and return its result as one Arrow table (DuckDB 1.x and 2.x spell this differently)."""
    relation = con.sql(sql, params=params)
    if hasattr(relation, "to_arrow_table"):
        return relation.to_arrow_table()
    return relation.fetch_arrow_table()  # pragma: no cover - DuckDB 1.x


def arrow_batches(con: duckdb.DuckDBPyConnection, sql: str, rows_per_batch: int):
    """Stream a query's result as Arrow record batches (bounded memory)."""
    relation = con.sql(sql)
    if hasattr(relation, "to_arrow_reader"):
        return relation.to_arrow_reader(rows_per_batch)
    return relation.fetch_record_batch(rows_per_batch)  # pragma: no cover - DuckDB 1.x


def _checked_size(size: str) -> str:
    if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", size):
        raise ValueError(f"memory limit {size!r} is not a size like 1GB")
    return size


def _quoted(text: str) -> str:
    """A path as the body of a SQL string literal (SET takes no parameters)."""
    return text.replace("'", "''")


def json_kind_sql(expression: str) -> str:
    """SQL turning DuckDB's json_type() of `expression` into a JSON word (number, string, array...)."""
    return (f"CASE {expression} WHEN 'VARCHAR' THEN 'string' WHEN 'ARRAY' THEN 'array' "
            f"WHEN 'OBJECT' THEN 'object' WHEN 'BOOLEAN' THEN 'boolean' WHEN 'NULL' THEN 'null' "
            f"ELSE 'number' END")
