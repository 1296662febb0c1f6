"""Read-only SQL over the lakehouse with DuckDB, and the scientist view `curated.<topic>_latest`.

    table = run_sql(ctx, "SELECT topic_name, count(*) FROM raw.events_staging GROUP BY ALL")
    with stream_sql(ctx, "FROM curated.events") as result:   # bounded memory: batches as DuckDB makes them
        for batch in result.batches: ...

Every Iceberg table is addressable as `<namespace>.<name>` (`raw.events_staging`,
`standardized.parse_errors`, `curated.events`, ...). Only the tables a query names are read: each is
planned by PyIceberg (with the query's WHERE pushed down where that is safe, leanops.pushdown) and
registered as a view over the planned files (leanops.catalog.scan: DuckDB reads the Parquet files,
position deletes applied), in a throw-away in-memory DuckDB. For each topic with a `curated` section,
`curated.<topic>_latest` is the latest row per merge key (seed 004, "Scientist View"); its one
definition, shared with `leanops export-ddl`, is leanops.latest_view.

Read-only by construction: exactly one statement, of type SELECT (DESCRIBE, SHOW, SUMMARIZE, VALUES
and FROM-first queries parse as SELECT); after the tables are registered, external access (files,
network, extensions) is switched off except for the planned files themselves, and the configuration
is locked.
"""
from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import decimal
import json
import math
import uuid
from typing import Any, Iterable, Iterator

import duckdb
import pyarrow as pa

from leanops import duck
from leanops.catalog.scan import ScanPlan, create_view, plan_scan
from leanops.catalog.schemas import CURATED_ERRORS_SCHEMA, DLQ_SCHEMA, PARSE_CORRECTIONS_SCHEMA, PARSE_ERRORS_SCHEMA
from leanops.catalog.tables import Lakehouse
from leanops.context import Context
from leanops.errors import LeanOpsError, SchemaFileError
from leanops.pushdown import walk_nodes
from leanops.pushdown import pushed_filter
from leanops.latest_view import LATEST_SUFFIX, quote_ident
from leanops.latest_view import duckdb_view_sql as latest_view_sql  # one definition of "latest"
from leanops.types import Zone, validate_topic

MAX_QUERY_CHARS = 1_000_000
ROWS_PER_BATCH = 10_000  # rows per streamed batch: what the CLI holds at once
TABLE_ROWS_PER_BATCH = 1_000_000  # run_sql collects them all anyway
# Fixed tables the pipeline creates on first use: before that they read as empty, not as unknown.
FIXED_TABLES = {tuple(Lakehouse.DLQ.split(".")): DLQ_SCHEMA,
                tuple(Lakehouse.PARSE_ERRORS.split(".")): PARSE_ERRORS_SCHEMA,
                tuple(Lakehouse.PARSE_CORRECTIONS.split(".")): PARSE_CORRECTIONS_SCHEMA,
                tuple(Lakehouse.CURATED_ERRORS.split(".")): CURATED_ERRORS_SCHEMA}

# Settings applied once the tables are registered, in this order; the last one freezes the rest.
_LOCKDOWN = (
    "SET enable_progress_bar = false",          # DuckDB draws it on stdout, which --json/--csv own
    "SET enable_external_access = false",       # no files, no network, no Python replacement scans
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET python_enable_replacements = false",   # a query cannot read the caller's Python variables
    "SET lock_configuration = true",
)


class SqlError(LeanOpsError):
    """A query that is not allowed, does not parse, or fails to run (exit 2)."""


def _string(text: str) -> str:
    """A SQL string literal (SET takes no parameters)."""
    return "'" + text.replace("'", "''") + "'"


# -- what can be queried ------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class LatestView:
    topic: str
    merge_key: str
    order_by: str

    @property
    def name(self) -> tuple[str, str]:
        return Zone.CURATED.value, self.topic + LATEST_SUFFIX

    def ddl(self) -> str:
        return latest_view_sql(self.topic, self.merge_key, self.order_by)


