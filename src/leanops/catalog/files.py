"""Iceberg data and delete files as a DuckDB relation, wherever they live (docs/aws-catalog.md).

    register_parquet(con, "batch", files, table.io)
    con.execute("SELECT filename, file_row_number, message_id FROM batch")

The stages join rows to their file (`filename`, the path or URI exactly as passed) and position
(`file_row_number`, 0-based) for ingestion order and position deletes. Local files are read by
DuckDB itself (`read_parquet`, every core, projection pushed down); remote ones (s3://...) by pyarrow
through PyIceberg's FileIO, since DuckDB cannot open them without its httpfs extension: DuckDB only
computes over the Arrow rows.
"""
from __future__ import annotations

import array
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.io import FileIO

FILENAME = "filename"
FILE_ROW_NUMBER = "file_row_number"
REMOTE_READERS = 8  # files fetched at once from an object store
_NAME = re.compile(r"^\w+$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_local(uri: str) -> bool:
    """A path DuckDB opens itself: no scheme, or file:."""
    return uri.startswith("file:") or not _SCHEME.match(uri)


def register_parquet(con: duckdb.DuckDBPyConnection, name: str, uris: Sequence[str], io: FileIO | None = None,
                     columns: Sequence[str] | None = None) -> None:
    """Temp view `name`: the rows of the Parquet files `uris` (by column name, union of the files' columns)
    plus `filename` (the URI as passed) and `file_row_number` (0-based row position in its file).

    `columns` limits the files' columns to those (a column no file has is NULL for the remote reader and
    an error for DuckDB, as before); None keeps them all. Local paths stay DuckDB's lazy `read_parquet`;
    any other URI needs `io`, the table's FileIO, and is read into memory (only `columns`).
    """
    if not _NAME.match(name):
        raise ValueError(f"unsafe relation name {name!r}")
    uris = list(uris)
    columns = None if columns is None else list(dict.fromkeys(columns))  # a merge key may also order
    if not uris:
        raise ValueError("register_parquet needs at least one file")
    if all(is_local(u) for u in uris):
        projection = "*" if columns is None else ", ".join(
            [_ident(c) for c in columns] + [FILENAME, FILE_ROW_NUMBER])
        listed = ", ".join(f"'{_literal(u)}'" for u in uris)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {projection} FROM read_parquet([{listed}], "
                    "filename = true, file_row_number = true, union_by_name = true, hive_partitioning = false)"
                    ).fetchall()
        return
    if io is None:
        raise ValueError(f"reading {uris[0]} needs the table's FileIO")
    rows = read_arrow(uris, io, columns)
    con.execute(f"DROP VIEW IF EXISTS {name}").fetchall()
    con.register(name, rows)


def read_arrow(uris: Sequence[str], io: FileIO, columns: Sequence[str] | None = None) -> pa.Table:
    """The files' rows as one Arrow table (file order, then row order) with `filename` and `file_row_number`."""
    def read(uri: str) -> pa.Table:
        with io.new_input(uri).open(seekable=True) as stream:
            parquet = pq.ParquetFile(stream)
            present = set(parquet.schema_arrow.names)
            wanted = None if columns is None else [c for c in columns if c in present]
            table = parquet.read(columns=wanted, use_threads=True)
        table = table.replace_schema_metadata(None)
        table = table.append_column(FILENAME, pa.repeat(pa.scalar(uri, pa.string()), table.num_rows))
        return table.append_column(FILE_ROW_NUMBER, _positions(table.num_rows))

    if len(uris) == 1:
        parts = [read(uris[0])]
    else:
        with ThreadPoolExecutor(min(REMOTE_READERS, len(uris))) as pool:
            parts = list(pool.map(read, uris))
    rows = pa.concat_tables([_plain(p) for p in parts], promote_options="default")
    for column in columns or ():
        if column not in rows.column_names:  # in no file at all
            rows = rows.add_column(rows.num_columns - 2, column, pa.nulls(rows.num_rows, pa.string()))
    if columns is not None:
        rows = rows.select([*columns, FILENAME, FILE_ROW_NUMBER])
    return rows


def _positions(n: int) -> pa.Array:
    """0..n-1 as int64, built in C (pa.array(range(n)) iterates in Python: 6x slower)."""
    return pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(array.array("q", range(n)))])


_PLAIN = {pa.large_string(): pa.string(), pa.large_binary(): pa.binary()}


def _plain(table: pa.Table) -> pa.Table:
    """One field per name and type whoever wrote the file: no field-id metadata (it differs between schema
    versions), nullable, and string/binary rather than their large forms (writers differ); concat needs
    equal fields, DuckDB sees the same types either way."""
    fields = [pa.field(f.name, _PLAIN.get(f.type, f.type), True) for f in table.schema]
    return table.cast(pa.schema(fields))


def _ident(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"unsafe column name {name!r}")
    return f'"{name}"'


def _literal(text: str) -> str:
    return text.replace("'", "''")


def read_by_field_id_sql(paths: Sequence[str], schema) -> str:
    """SQL of a `read_parquet` over local `paths` whose columns are the Iceberg `schema`'s, matched by field
    id (a column a file lacks reads NULL; names follow the table, not the writer), plus `filename` and
    `file_row_number`. For local files (`is_local`)."""
    from leanops.catalog.duck_writer import duck_type
    columns = ", ".join(f"{f.field_id}: {{name: '{_literal(f.name)}', type: '{duck_type(f.field_type)}', "
                        "default_value: NULL}" for f in schema.fields)
    listed = ", ".join(f"'{_literal(p)}'" for p in paths)
    return (f"read_parquet([{listed}], schema = MAP {{{columns}}}, filename = true, file_row_number = true, "
            "hive_partitioning = false)")
