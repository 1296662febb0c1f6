"""`leanops sql`: read-only DuckDB SQL over the Iceberg tables, and the curated.<topic>_latest view."""
import csv
import io
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pytest
from pyiceberg.expressions import (
    AlwaysTrue, And, EqualTo, GreaterThan, GreaterThanOrEqual, In, IsNull, LessThan, LessThanOrEqual,
)
from pyiceberg.expressions.literals import DateLiteral, DecimalLiteral, LongLiteral, TimestampLiteral
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BinaryType, DateType, DecimalType, DoubleType, IntegerType, LongType, NestedField, StringType, TimestamptzType,
)

from conftest import EVENTS_SCHEMA, envelope, ingest, run_cli, write_lines, write_schema
from leanops import duck
from leanops.catalog import scan
from leanops.catalog.scan import ReadPath
from leanops.errors import LeanOpsError
from leanops.pushdown import pushed_filter
from leanops.runner import run_once
from leanops.sqlview import head, json_array, json_rows, latest_view_sql, plan_query, run_sql, unique_names

CURATED_SCHEMA = {**EVENTS_SCHEMA, "curated": {
    "merge_key": "idempotency_key", "order_by": "event_timestamp",
    "columns": {"idempotency_key": {"type": "string", "cde": True},
                "event_timestamp": {"type": "timestamp", "cde": True},
                "amount": {"type": "decimal(18,2)"}}}}

T0 = datetime(2026, 1, 19, 10, 0, tzinfo=timezone.utc)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


# (message_id, idempotency_key, event_timestamp, ingestion_ts, amount)
VERSIONS = [
    ("m1", "k1", h(0), h(0), "1.00"),
    ("m2", "k1", h(2), h(1), "2.00"),    # k1: greatest event_timestamp wins ...
    ("m3", "k1", h(1), h(5), "3.00"),    # ... even against a later-ingested, older event
    ("m4", "k2", h(0), h(0), "4.00"),
    ("m5", "k2", h(0), h(3), "5.00"),    # k2: equal event_timestamp, the later ingestion wins
    ("m6", "k3", None, h(9), "6.00"),    # k3: a NULL event_timestamp never wins
    ("m7", "k3", h(-5), h(0), "7.00"),
    ("m8", "k4", h(4), h(4), "8.00"),
    ("m9", "k4", h(4), h(4), "9.00"),    # k4: full tie, the greater message_id wins
    ("m10", "k5", h(1), h(1), "10.00"),  # k5: a single version
]


def make_curated(ctx):
    schema = Schema(
        NestedField(1, "message_id", StringType(), required=True),
        NestedField(2, "idempotency_key", StringType(), required=True),
        NestedField(3, "event_timestamp", TimestamptzType(), required=False),
        NestedField(4, "ingestion_ts", TimestamptzType(), required=True),
        NestedField(5, "amount", DecimalType(18, 2), required=False),
    )
    table = ctx.lake.catalog.create_table("curated.events", schema=schema)
    columns = list(zip(*VERSIONS))
    ts = pa.timestamp("us", tz="UTC")
    data = pa.table({
        "message_id": pa.array(columns[0], pa.string()),
        "idempotency_key": pa.array(columns[1], pa.string()),
        "event_timestamp": pa.array(columns[2], ts),
        "ingestion_ts": pa.array(columns[3], ts),
        "amount": pa.array([Decimal(a) for a in columns[4]], pa.decimal128(18, 2)),
    }, schema=schema.as_arrow())
    table.append(data)
    return table


def latest_ids(ctx) -> dict[str, str]:
    rows = run_sql(ctx, "SELECT idempotency_key, message_id FROM curated.events_latest").to_pylist()
    return {r["idempotency_key"]: r["message_id"] for r in rows}


# -- pure functions ------------------------------------------------------------------------
def test_latest_view_ddl_quotes_identifiers():
    ddl = latest_view_sql("events", "idempotency_key", "event_timestamp")
    assert ddl.startswith('CREATE OR REPLACE VIEW "curated"."events_latest" AS')
    assert 'SELECT * FROM "curated"."events"' in ddl
    assert ('PARTITION BY "idempotency_key"' in ddl and
            'ORDER BY "event_timestamp" DESC NULLS LAST, "ingestion_ts" DESC, "message_id" DESC' in ddl)
    assert ddl.rstrip().endswith(") = 1")
    with pytest.raises(LeanOpsError):
        latest_view_sql("events", 'x"; DROP TABLE y; --', "event_timestamp")
    with pytest.raises(LeanOpsError):
        latest_view_sql("Bad Topic", "k", "t")


