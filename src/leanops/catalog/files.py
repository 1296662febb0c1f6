"""Iceberg data and delete files as a DuckDB relation, wherever they live (docs/aws-catalog.md).

    register_parquet(con, "batch", files, table.io)
    con.execute(f'SELECT {FILE}, {POS}, message_id FROM batch')

The stages join rows to their file (`$file`, the path or URI exactly as passed) and position
(`$pos`, 0-based) for ingestion order and position deletes. Local files are read by DuckDB itself
(`read_parquet`, every core, projection pushed down); remote ones (s3://...) by pyarrow through
PyIceberg's FileIO, since DuckDB cannot open them without its httpfs extension: DuckDB only computes
over the Arrow rows.

The file and position are helper columns (leanops.helper_columns), never `filename` and
`file_row_number`, which a payload key can be: `read_parquet` takes another name for its filename
column, but always calls the row number `file_row_number` and refuses a file column of that name, so
the files' columns are read under placeholder names (its `schema` parameter, by name or Iceberg field
id) and renamed in the SELECT around it.
"""
from __future__ import annotations

import array
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.io import FileIO

from leanops.helper_columns import FILE, POS

REMOTE_READERS = 8  # files fetched at once from an object store
_NAME = re.compile(r"^\w+$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_ROW_NUMBER = "file_row_number"  # read_parquet's fixed name for it, renamed to POS at once


def is_local(uri: str) -> bool:
    """A path DuckDB opens itself: no scheme, or file:."""
    return uri.startswith("file:") or not _SCHEME.match(uri)


def register_parquet(con: duckdb.DuckDBPyConnection, name: str, uris: Sequence[str], io: FileIO | None = None,
                     columns: Sequence[str] | None = None,
                     row_ranges: Mapping[str, tuple[int, int]] | None = None) -> None:
    """Temp view `name`: the rows of the Parquet files `uris` (by column name, union of the files' columns)
    plus FILE (the URI as passed) and POS (0-based row position in its file).

    `columns` limits the files' columns to those (a column no file has is NULL); None keeps them all.
    `row_ranges` reads only the rows [first, end) of the files it names (a batch that stops inside a
    file): DuckDB skips the row groups outside the range, pyarrow reads only those inside it.
    Local paths stay DuckDB's lazy `read_parquet`; any other URI needs `io`, the table's FileIO, and is
    read into memory (only `columns`).
    """
    if not _NAME.match(name):
        raise ValueError(f"unsafe relation name {name!r}")
    uris = list(uris)
    columns = None if columns is None else list(dict.fromkeys(columns))  # a merge key may also order
    if not uris:
        raise ValueError("register_parquet needs at least one file")
    ranges = dict(row_ranges or {})
    if all(is_local(u) for u in uris):
        types = dict(_file_columns(con, uris))
        wanted = list(types) if columns is None else columns
        fields = [(f"'{_literal(c)}'", c, types.get(c, "VARCHAR")) for c in wanted]
        whole = [u for u in uris if u not in ranges]
        parts = [_positioned_sql(whole, fields)] if whole else []
        parts += [_positioned_sql([u], fields, ranges[u]) for u in uris if u in ranges]
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {' UNION ALL '.join(parts)}").fetchall()
        return
    if io is None:
        raise ValueError(f"reading {uris[0]} needs the table's FileIO")
    rows = read_arrow(uris, io, columns, ranges)
    con.execute(f"DROP VIEW IF EXISTS {name}").fetchall()
    con.register(name, rows)


def read_arrow(uris: Sequence[str], io: FileIO, columns: Sequence[str] | None = None,
               row_ranges: Mapping[str, tuple[int, int]] | None = None) -> pa.Table:
    """The files' rows as one Arrow table (file order, then row order) with FILE and POS; of a file in
    `row_ranges`, only its rows [first, end) (read by row group)."""
    def read(uri: str) -> pa.Table:
        with io.new_input(uri).open(seekable=True) as stream:
            parquet = pq.ParquetFile(stream)
            present = set(parquet.schema_arrow.names)
            wanted = None if columns is None else [c for c in columns if c in present]
            if row_ranges and uri in row_ranges:
                table, first = _read_range(parquet, wanted, *row_ranges[uri])
            else:
                table, first = parquet.read(columns=wanted, use_threads=True), 0
        table = table.replace_schema_metadata(None)
        table = table.append_column(FILE.name, pa.repeat(pa.scalar(uri, pa.string()), table.num_rows))
        return table.append_column(POS.name, _positions(table.num_rows, first))

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
        rows = rows.select([*columns, FILE.name, POS.name])
    return rows


def _read_range(parquet: pq.ParquetFile, columns: list[str] | None, first: int, end: int) -> tuple[pa.Table, int]:
    """Rows [first, end) of a Parquet file, reading only the row groups that hold them; (rows, first)."""
    groups, offset, start = [], 0, None
    for i in range(parquet.metadata.num_row_groups):
        count = parquet.metadata.row_group(i).num_rows
        if offset + count > first and offset < end:
            groups.append(i)
            start = offset if start is None else start
        offset += count
    if not groups:
        return parquet.schema_arrow.empty_table().select(parquet.schema_arrow.names if columns is None else columns), first
    table = parquet.read_row_groups(groups, columns=columns, use_threads=True)
    return table.slice(first - start, end - first), first


def _positions(n: int, first: int = 0) -> pa.Array:
    """first..first+n-1 as int64, built in C (pa.array(range(n)) iterates in Python: 6x slower)."""
    return pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(array.array("q", range(first, first + n)))])


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
    """SQL of a relation over local `paths` whose columns are the Iceberg `schema`'s, matched by field id
    (a column a file lacks reads NULL; names follow the table, not the writer), plus FILE and POS. For
    local files (`is_local`)."""
    from leanops.catalog.duck_writer import duck_type
    fields = [(str(f.field_id), f.name, duck_type(f.field_type)) for f in schema.fields]
    return f"({_positioned_sql(paths, fields)})"


