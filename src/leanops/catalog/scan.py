"""An Iceberg table as a DuckDB relation, planned by PyIceberg.

    plan = plan_scan(table, EqualTo("idempotency_key", "k"))   # PyIceberg prunes files by partition and stats
    create_view(con, plan, '"curated"."events"')
    con.execute('SELECT count(*) FROM "curated"."events"')     # DuckDB reads only the planned files

PyIceberg plans (manifests, partition and column-stat pruning, which delete files apply to which data
file); DuckDB reads. Local Parquet files are read by DuckDB's `read_parquet`, columns matched by
Iceberg field id and named by the table's current schema (a column an older file lacks reads NULL).
A data file with position deletes is read with its row numbers and anti-joined against the delete
rows that apply to it; one without is read plainly, so `count(*)` comes from Parquet metadata.

What DuckDB cannot read exactly (remote files, non-Parquet or non-position delete files, column types
without a DuckDB mapping, files that may lack field ids) goes through PyIceberg's own Arrow reader
over the same planned files, a few files at a time, as a stream DuckDB can scan more than once.
Correctness first: the Arrow path applies every delete PyIceberg can.
"""
from __future__ import annotations

import dataclasses
import enum
import itertools
import uuid
from typing import Iterator

import duckdb
import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.io.pyarrow import ArrowScan, schema_to_pyarrow
from pyiceberg.manifest import DataFileContent, FileFormat
from pyiceberg.schema import Schema
from pyiceberg.table import FileScanTask, Table

from leanops.catalog.duck_writer import duck_type
from leanops.catalog.files import is_local, read_by_field_id_sql
from leanops.catalog.tables import local_path
from leanops.errors import TerminalError
from leanops.helper_columns import FILE, POS

ARROW_FILES_AT_ONCE = 4  # the Arrow path holds at most this many files' rows in memory
NAME_MAPPING = "schema.name-mapping.default"  # set by add_files: data files may lack field ids
_FILE_PATH_ID, _POS_ID = 2147483546, 2147483545  # the position-delete columns' reserved field ids


class ReadPath(str, enum.Enum):
    """How the planned files are read."""

    DUCKDB = "duckdb"  # read_parquet by field id, position deletes anti-joined
    ARROW = "arrow"    # PyIceberg's Arrow reader, streamed
    EMPTY = "empty"    # nothing planned: no snapshot, or every file pruned


@dataclasses.dataclass(frozen=True)
class ScanPlan:
    """A planned read of one table: the files PyIceberg kept for the filter, and how they will be read."""

    table: Table
    schema: Schema  # the table's current schema: names and types of the relation
    row_filter: BooleanExpression
    tasks: tuple[FileScanTask, ...]
    path: ReadPath
    reason: str = ""  # why the Arrow path

    @property
    def data_files(self) -> tuple[str, ...]:
        return tuple(t.file.file_path for t in self.tasks)

    @property
    def delete_files(self) -> tuple[str, ...]:
        return tuple(sorted({d.file_path for t in self.tasks for d in t.delete_files}))

    @property
    def local_files(self) -> tuple[str, ...]:
        """The paths DuckDB opens (data and delete files): what its file-system lockdown must allow."""
        if self.path is not ReadPath.DUCKDB:
            return ()
        return tuple(local_path(u) for u in (*self.data_files, *self.delete_files))


def plan_scan(table: Table, row_filter: BooleanExpression = AlwaysTrue()) -> ScanPlan:
    """Plan a read of `table`'s current snapshot with PyIceberg, pruning files by `row_filter`.

    Args:
        table: the Iceberg table.
        row_filter: rows outside it may be left out (DuckDB filters the rows themselves).

    Returns:
        The plan; `path` says whether DuckDB reads the files itself or PyIceberg's Arrow reader does.

    Raises:
        TerminalError: PyIceberg cannot plan the read (e.g. equality delete files).
    """
    schema = table.schema()
    try:
        tasks = tuple(table.scan(row_filter=row_filter).plan_files())
    except (ValueError, NotImplementedError) as exc:
        raise TerminalError(f"{'.'.join(table.name())}: PyIceberg cannot plan a read of the current "
                            f"snapshot: {exc}") from exc
    if not tasks:
        return ScanPlan(table, schema, row_filter, tasks, ReadPath.EMPTY)
    reason = arrow_reason(table, schema, tasks)
    return ScanPlan(table, schema, row_filter, tasks, ReadPath.ARROW if reason else ReadPath.DUCKDB, reason)


def arrow_reason(table: Table, schema: Schema, tasks: tuple[FileScanTask, ...]) -> str:
    """Why DuckDB cannot read these files exactly ("" when it can)."""
    if NAME_MAPPING in table.metadata.properties:
        return f"the table has {NAME_MAPPING}: its files may lack field ids"
    for field in schema.fields:
        try:
            duck_type(field.field_type)
        except ValueError:
            return f"column {field.name!r} has type {field.field_type}, which DuckDB is not mapped to"
        if getattr(field, "initial_default", None) is not None:
            return f"column {field.name!r} has an initial default for older files"
    for task in tasks:
        if task.file.file_format != FileFormat.PARQUET:
            return f"data file {task.file.file_path} is {task.file.file_format.name}"
        for delete in task.delete_files:
            if delete.content != DataFileContent.POSITION_DELETES or delete.file_format != FileFormat.PARQUET:
                return f"delete file {delete.file_path} is {delete.content.name} in {delete.file_format.name}"
        for uri in (task.file.file_path, *(d.file_path for d in task.delete_files)):
            if not is_local(uri):
                return f"{uri} is not a local file"
    return ""