def test_unique_names_and_json_rows():
    assert unique_names(["a", "a", "a"]) == ["a", "a_1", "a_2"]
    table = pa.table({"d": pa.array([Decimal("1.50")], pa.decimal128(18, 2)),
                      "t": pa.array([T0], pa.timestamp("us", tz="UTC")),
                      "f": pa.array([float("nan")]), "b": pa.array([b"\x00"])})
    assert json_rows(table) == [{"d": "1.50", "t": "2026-01-19T10:00:00+00:00", "f": "nan", "b": "AA=="}]


PUSH_SCHEMA = Schema(
    NestedField(1, "idempotency_key", StringType(), required=True),
    NestedField(2, "qty", IntegerType(), required=False),
    NestedField(3, "amount", DecimalType(18, 2), required=False),
    NestedField(4, "event_timestamp", TimestamptzType(), required=False),
    NestedField(5, "day", DateType(), required=False),
    NestedField(6, "score", DoubleType(), required=False),
    NestedField(7, "Mixed Case", StringType(), required=False),
)


def pushed(where: str, query: str | None = None):
    with duck.connect() as con:
        query = query or f"SELECT * FROM curated.events WHERE {where}"
        tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [query]).fetchone()[0])
        return pushed_filter(con, tree, ("curated", "events"), PUSH_SCHEMA)


T0_US = 1768816800 * 1_000_000  # T0 in microseconds


@pytest.mark.parametrize("where, expected", [
    ("idempotency_key = 'k'", EqualTo("idempotency_key", "k")),
    ("'k' = e.idempotency_key", AlwaysTrue()),  # no alias e: not this table's column
    ("IDEMPOTENCY_KEY = 'k'", EqualTo("idempotency_key", "k")),  # DuckDB binds names case-insensitively
    ("curated.events.qty > 5", GreaterThan("qty", LongLiteral(5))),
    ("5 < qty", GreaterThan("qty", LongLiteral(5))),  # constant first: mirrored
    ("qty <= 2.0", LessThanOrEqual("qty", LongLiteral(2))),  # an integral decimal is exact
    ("qty < 2.5", AlwaysTrue()),  # not exact in an int: nothing pushed
    ("qty = 99999999999", AlwaysTrue()),  # out of the int's range
    ("qty = '7'", EqualTo("qty", LongLiteral(7))),  # DuckDB casts the string to the column's type
    ("amount IN (1, 2.50)", In("amount", {DecimalLiteral(Decimal("1.00")), DecimalLiteral(Decimal("2.50"))})),
    ("amount = 1.005", AlwaysTrue()),  # three decimals do not fit amount's two
    ("amount IN (1, 1.005)", AlwaysTrue()),  # one inexact item: the whole IN is left out
    ("event_timestamp >= '2026-01-19 11:00:00+01'", GreaterThanOrEqual("event_timestamp", TimestampLiteral(T0_US))),
    ("event_timestamp < TIMESTAMPTZ '2026-01-19 10:00:00Z'", LessThan("event_timestamp", TimestampLiteral(T0_US))),
    ("event_timestamp < TIMESTAMP '2026-01-19 10:00:00'", AlwaysTrue()),  # another type: DuckDB casts, we do not
    ("day = DATE '1970-01-03'", EqualTo("day", DateLiteral(2))),
    ("day = 'infinity'", AlwaysTrue()),
    ("score > 1", AlwaysTrue()),  # floating point: DuckDB's NaN sorts above every number
    ("amount IS NULL", IsNull("amount")),
    ('"mixed case" = \'x\'', EqualTo("Mixed Case", "x")),
    ("idempotency_key = 'k' OR qty = 1", AlwaysTrue()),
    ("NOT idempotency_key = 'k'", AlwaysTrue()),
    ("lower(idempotency_key) = 'k'", AlwaysTrue()),
    ("idempotency_key = NULL", AlwaysTrue()),
    ("idempotency_key = qty", AlwaysTrue()),
])
def test_pushdown_of_one_conjunct(where, expected):
    assert pushed(where) == expected


