"""Payload keys named like the stages' helper columns or the readers' own columns reach every layer unchanged.

The stages add columns of their own to the rows they work on (ingestion order, rank, failures, file and
position, ...) and the readers add theirs (DuckDB's `filename` / `file_row_number`, Iceberg's `_file` /
`_pos`). All of them live where no data column can be (leanops.helper_columns). Each name the stages used
before is sent as a payload key — undeclared, declared in the schema file, and as the merge key — through
Standardized, Curated (a batch that replaces and supersedes stored rows), Semantic, `leanops sql` over
position deletes and compaction: the values must arrive unchanged and every layer account for 100%.
"""
from __future__ import annotations

import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import envelope, ingest, write_schema
from leanops.catalog.files import read_by_field_id_sql, register_parquet
from leanops.helper_columns import FILE, POS, Helper, sql_name
from leanops.maintenance.run import maintain_topic
from leanops.naming import ICEBERG_METADATA_COLUMNS, column_name, overflow_name
from leanops.runner import run_once
from leanops.sqlview import run_sql
from leanops.stages.accountability import topic_accounts

TOPIC = "names"
INTERNAL_NAMES = [
    # the helper columns of the stages before leanops.helper_columns (embedded and Spark)
    "ord", "__rank", "__wins", "__f", "__failures", "__cast_failures", "__key_text", "__file", "__pos",
    "__k", "__ob", "k", "ob", "file", "pos", "rnk", "__s", "__j", "__idx", "__path", "__replaces", "__s_key",
    "__error_reason", "__leanops_file",
    # DuckDB read_parquet's own columns (virtual, or added by its options)
    "filename", "file_row_number", "file_index",
    # Iceberg's metadata columns: reserved, a payload `_file` lands in `_file__2`
    "_file", "_pos",
]
# every name at once (one payload) adds the rest of the old helper names, today's, and Iceberg's other
# metadata columns; `$file` / `$pos` are left out there, they would collide with `_file` / `_pos`
ALL_NAMES = INTERNAL_NAMES + ["ob_text", "f", "__s_ob", "__s_ing", "__s_id", "__error_failures", "$ord",
                              "_deleted", "_spec_id", "_partition", "_row_id", "_last_updated_sequence_number"]
MODES = ("undeclared", "declared", "merge_key")


def stored_name(key: str) -> str:
    """The Standardized column of a top-level payload key."""
    name = column_name((key,))
    return overflow_name(name, 2) if name in ICEBERG_METADATA_COLUMNS else name


def schema_doc(column: str, mode: str) -> dict:
    key = column if mode == "merge_key" else "id"
    columns = {key: {"type": "string", "cde": True}, "ts": {"type": "timestamp", "cde": True}}
    semantic = {"ts": {"type": "timestamp"}}
    if mode == "declared":
        columns[column] = {"type": "string"}
        semantic[column] = {"type": "string"}
    return {"topic": TOPIC, "standardized": {},
            "curated": {"merge_key": key, "order_by": "ts", "columns": columns},
            "semantic": {"merge_key": key, "order_by": "ts", "columns": semantic},
            "maintenance": {"enabled": False}}  # compaction runs below, by hand


def record(message_id: str, payload_key: str, mode: str, key: str, ts: str, value: str) -> tuple[str, dict]:
    payload = {payload_key: key, "ts": ts} if mode == "merge_key" else {"id": key, "ts": ts, payload_key: value}
    return message_id, payload


BATCHES = [  # (message_id, key, ts, value): one batch per ingest
    [("m1", "k1", "2026-01-19T10:00:00Z", "v1"),
     ("m2", "k2", "2026-01-19T10:00:00Z", "v2"),
     ("m3", "k1", "2026-01-19T09:00:00Z", "v1-older"),   # an older version in the batch: superseded
     ("m4", "k3", "yesterday", "v3")],                   # not a timestamp: curated.errors
    [("m5", "k1", "2026-01-19T11:00:00Z", "v1-newer"),   # replaces the stored k1 (a position delete)
     ("m6", "k2", "2026-01-19T08:00:00Z", "v2-late"),    # older than the stored k2: superseded
     ("m7", "k4", "2026-01-19T10:00:00Z", "v4")],
]
LATEST = {"k1": "m5", "k2": "m2", "k4": "m7"}


def sent(mode: str, payload_key: str) -> dict[str, str]:
    """message_id -> the value the payload key carried."""
    return {m: (k if mode == "merge_key" else v) for batch in BATCHES for m, k, _, v in batch}