def create_view(con: duckdb.DuckDBPyConnection, plan: ScanPlan, view: str) -> None:
    """CREATE VIEW `view` (quoted, possibly qualified) over the plan's rows, columns as the table's schema."""
    helper = f"__leanops_scan_{uuid.uuid4().hex[:12]}"
    if plan.path is ReadPath.DUCKDB:
        select = _duckdb_select(con, plan, helper)
    else:
        rows = schema_to_pyarrow(plan.schema).empty_table() if plan.path is ReadPath.EMPTY else ArrowRows(plan)
        con.register(helper, rows)
        select = f"SELECT * FROM {_ident(helper)}"
    con.execute(f"CREATE VIEW {view} AS {select}").fetchall()


# -- DuckDB's own read --------------------------------------------------------------------------
def _duckdb_select(con: duckdb.DuckDBPyConnection, plan: ScanPlan, helper: str) -> str:
    """SELECT over the planned Parquet files: plain files as they are, the others minus their deletes."""
    columns = ", ".join(_ident(f.name) for f in plan.schema.fields)
    by_id = "MAP {" + ", ".join(
        f"{f.field_id}: {{name: {_string(f.name)}, type: {_string(duck_type(f.field_type))}, default_value: NULL}}"
        for f in plan.schema.fields) + "}"
    plain = [local_path(t.file.file_path) for t in plan.tasks if not t.delete_files]
    deleted = [t for t in plan.tasks if t.delete_files]
    parts = []
    if plain:
        parts.append(f"SELECT {columns} FROM read_parquet({_list(plain)}, schema = {by_id}, "
                     "hive_partitioning = false)")
    if deleted:
        kept = ", ".join(f"r.{_ident(f.name)}" for f in plan.schema.fields)
        source = read_by_field_id_sql([local_path(t.file.file_path) for t in deleted], plan.schema)
        parts.append(f"SELECT {kept} FROM {source} r ANTI JOIN ({_delete_rows(con, deleted, helper)}) d "
                     f"ON d.path = r.{FILE} AND d.pos = r.{POS}")
    return " UNION ALL ".join(parts)


def _delete_rows(con: duckdb.DuckDBPyConnection, tasks: list[FileScanTask], helper: str) -> str:
    """SELECT (path, pos) of the rows deleted from `tasks`' data files.

    A delete file may name many data files, and only applies to those PyIceberg matched it to (by
    partition and sequence number): the pairs go into a temp table the delete rows are joined with.
    `file_path` may be a `file:///p` or `file:/p` URI, the data file's DuckDB filename is the path.
    """
    pairs = [(local_path(d.file_path), local_path(t.file.file_path)) for t in tasks for d in t.delete_files]
    applies = _ident(helper + "_deletes")
    con.execute(f"CREATE TEMP TABLE {applies} AS SELECT unnest($1::VARCHAR[]) AS delete_file, "
                "unnest($2::VARCHAR[]) AS data_file", [[p[0] for p in pairs], [p[1] for p in pairs]]).fetchall()
    delete_files = sorted({p[0] for p in pairs})
    by_id = (f"MAP {{{_FILE_PATH_ID}: {{name: 'file_path', type: 'VARCHAR', default_value: NULL}}, "
             f"{_POS_ID}: {{name: 'pos', type: 'BIGINT', default_value: NULL}}}}")
    path = ("CASE WHEN starts_with(x.file_path, 'file://') THEN x.file_path[8:] "
            "WHEN starts_with(x.file_path, 'file:/') THEN x.file_path[6:] ELSE x.file_path END")
    return (f"SELECT a.data_file AS path, x.pos AS pos FROM read_parquet({_list(delete_files)}, schema = {by_id}, "
            f"filename = '{FILE.name}', hive_partitioning = false) x "
            f"JOIN {applies} a ON a.delete_file = x.{FILE} AND a.data_file = {path}")


# -- PyIceberg's Arrow read -------------------------------------------------------------------
class ArrowRows:
    """The plan's rows through PyIceberg's Arrow reader, as an Arrow C stream DuckDB may open many times.

    Each `__arrow_c_stream__` call (DuckDB makes one per bind and per scan, so a self-join works) starts
    a lazy reader: files are read `ARROW_FILES_AT_ONCE` at a time, deletes applied, the row filter too.
    """

    def __init__(self, plan: ScanPlan) -> None:
        self.plan = plan
        self.schema = schema_to_pyarrow(plan.schema)

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return self.reader().__arrow_c_stream__(requested_schema)

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.schema, self._batches()).cast(self.schema)

    def _batches(self) -> Iterator[pa.RecordBatch]:
        table = self.plan.table
        scan = ArrowScan(table.metadata, table.io, self.plan.schema, self.plan.row_filter, True)
        tasks = iter(self.plan.tasks)
        while window := list(itertools.islice(tasks, ARROW_FILES_AT_ONCE)):
            yield from scan.to_record_batches(window)


# -- SQL text -----------------------------------------------------------------------------------
def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _list(paths) -> str:
    return "[" + ", ".join(_string(p) for p in paths) + "]"


__all__ = ["ARROW_FILES_AT_ONCE", "ArrowRows", "ReadPath", "ScanPlan", "arrow_reason", "create_view", "plan_scan"]