def test_pushdown_takes_the_top_level_and_conjuncts():
    got = pushed("idempotency_key = 'k' AND (qty > 1 AND amount IS NULL) AND lower(idempotency_key) = 'x'")
    assert got == And(And(EqualTo("idempotency_key", "k"), GreaterThan("qty", LongLiteral(1))), IsNull("amount"))


@pytest.mark.parametrize("query", [
    "SELECT * FROM curated.events e JOIN curated.other o USING (idempotency_key) WHERE idempotency_key = 'k'",
    "SELECT * FROM curated.events WHERE idempotency_key = 'k' AND qty IN (SELECT qty FROM curated.events)",
    "SELECT * FROM curated.events WHERE idempotency_key = 'k' UNION ALL SELECT * FROM curated.events",
    "WITH e AS (SELECT * FROM curated.events) SELECT * FROM e WHERE idempotency_key = 'k'",
    "SELECT * FROM curated.events e(a, idempotency_key) WHERE idempotency_key = 'k'",
    "SELECT * FROM curated.events USING SAMPLE 10 WHERE idempotency_key = 'k'",
    "SELECT * FROM (SELECT * FROM curated.events) WHERE idempotency_key = 'k'",
    "SELECT * FROM curated.other WHERE idempotency_key = 'k'",
])
def test_pushdown_only_when_the_table_is_read_once_directly(query):
    assert pushed("", query) == AlwaysTrue()


def test_pushdown_through_an_alias():
    assert str(pushed("", "SELECT * FROM curated.events AS e WHERE e.idempotency_key = 'k'")) == str(
        EqualTo("idempotency_key", "k"))
    assert pushed("", "SELECT * FROM curated.events AS e WHERE events.idempotency_key = 'k'") == AlwaysTrue()


def test_head_and_json_array_stream():
    batches = [pa.record_batch({"n": list(range(i, i + 3))}) for i in range(0, 9, 3)]
    assert [b.num_rows for b in head(iter(batches), 7)] == [3, 3, 1]
    assert [b.num_rows for b in head(iter(batches), 6)] == [3, 3]
    assert list(head(iter(batches), 0)) == [] and sum(b.num_rows for b in head(iter(batches), None)) == 9
    rows = [r for b in batches for r in json_rows(b)]
    assert json.loads("".join(json_array(iter(rows)))) == [{"n": i} for i in range(9)]


# -- queries on a real home ----------------------------------------------------------------
@pytest.mark.slow
def test_query_raw_standardized_and_join(ctx, schemas, tmp_path):
    write_schema(schemas, EVENTS_SCHEMA)
    ingest(ctx, "events", [envelope("m1", {"event": {"userId": "u1"}}), envelope("m2", {"event": {"userId": "u2"}}),
                           envelope("m1", {"event": {"userId": "dup"}}), envelope("bad", "{broken"), "garbage"],
           tmp_path)
    run_once(ctx)

    raw = run_sql(ctx, "SELECT message_id FROM raw.events_staging ORDER BY message_id").column("message_id")
    assert raw.to_pylist() == ["bad", "m1", "m1", "m2"]
    assert run_sql(ctx, "SELECT count(*) AS n FROM raw.dlq_errors").to_pylist() == [{"n": 1}]
    std = run_sql(ctx, "SELECT message_id, event_userid FROM standardized.events ORDER BY 1").to_pylist()
    assert std == [{"message_id": "m1", "event_userid": "u1"}, {"message_id": "m2", "event_userid": "u2"}]
    errors = run_sql(ctx, "FROM standardized.parse_errors SELECT message_id, reason").to_pylist()
    assert errors == [{"message_id": "bad", "reason": "invalid JSON"}]

    # a join across two namespaces, with USING (which needs no binding before the tables exist)
    joined = run_sql(ctx, """
        SELECT r.message_id, count(*) AS copies, any_value(s.event_userid) AS userid
        FROM raw.events_staging r JOIN standardized.events s USING (message_id)
        GROUP BY ALL ORDER BY 1""").to_pylist()
    assert joined == [{"message_id": "m1", "copies": 2, "userid": "u1"},
                      {"message_id": "m2", "copies": 1, "userid": "u2"}]
    # upper case and quoted names resolve too; a self-join keeps both columns under unique names
    assert run_sql(ctx, 'SELECT count(*) AS n FROM RAW."events_staging"').to_pylist() == [{"n": 4}]
    both = run_sql(ctx, "SELECT a.message_id, b.message_id FROM standardized.events a, standardized.events b "
                        "WHERE a.message_id = b.message_id AND a.message_id = 'm2'")
    assert both.column_names == ["message_id", "message_id_1"]