def by_message(rows: list[dict], column: str) -> dict[str, str]:
    return {r["message_id"]: r[column] for r in rows}


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("payload_key", INTERNAL_NAMES)
def test_payload_key_named_like_an_internal_column_arrives_unchanged(ctx, schemas, tmp_path, payload_key, mode):
    column = stored_name(payload_key)
    write_schema(schemas, schema_doc(column, mode))
    for n, batch in enumerate(BATCHES):
        lines = [envelope(*record(m, payload_key, mode, k, ts, v)) for m, k, ts, v in batch]
        ingest(ctx, TOPIC, lines, tmp_path, f"{n}.ndjson")
        [outcome] = run_once(ctx)
        assert outcome.status.value == "SUCCEEDED", outcome.message
        assert [s.stage for s in outcome.stages] == ["standardized", "curated", "semantic"]

    values = sent(mode, payload_key)
    standardized = ctx.lake.standardized_table(TOPIC).scan().to_arrow().to_pylist()
    assert by_message(standardized, column) == values
    curated = ctx.lake.curated_table(TOPIC).scan().to_arrow().to_pylist()
    assert by_message(curated, column) == {m: values[m] for m in LATEST.values()}
    errors = ctx.lake.curated_errors_table().scan().to_arrow().to_pylist()
    assert [(e["message_id"], e["idempotency_key"], e["column_name"]) for e in errors] == [("m4", "k3", "ts")]
    semantic = ctx.lake.semantic_table(TOPIC).scan().to_arrow().to_pylist()
    assert sorted(r["message_id"] for r in semantic) == sorted(LATEST.values())
    if mode != "undeclared":
        assert by_message(semantic, column) == {m: values[m] for m in LATEST.values()}
    else:
        assert column not in semantic[0]  # governed: an undeclared column is drift, never a column
        assert column in {d.column_name for d in ctx.state.list_drift(TOPIC)}

    # `leanops sql` reads Curated's data files with their position deletes applied
    quoted = '"' + column + '"'
    read = run_sql(ctx, f"SELECT message_id, {quoted} FROM curated.{TOPIC}").to_pylist()
    assert by_message(read, column) == by_message(curated, column)
    # compaction reads every file with its positions to leave the deleted rows out
    report = maintain_topic(ctx, TOPIC, actions=("compact",))
    assert report.status == "SUCCEEDED", json.dumps(report.as_dict(), default=str)
    rewritten = {t.table: t.actions["compact"] for t in report.tables}
    assert rewritten[f"curated.{TOPIC}"]["deleted_rows_applied"] == 1, rewritten
    for table in (ctx.lake.standardized_table(TOPIC), ctx.lake.curated_table(TOPIC), ctx.lake.semantic_table(TOPIC)):
        table.refresh()
    assert by_message(ctx.lake.standardized_table(TOPIC).scan().to_arrow().to_pylist(), column) == values
    assert by_message(ctx.lake.curated_table(TOPIC).scan().to_arrow().to_pylist(), column) == by_message(curated, column)
    accounts = topic_accounts(ctx.lake, TOPIC)
    assert [a.layer for a in accounts][-3:] == ["standardized", "curated", "semantic"]
    assert all(a.ok for a in accounts), [a.as_dict() for a in accounts]


@pytest.mark.parametrize("name", sorted(ICEBERG_METADATA_COLUMNS))
def test_schema_file_cannot_declare_an_iceberg_metadata_column(schemas, name):
    from leanops.errors import SchemaFileError
    from leanops.schema_file import load_topic_schema
    doc = schema_doc("x", "declared")
    doc["curated"]["columns"][name] = {"type": "string"}
    write_schema(schemas, doc)
    with pytest.raises(SchemaFileError, match="reserved for an Iceberg metadata column"):
        load_topic_schema(schemas, TOPIC)


# -- every name in one payload, on both engines ---------------------------------------------------------
ALL_KEY, ALL_ORDER = "file_row_number", "__ob"  # merge key and order_by, named like internal columns too
ALL_DECLARED = [n for n in ALL_NAMES[::2] if n not in (ALL_KEY, ALL_ORDER)]  # every other name declared


def all_names_doc() -> dict:
    key, order = stored_name(ALL_KEY), stored_name(ALL_ORDER)
    declared = {stored_name(n): {"type": "string"} for n in ALL_DECLARED}
    return {"topic": TOPIC, "standardized": {},
            "curated": {"merge_key": key, "order_by": order,
                        "columns": {key: {"type": "string", "cde": True}, order: {"type": "timestamp", "cde": True},
                                    **declared}},
            "semantic": {"merge_key": key, "order_by": order, "columns": {order: {"type": "timestamp"}, **declared}},
            "maintenance": {"enabled": False}}


def all_names_payload(message_id: str, key: str, ts: str) -> dict:
    others = {n: f"{n}={message_id}" for n in ALL_NAMES if n not in (ALL_KEY, ALL_ORDER)}
    return {ALL_KEY: key, ALL_ORDER: ts, **others}