def catalog_tables(ctx: Context) -> set[tuple[str, str]]:
    """(namespace, table) of every table in the Iceberg catalog."""
    found = set()
    for namespace in ctx.lake.catalog.list_namespaces():
        for ident in ctx.lake.catalog.list_tables(namespace):
            found.add((".".join(ident[:-1]), ident[-1]))
    return found


def latest_view(ctx: Context, topic: str, tables: set[tuple[str, str]]) -> LatestView | None:
    """The topic's latest view when its schema file has a `curated` section and curated.<topic> exists."""
    if (Zone.CURATED.value, topic) not in tables:
        return None
    schema = ctx.schema(topic)
    if schema is None or schema.curated is None:
        return None
    return LatestView(topic, schema.curated.merge_key, schema.curated.order_by)


def latest_views(ctx: Context, tables: set[tuple[str, str]] | None = None) -> list[LatestView]:
    """Every topic's latest view. A topic whose schema file is broken is left out (lint reports it)."""
    tables = catalog_tables(ctx) if tables is None else tables
    views = []
    for topic in ctx.topics():
        try:
            view = latest_view(ctx, topic, tables)
        except SchemaFileError:
            continue
        if view is not None and view.name not in tables:  # a real table of that name wins
            views.append(view)
    return views


def available_tables(ctx: Context) -> list[str]:
    """Every name a query may use: catalog tables, the fixed error tables and latest views, sorted."""
    tables = catalog_tables(ctx)
    names = {f"{ns}.{name}" for ns, name in tables | set(FIXED_TABLES)}
    names |= {".".join(v.name) for v in latest_views(ctx, tables)}
    return sorted(names)


# -- parsing ------------------------------------------------------------------------------
def check_read_only(con: duckdb.DuckDBPyConnection, query: str) -> str:
    """The one SELECT statement of `query`, or SqlError."""
    if len(query) > MAX_QUERY_CHARS:
        raise SqlError(f"query too long ({len(query)} characters, at most {MAX_QUERY_CHARS})")
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise SqlError(f"SQL error: {exc}") from exc
    if not statements:
        raise SqlError("no SQL statement given")
    if len(statements) > 1:
        raise SqlError(f"exactly one statement is allowed, got {len(statements)}")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise SqlError(f"only read queries (SELECT, WITH ... SELECT, DESCRIBE, SHOW, SUMMARIZE) are "
                       f"allowed; this is a {kind.name} statement")
    return query


def parse_tree(con: duckdb.DuckDBPyConnection, query: str) -> dict:
    """DuckDB's parse tree of `query` (json_serialize_sql), or SqlError.

    Parse only: unlike duckdb.get_table_names (which binds, and so fails on `JOIN ... USING` over
    tables that are not registered yet), json_serialize_sql never looks at the catalog.
    """
    text = con.execute("SELECT json_serialize_sql(?)", [query]).fetchall()[0][0]
    tree = json.loads(text)
    if tree.get("error"):
        raise SqlError(f"SQL error: {tree.get('error_message', 'cannot parse the query')}")
    return tree


def referenced_tables(con: duckdb.DuckDBPyConnection, query: str) -> set[tuple[str, str]]:
    """(schema, table) of every schema-qualified table reference, lower-cased, from DuckDB's parse tree."""
    return _tables_in(parse_tree(con, query))


def _tables_in(tree: dict) -> set[tuple[str, str]]:
    found = set()
    for node in walk_nodes(tree):
        if node.get("type") == "BASE_TABLE" and node.get("schema_name"):
            found.add((str(node["schema_name"]).lower(), str(node["table_name"]).lower()))
    return found


# -- running ------------------------------------------------------------------------------
@dataclasses.dataclass
class SqlResult:
    """A running query: its columns (duplicate names made unique) and its rows as they are fetched."""

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]

    @property
    def columns(self) -> list[str]:
        return self.schema.names