@pytest.mark.slow
def test_latest_view_keeps_latest_per_key(ctx, schemas):
    write_schema(schemas, CURATED_SCHEMA)
    make_curated(ctx)
    assert latest_ids(ctx) == {"k1": "m2", "k2": "m5", "k3": "m7", "k4": "m9", "k5": "m10"}
    assert run_sql(ctx, "SELECT count(*) AS n FROM curated.events").to_pylist() == [{"n": len(VERSIONS)}]
    # the view is a plain relation: it joins with its own table
    rows = run_sql(ctx, "SELECT l.idempotency_key, count(*) AS versions FROM curated.events_latest l "
                        "JOIN curated.events e USING (idempotency_key) GROUP BY ALL ORDER BY 1").to_pylist()
    assert [r["versions"] for r in rows] == [3, 2, 2, 2, 1]


@pytest.mark.slow
def test_latest_view_needs_a_curated_section(ctx, schemas):
    write_schema(schemas, EVENTS_SCHEMA)  # no curated section: no view
    make_curated(ctx)
    with pytest.raises(LeanOpsError, match="unknown table curated.events_latest"):
        run_sql(ctx, "SELECT * FROM curated.events_latest")


@pytest.mark.slow
def test_deleted_rows_are_not_visible(ctx, schemas):
    write_schema(schemas, CURATED_SCHEMA)
    table = make_curated(ctx)
    table.delete(EqualTo("message_id", "m2"))
    table.delete(EqualTo("idempotency_key", "k5"))
    ids = run_sql(ctx, "SELECT message_id FROM curated.events").column("message_id").to_pylist()
    assert "m2" not in ids and "m10" not in ids and len(ids) == len(VERSIONS) - 2
    # k1 falls back to the next-latest version, k5 is gone
    assert latest_ids(ctx) == {"k1": "m3", "k2": "m5", "k3": "m7", "k4": "m9"}


@pytest.mark.slow
@pytest.mark.parametrize("query, message", [
    ("DROP VIEW raw.events_staging", "only read queries"),
    ("COPY (SELECT 1) TO '{tmp}/out.csv'", "only read queries"),
    ("INSERT INTO raw.events_staging SELECT * FROM raw.events_staging", "only read queries"),
    ("ATTACH '{tmp}/other.db' AS other", "only read queries"),
    ("CREATE TABLE t AS SELECT 1", "only read queries"),
    ("SET enable_external_access = true", "only read queries"),
    ("PRAGMA version", "only read queries"),
    ("INSTALL httpfs", "only read queries"),
    ("EXPLAIN ANALYZE SELECT 1", "only read queries"),
    ("SELECT 1; SELECT 2", "exactly one statement"),
    ("SELECT 1; DROP VIEW raw.events_staging", "exactly one statement"),
    ("SELECT * FROM read_csv('/etc/passwd')", "disabled by configuration"),
    ("SELECT * FROM read_text('{tmp}/home/catalog.db')", "disabled by configuration"),
    ("SELECT * FROM glob('/etc/*')", "disabled by configuration"),
    ("SELECT * FROM '/etc/passwd'", "SQL error"),
    ("", "no SQL statement"),
])
def test_only_read_queries(ctx, schemas, tmp_path, query, message):
    write_schema(schemas, EVENTS_SCHEMA)
    ingest(ctx, "events", [envelope("m1", {"a": 1})], tmp_path)
    with pytest.raises(LeanOpsError, match=message):
        run_sql(ctx, query.format(tmp=tmp_path))
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "other.db").exists()
    assert run_sql(ctx, "SELECT count(*) AS n FROM raw.events_staging").to_pylist() == [{"n": 1}]