def run_all_names(ctx, schemas, tmp_path) -> dict:
    """Both batches through every stage on the context's engine; every table's rows, clocks left out."""
    write_schema(schemas, all_names_doc())
    for n, batch in enumerate(BATCHES):
        lines = [envelope(m, all_names_payload(m, k, ts)) for m, k, ts, _ in batch]
        ingest(ctx, TOPIC, lines, tmp_path, f"{ctx.settings.home.name}-{n}.ndjson")
        [outcome] = run_once(ctx)
        assert outcome.status.value == "SUCCEEDED", outcome.message
        assert [s.stage for s in outcome.stages] == ["standardized", "curated", "semantic"]
    accounts = topic_accounts(ctx.lake, TOPIC)
    assert all(a.ok for a in accounts), [a.as_dict() for a in accounts]
    state = {}
    for ident in (f"standardized.{TOPIC}", f"curated.{TOPIC}", "curated.errors", f"semantic.{TOPIC}"):
        rows = ctx.lake.load(ident).scan().to_arrow().to_pylist()
        state[ident] = {r["message_id"]: {k: v for k, v in r.items() if k not in ("ingestion_ts", "error_ts")}
                        for r in rows}
    return state


def check_all_names(state: dict) -> None:
    names = [n for n in ALL_NAMES if n not in (ALL_KEY, ALL_ORDER)]
    standardized, curated = state[f"standardized.{TOPIC}"], state[f"curated.{TOPIC}"]
    assert set(standardized) == {m for batch in BATCHES for m, *_ in batch}
    for message_id, row in standardized.items():
        assert {n: row[stored_name(n)] for n in names} == {n: f"{n}={message_id}" for n in names}
    assert set(curated) == set(LATEST.values())
    for key, message_id in LATEST.items():
        row = curated[message_id]
        assert row[stored_name(ALL_KEY)] == key
        assert {n: row[stored_name(n)] for n in names} == {n: f"{n}={message_id}" for n in names}
    assert [(e["idempotency_key"], e["column_name"]) for e in state["curated.errors"].values()] == [
        ("k3", stored_name(ALL_ORDER))]
    semantic = state[f"semantic.{TOPIC}"]
    assert set(semantic) == set(LATEST.values())
    for message_id, row in semantic.items():
        assert {n: row[stored_name(n)] for n in ALL_DECLARED} == {n: f"{n}={message_id}" for n in ALL_DECLARED}


@pytest.mark.slow
def test_every_internal_name_in_one_payload(ctx, schemas, tmp_path):
    check_all_names(run_all_names(ctx, schemas, tmp_path))


@pytest.mark.spark
@pytest.mark.slow
def test_every_internal_name_in_one_payload_on_spark_as_embedded(tmp_path):
    from leanops.context import Context
    states = {}
    for engine in ("embedded", "spark"):
        schemas = tmp_path / engine / "schemas"
        schemas.mkdir(parents=True)
        ctx = Context.open(tmp_path / engine / "home", schemas, engine=engine)
        try:
            states[engine] = run_all_names(ctx, schemas, tmp_path)
        finally:
            ctx.close()
    check_all_names(states["spark"])
    assert states["spark"] == states["embedded"]


# -- the readers, alone ----------------------------------------------------------------------------------
def test_readers_name_file_and_position_apart_from_data_columns_so_named(tmp_path):
    """Parquet files whose data columns are called `filename` and `file_row_number` (and one file without
    them): the data comes back as data, the file and position as FILE and POS, read by name or field id."""
    from pyiceberg.schema import Schema
    from pyiceberg.types import LongType, NestedField, StringType
    schema = Schema(NestedField(1, "filename", StringType()), NestedField(2, "file_row_number", LongType()))
    paths = [str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")]
    pq.write_table(pa.table({"filename": ["x", "y"], "file_row_number": [7, 8]}, schema.as_arrow()), paths[0])
    pq.write_table(pa.table({"other": ["z"]}), paths[1])
    with duckdb.connect() as con:
        register_parquet(con, "by_name", paths)
        rows = con.execute(f"SELECT filename, file_row_number, other, {FILE}, {POS} FROM by_name "
                           f"ORDER BY {FILE}, {POS}").fetchall()
        assert rows == [("x", 7, None, paths[0], 0), ("y", 8, None, paths[0], 1), (None, None, "z", paths[1], 0)]
        by_id = read_by_field_id_sql(paths[:1], schema)
        rows = con.execute(f"SELECT filename, file_row_number, {FILE}, {POS} FROM {by_id} ORDER BY {POS}").fetchall()
        assert rows == [("x", 7, paths[0], 0), ("y", 8, paths[0], 1)]


def test_helper_names_are_outside_every_data_name():
    assert str(FILE) == '"$file"' and FILE.spark == "`$file`"
    assert sql_name("file_row_number") == '"file_row_number"' and sql_name(POS.name) == '"$pos"'
    for bad in ("ord", "$", "$a b", 'x"y'):
        with pytest.raises(ValueError):
            Helper(bad)
    with pytest.raises(ValueError, match="unsafe"):
        sql_name('a"; DROP TABLE x; --')
    assert column_name(("$ord",)) == "_ord"  # a payload key spelled like a helper is a plain name