@contextlib.contextmanager
def stream_sql(ctx: Context, query: str, rows_per_batch: int = ROWS_PER_BATCH) -> Iterator[SqlResult]:
    """Run one read-only query over the lakehouse; its rows stream while the context is open.

    Args:
        ctx: the deployment.
        query: one SELECT (DuckDB dialect).
        rows_per_batch: rows per Arrow record batch.

    Yields:
        The result; memory follows the batches taken from it, not the tables' sizes.

    Raises:
        SqlError: a refused statement, a parse or bind error, an unknown table, or an error while
            the rows are fetched.
    """
    with duck.connect(ctx.settings.home / "tmp") as con:
        _prepare(ctx, con, query)
        try:
            reader = duck.arrow_batches(con, query, rows_per_batch)
        except duckdb.Error as exc:
            raise _query_error(ctx, exc) from exc
        names = unique_names(reader.schema.names)
        schema = pa.schema([field.with_name(name) for field, name in zip(reader.schema, names)])
        yield SqlResult(schema, _renamed(ctx, reader, schema))


def run_sql(ctx: Context, query: str) -> pa.Table:
    """Run one read-only query over the lakehouse; the result as an Arrow table (duplicate names made unique)."""
    with stream_sql(ctx, query, rows_per_batch=TABLE_ROWS_PER_BATCH) as result:
        return pa.Table.from_batches(list(result.batches), schema=result.schema)


def plan_query(ctx: Context, query: str) -> dict[str, ScanPlan]:
    """The scan plan of every lakehouse table `query` reads, by `<namespace>.<name>` (what it would read)."""
    with duck.connect(ctx.settings.home / "tmp") as con:
        return {".".join(ident): plan for ident, plan in _prepare(ctx, con, query).items()}


def _prepare(ctx: Context, con: duckdb.DuckDBPyConnection, query: str) -> dict[tuple[str, str], ScanPlan]:
    """Check the query, plan and register the tables it names, lock the connection down."""
    check_read_only(con, query)
    tree = parse_tree(con, query)
    plans = _register(ctx, con, tree)
    files = sorted({path for plan in plans.values() for path in plan.local_files})
    # Before external access goes off: these files, and only these, stay readable (by the views).
    con.execute(f"SET allowed_paths = [{', '.join(_string(p) for p in files)}]").fetchall()
    for statement in _LOCKDOWN:
        con.execute(statement).fetchall()
    return plans


def _renamed(ctx: Context, reader: pa.RecordBatchReader, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    try:
        for batch in reader:
            yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)
    except (duckdb.Error, pa.ArrowException, OSError) as exc:  # DuckDB's errors mid-stream come as OSError
        raise _query_error(ctx, exc) from exc
    finally:
        reader.close()


def _query_error(ctx: Context, exc: Exception) -> SqlError:
    message = f"SQL error: {exc}"
    if isinstance(exc, duckdb.CatalogException) and "Table with name" in str(exc):
        message += f"\navailable tables: {', '.join(available_tables(ctx)) or '(none yet)'}"
    return SqlError(message)


def _register(ctx: Context, con: duckdb.DuckDBPyConnection, tree: dict) -> dict[tuple[str, str], ScanPlan]:
    """Register each referenced lakehouse table (and the latest views asked for) in `con`; their plans."""
    wanted = _tables_in(tree)
    tables = catalog_tables(ctx)
    namespaces = {ns for ns, _ in tables} | {z.value for z in Zone}
    plans: dict[tuple[str, str], ScanPlan] = {}
    loaded: set[tuple[str, str]] = set()
    views: list[LatestView] = []
    for schema, name in sorted(wanted):
        if schema not in namespaces:
            continue  # DuckDB's own schemas (information_schema, pg_catalog, ...) or an error DuckDB reports
        if (schema, name) in tables or (schema, name) in FIXED_TABLES:
            _load_table(ctx, con, tree, (schema, name), plans, loaded, exists=(schema, name) in tables)
            continue
        view = None
        if schema == Zone.CURATED.value and name.endswith(LATEST_SUFFIX):
            topic = name[: -len(LATEST_SUFFIX)]
            try:
                view = latest_view(ctx, validate_topic(topic), tables)
            except LeanOpsError:
                view = None
        if view is None:
            raise SqlError(f"unknown table {schema}.{name}; available tables: "
                           f"{', '.join(available_tables(ctx)) or '(none yet: ingest data first)'}")
        _load_table(ctx, con, tree, (Zone.CURATED.value, view.topic), plans, loaded)
        views.append(view)
    for view in views:
        try:
            con.execute(view.ddl()).fetchall()
        except duckdb.Error as exc:
            raise SqlError(f"cannot define {'.'.join(view.name)} (merge_key {view.merge_key!r}, order_by "
                           f"{view.order_by!r}) over curated.{view.topic}: {exc}") from exc
    return plans