@pytest.mark.slow
def test_unknown_table_lists_the_available_ones(ctx, schemas, tmp_path):
    write_schema(schemas, CURATED_SCHEMA)
    ingest(ctx, "events", [envelope("m1", {"a": 1})], tmp_path)
    make_curated(ctx)
    with pytest.raises(LeanOpsError) as qualified:
        run_sql(ctx, "SELECT * FROM raw.nope")
    assert "unknown table raw.nope" in str(qualified.value)
    for name in ("raw.events_staging", "raw.dlq_errors", "curated.events", "curated.events_latest"):
        assert name in str(qualified.value)
    with pytest.raises(LeanOpsError) as bare:
        run_sql(ctx, "SELECT * FROM events_staging")
    assert "available tables" in str(bare.value) and "raw.events_staging" in str(bare.value)


# -- command line --------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_json_csv_table_and_errors(tmp_path, schemas):
    write_schema(schemas, EVENTS_SCHEMA)
    lines = [envelope(f"m{i}", {"n": i}) for i in range(3)]
    assert run_cli("ingest", "--topic", "events", str(write_lines(tmp_path / "in.ndjson", lines))).returncode == 0
    assert run_cli("run", "--once").returncode == 0

    query = ("SELECT message_id, n, CAST(n AS DECIMAL(18,2)) AS amount, publish_time "
             "FROM standardized.events ORDER BY message_id")
    done = run_cli("sql", "--json", query)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert rows[0] == {"message_id": "m0", "n": "0", "amount": "0.00", "publish_time": "2026-01-19T10:00:00+00:00"}
    assert len(rows) == 3
    assert len(json.loads(run_cli("sql", "--json", "--limit", "1", query).stdout)) == 1

    as_csv = run_cli("sql", "--csv", query)
    assert as_csv.returncode == 0, as_csv.stderr
    assert list(csv.reader(io.StringIO(as_csv.stdout)))[:2] == [
        ["message_id", "n", "amount", "publish_time"], ["m0", "0", "0.00", "2026-01-19T10:00:00+00:00"]]

    table = run_cli("sql", "--limit", "2", query)
    assert table.returncode == 0 and "m1" in table.stdout and "m2" not in table.stdout
    assert "first 2 rows shown, the result has more" in table.stderr  # stops after --limit + 1 rows

    from_stdin = run_cli("sql", "--json", "-", input="SELECT count(*) AS n FROM raw.events_staging")
    assert json.loads(from_stdin.stdout) == [{"n": 3}]

    syntax = run_cli("sql", "--json", "SELEC * FROM raw.events_staging")
    assert syntax.returncode == 2 and "syntax error" in syntax.stderr and "Traceback" not in syntax.stderr
    refused = run_cli("sql", "DROP VIEW raw.events_staging")
    assert refused.returncode == 2 and "only read queries" in refused.stderr
    unknown = run_cli("sql", "SELECT * FROM curated.nope")
    assert unknown.returncode == 2 and "raw.events_staging" in unknown.stderr
    assert run_cli("sql", "--json", "--csv", "SELECT 1").returncode == 2


@pytest.mark.slow
def test_error_tables_read_empty_before_the_first_error(ctx, schemas, tmp_path):
    ingest(ctx, "events", [envelope("m1", {"a": 1})], tmp_path)
    assert ctx.lake.load("raw.dlq_errors") is None
    result = run_sql(ctx, "SELECT * FROM raw.dlq_errors, standardized.parse_errors")
    assert result.num_rows == 0 and "reason" in result.column_names


@pytest.mark.slow
def test_cli_table_prints_brackets_as_data():
    done = run_cli("sql", "SELECT '[/x]' AS \"[b]\", '[bold]hi' AS b")
    assert done.returncode == 0, done.stderr
    assert "[/x]" in done.stdout and "[bold]hi" in done.stdout and "[b]" in done.stdout


# -- the read path: planned files, deletes, pushdown, fallback -----------------------------------
MERGED_SCHEMA = {"topic": "events",
                 "standardized": {"column_map": {"_metadata_idempotencykeyresource": "idempotency_key"}},
                 "curated": {"columns": {"idempotency_key": {"type": "string", "cde": True},
                                         "event_timestamp": {"type": "timestamp", "cde": True},
                                         "qty": {"type": "int"}}}}  # partitioned by bucket(16, idempotency_key)