def _file_columns(con: duckdb.DuckDBPyConnection, paths: Sequence[str]) -> list[tuple[str, str]]:
    """(name, DuckDB type) of the columns of local Parquet files, unified by name (footers only)."""
    listed = ", ".join(f"'{_literal(p)}'" for p in paths)
    rows = con.execute(f"DESCRIBE SELECT * FROM read_parquet([{listed}], union_by_name = true, "
                       "hive_partitioning = false)").fetchall()
    return [(row[0], row[1]) for row in rows]


def _positioned_sql(paths: Sequence[str], fields: Sequence[tuple[str, str, str]],
                    rows: tuple[int, int] | None = None) -> str:
    """SELECT over local Parquet files: `fields` (key in the file as SQL — a quoted name or a field id —,
    column name, DuckDB type), then FILE and POS; with `rows` (first, end), only those rows (DuckDB skips
    the row groups outside them).

    The files' columns are read as `$0`, `$1`, ... and renamed here, so no data column meets the row
    number read_parquet adds as `file_row_number`; a column a file lacks reads NULL."""
    mapping = ", ".join(f"{key}: {{name: '${i}', type: '{_literal(kind)}', default_value: NULL}}"
                        for i, (key, _, kind) in enumerate(fields))
    select = [f'"${i}" AS {_ident(name)}' for i, (_, name, _) in enumerate(fields)]
    listed = ", ".join(f"'{_literal(p)}'" for p in paths)
    where = "" if rows is None else f" WHERE {_ROW_NUMBER} >= {int(rows[0])} AND {_ROW_NUMBER} < {int(rows[1])}"
    return (f"SELECT {', '.join(select + [str(FILE), f'{_ROW_NUMBER} AS {POS}'])} "
            f"FROM read_parquet([{listed}], schema = MAP {{{mapping}}}, filename = '{FILE.name}', "
            f"file_row_number = true, hive_partitioning = false){where}")