def _load_table(ctx: Context, con: duckdb.DuckDBPyConnection, tree: dict, ident: tuple[str, str],
                plans: dict[tuple[str, str], ScanPlan], loaded: set[tuple[str, str]], exists: bool = True) -> None:
    """Plan `ident` (the WHERE pushed down when the query reads it alone) and register it as a view."""
    if ident in loaded:
        return
    loaded.add(ident)
    schema, name = ident
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}").fetchall()
    view = f"{quote_ident(schema)}.{quote_ident(name)}"
    if not exists:  # a fixed table before its first row
        helper = f"__lake_empty_{schema}_{name}"
        con.register(helper, FIXED_TABLES[ident].as_arrow().empty_table())
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM {quote_ident(helper)}").fetchall()
        return
    table = ctx.lake.catalog.load_table(f"{schema}.{name}")
    try:
        plan = plan_scan(table, pushed_filter(con, tree, ident, table.schema()))
    except LeanOpsError as exc:
        raise SqlError(f"cannot read {schema}.{name}: {exc}") from exc
    create_view(con, plan, view)
    plans[ident] = plan


# -- result shaping -----------------------------------------------------------------------
def unique_names(names: list[str]) -> list[str]:
    """Column names made unique the way DuckDB does for data frames: a, a_1, a_2 ...

    >>> unique_names(["a", "a", "b", "a_1"])
    ['a', 'a_2', 'b', 'a_1']
    """
    taken = set(names)
    seen: set[str] = set()
    result = []
    for name in names:
        candidate, n = name, 0
        while candidate in seen or (candidate != name and candidate in taken):
            n += 1
            candidate = f"{name}_{n}"
        seen.add(candidate)
        result.append(candidate)
    return result


def json_value(value: Any) -> Any:
    """A result cell as a JSON value: timestamps/dates ISO strings, decimals strings, bytes base64."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID, datetime.timedelta)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, pa.MonthDayNano):  # DuckDB INTERVAL
        return {"months": value.months, "days": value.days, "nanoseconds": value.nanoseconds}
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return str(value)


def text_value(value: Any) -> str | None:
    """A result cell as text for tables and CSV: nested values as JSON, NULL as None."""
    value = json_value(value)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value).lower() if isinstance(value, bool) else str(value)


def json_rows(table: pa.Table | pa.RecordBatch) -> list[dict[str, Any]]:
    """Rows as JSON-safe objects, in result order."""
    names = table.schema.names
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return [{name: json_value(col[r]) for name, col in zip(names, columns)} for r in range(table.num_rows)]


def text_rows(table: pa.Table | pa.RecordBatch) -> list[list[str | None]]:
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return [[text_value(col[r]) for col in columns] for r in range(table.num_rows)]


def head(batches: Iterable[pa.RecordBatch], limit: int | None) -> Iterator[pa.RecordBatch]:
    """The first `limit` rows of a stream (all of them for None); stops fetching once it has them."""
    left = limit
    for batch in batches:
        if left is not None and batch.num_rows >= left:
            if left:
                yield batch.slice(0, left)
            return
        if left is not None:
            left -= batch.num_rows
        yield batch


def json_array(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    r"""A JSON array of `rows` in pieces, one per row: what json.dumps(list(rows), indent=2) prints, then a
    newline, without holding the rows.

    >>> "".join(json_array([{"a": 1}, {"b": [2]}])) == json.dumps([{"a": 1}, {"b": [2]}], indent=2) + "\n"
    True
    >>> "".join(json_array([]))
    '[]\n'
    """
    opening = "[\n  "
    for row in rows:
        yield opening + json.dumps(row, indent=2, default=str, ensure_ascii=False).replace("\n", "\n  ")
        opening = ",\n  "
    yield "[]\n" if opening == "[\n  " else "\n]\n"