def keyed(mid: str, key: str, ts: str, qty: int) -> str:
    return envelope(mid, {"_metadata": {"idempotencyKeyResource": key}, "event": {"timestamp": ts}, "qty": qty})


def merged_home(ctx, schemas, tmp_path):
    """curated.events with 20 keys, 10 of them replaced by a newer version: position delete files."""
    write_schema(schemas, MERGED_SCHEMA)
    ingest(ctx, "events", [keyed(f"a{i}", f"k{i}", "2026-01-19T10:00:00Z", 1) for i in range(20)], tmp_path, "1.ndjson")
    run_once(ctx)
    ingest(ctx, "events", [keyed(f"b{i}", f"k{i}", "2026-01-19T11:00:00Z", 2) for i in range(10)], tmp_path, "2.ndjson")
    run_once(ctx)
    return ctx.lake.curated_table("events")


def same_rows(got: pa.Table, expected: pa.Table) -> None:
    assert got.column_names == expected.column_names
    order = [("message_id", "ascending")]
    assert got.sort_by(order).to_pylist() == expected.sort_by(order).to_pylist()


@pytest.mark.slow
def test_duckdb_reads_the_planned_files_minus_position_deletes(ctx, schemas, tmp_path):
    table = merged_home(ctx, schemas, tmp_path)
    plan = plan_query(ctx, "SELECT * FROM curated.events")["curated.events"]
    assert plan.path is ReadPath.DUCKDB and plan.delete_files  # the MERGE's deletes, read by DuckDB
    same_rows(run_sql(ctx, "SELECT * FROM curated.events"), table.scan().to_arrow())
    assert run_sql(ctx, "SELECT count(*) AS n, sum(qty) AS q FROM curated.events").to_pylist() == [{"n": 20, "q": 30}]


@pytest.mark.slow
def test_point_lookup_plans_only_its_bucket_and_the_lockdown_holds(ctx, schemas, tmp_path):
    merged_home(ctx, schemas, tmp_path)
    everything = plan_query(ctx, "SELECT * FROM curated.events")["curated.events"]
    lookup = "SELECT message_id, qty FROM curated.events WHERE idempotency_key = 'k3'"
    one = plan_query(ctx, lookup)["curated.events"]
    assert one.row_filter == EqualTo("idempotency_key", "k3")
    assert 0 < len(one.data_files) < len(everything.data_files) and set(one.data_files) <= set(everything.data_files)
    assert run_sql(ctx, lookup).to_pylist() == [{"message_id": "b3", "qty": 2}]  # the replaced version is deleted
    # conservative: a second reference to the table (it must see every row) pushes nothing
    assert plan_query(ctx, lookup + " AND qty IN (SELECT qty FROM curated.events)")["curated.events"].row_filter \
        == AlwaysTrue()
    # only the planned files are readable: not the table's other files, not anything else
    other = next(scan.local_path(f) for f in everything.data_files if f not in one.data_files)
    for reader in (f"read_parquet('{other}')", "read_csv('/etc/passwd')"):
        with pytest.raises(LeanOpsError, match="disabled by configuration"):
            run_sql(ctx, f"SELECT (SELECT count(*) FROM {reader}) AS n FROM curated.events "
                         "WHERE idempotency_key = 'k3'")


@pytest.mark.slow
def test_a_column_added_later_reads_null_in_older_files(ctx, schemas, tmp_path):
    write_schema(schemas, EVENTS_SCHEMA)
    ingest(ctx, "events", [envelope("m1", {"a": "1"})], tmp_path, "1.ndjson")
    run_once(ctx)
    ingest(ctx, "events", [envelope("m2", {"a": "2", "b": "x"})], tmp_path, "2.ndjson")
    run_once(ctx)
    plan = plan_query(ctx, "SELECT * FROM standardized.events")["standardized.events"]
    assert plan.path is ReadPath.DUCKDB and len(plan.data_files) == 2
    rows = run_sql(ctx, "SELECT message_id, a, b FROM standardized.events ORDER BY 1").to_pylist()
    assert rows == [{"message_id": "m1", "a": "1", "b": None}, {"message_id": "m2", "a": "2", "b": "x"}]
    expected = ctx.lake.standardized_table("events").scan().to_arrow()
    same_rows(run_sql(ctx, "SELECT * FROM standardized.events"), expected)


@pytest.mark.slow
def test_remote_files_fall_back_to_pyiceberg_arrow_stream(ctx, schemas, tmp_path, monkeypatch):
    table = merged_home(ctx, schemas, tmp_path)
    monkeypatch.setattr(scan, "is_local", lambda uri: False)  # as if the warehouse were on S3
    plan = plan_query(ctx, "SELECT * FROM curated.events WHERE qty = 2")["curated.events"]
    assert plan.path is ReadPath.ARROW and "not a local file" in plan.reason and plan.local_files == ()
    same_rows(run_sql(ctx, "SELECT * FROM curated.events"), table.scan().to_arrow())
    assert run_sql(ctx, "SELECT count(*) AS n FROM curated.events WHERE qty = 2").to_pylist() == [{"n": 10}]
    # the stream is opened once per scan: a self-join reads it twice
    pairs = run_sql(ctx, "SELECT count(*) AS n FROM curated.events a JOIN curated.events b USING (message_id)")
    assert pairs.to_pylist() == [{"n": 20}]


@pytest.mark.slow
def test_unmapped_types_fall_back_and_odd_names_are_quoted(ctx):
    ctx.lake.catalog.create_namespace_if_not_exists("curated")
    odd = 'we"ird \'col'
    schema = Schema(NestedField(1, "message_id", StringType(), required=True),
                    NestedField(2, odd, StringType(), required=False),
                    NestedField(3, "filename", StringType(), required=False),
                    NestedField(4, "select", LongType(), required=False))
    table = ctx.lake.catalog.create_table("curated.odd", schema=schema)
    table.append(pa.table({"message_id": ["m1", "m2"], odd: ["a", "b"], "filename": ["f", "g"], "select": [1, 2]},
                          schema=schema.as_arrow()))
    query = """SELECT message_id, "we""ird 'col" AS w, filename, "select" FROM curated.odd WHERE "we""ird 'col" = 'b'"""
    plan = plan_query(ctx, query)["curated.odd"]
    assert plan.path is ReadPath.DUCKDB and plan.row_filter == EqualTo(odd, "b")
    assert run_sql(ctx, query).to_pylist() == [{"message_id": "m2", "w": "b", "filename": "g", "select": 2}]

    blobs = Schema(NestedField(1, "message_id", StringType(), required=True),
                   NestedField(2, "body", BinaryType(), required=False))
    ctx.lake.catalog.create_table("curated.blobs", schema=blobs).append(
        pa.table({"message_id": ["m1"], "body": [b"\x00\x01"]}, schema=blobs.as_arrow()))
    plan = plan_query(ctx, "SELECT * FROM curated.blobs")["curated.blobs"]
    assert plan.path is ReadPath.ARROW and "body" in plan.reason
    assert run_sql(ctx, "SELECT message_id, octet_length(body) AS n FROM curated.blobs").to_pylist() == [
        {"message_id": "m1", "n": 2}]


@pytest.mark.slow
def test_cli_streams_results_of_many_batches():
    query = "SELECT range AS n, 'x' || range AS s FROM range(25000)"  # 3 batches of 10,000 rows
    as_json = run_cli("sql", "--json", query)
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    assert len(rows) == 25000 and rows[-1] == {"n": 24999, "s": "x24999"}
    as_csv = run_cli("sql", "--csv", "--limit", "12345", query)
    lines = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert lines[0] == ["n", "s"] and len(lines) == 12346 and lines[-1] == ["12344", "x12344"]
    assert json.loads(run_cli("sql", "--json", "--limit", "0", query).stdout) == []
    table = run_cli("sql", query)
    assert table.returncode == 0 and "first 1000 rows shown" in table.stderr and "x999" in table.stdout
    assert "x1000 " not in table.stdout
    failing = run_cli("sql", "--json", "SELECT CASE WHEN range < 15000 THEN range ELSE CAST('x' || range AS INTEGER) "
                                       "END AS n FROM range(20000)")  # fails while rows are fetched
    assert failing.returncode == 2 and "Conversion Error" in failing.stderr and "Traceback" not in failing.stderr
