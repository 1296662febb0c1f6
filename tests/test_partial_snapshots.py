"""Batches that end inside a RAW snapshot (issue 19: memory stays flat however big one ingest is).

An ingest is one RAW commit; with a small roll size it holds many data files. `max_batch_rows` far below
the snapshot makes every Standardized run take the next rows of it, stopping between files or inside one,
and the checkpoint records how many rows of the snapshot were consumed (`leanops.stages.position`).
Through the real stages on real tables: every row arrives exactly once, first-wins dedup holds across the
split, accountability is 100% and `status` pending is right after every batch, and a crash between the
parse-error commit and the data commit of a partial batch is redone exactly.
"""
import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from conftest import EVENTS_SCHEMA, envelope, ingest, standardized_rows, write_schema
from leanops.catalog.tables import SUMMARY_SOURCE_BASE, SUMMARY_SOURCE_ROWS, SUMMARY_SOURCE_SNAPSHOT
from leanops.maintenance.policy import MaintenancePolicy
from leanops.orchestrate.cycle import CycleOptions, run_cycle
from leanops.orchestrate.flow import FlowOptions
from leanops.orchestrate.health import topic_status
from leanops.stages.accountability import topic_accounts
from leanops.stages.checkpoint import position_from_table
from leanops.stages.incremental import added_files, current_snapshot_id
from leanops.stages.position import Position
from leanops.stages.standardized import run_standardized
from leanops.types import RunStatus

pytestmark = pytest.mark.slow

LINES_PER_FILE = 50  # ingest batches of 50 lines, each rolled into a data file of its own
BATCH_ROWS = 120  # 2.4 files a batch: batches stop inside files
CURATED_SCHEMA = {**EVENTS_SCHEMA, "curated": {"merge_key": "idempotency_key", "order_by": "n",
                                               "columns": {"idempotency_key": {"type": "string", "cde": True},
                                                           "n": {"type": "int"}}}}


def small_files(ctx, max_rows: int = BATCH_ROWS) -> None:
    """RAW data files of LINES_PER_FILE lines (a roll size far below one ingest batch), small batches."""
    ctx.settings = ctx.settings.model_copy(update={
        "max_batch_rows": max_rows, "ingest_batch_lines": LINES_PER_FILE,
        "maintenance": MaintenancePolicy(target_file_mb=0.001, enabled=False)})


def events(prefix: str, count: int) -> list[str]:
    return [envelope(f"{prefix}{i}", {"n": i, "_metadata": {"idempotencyKeyResource": f"{prefix}{i}"}})
            for i in range(count)]


def standardize(ctx):
    return run_standardized(ctx.lake, ctx.settings, "events", ctx.schema("events").standardized)


def checkpoint(ctx) -> Position:
    return position_from_table(ctx.lake.standardized_table("events"), "events")


def assert_exact(ctx, raw_rows: int) -> None:
    """Every layer at 100%, and the pending rows of accountability and `status` are what is left of RAW."""
    accounts = {a.layer: a for a in topic_accounts(ctx.lake, "events")}
    assert all(a.ok for a in accounts.values()), [a.as_dict() for a in accounts.values()]
    consumed = accounts["standardized"].records_in
    assert accounts["standardized"].pending == raw_rows - consumed
    assert topic_status(ctx, "events")["pending"]["standardized"] == raw_rows - consumed


def test_a_snapshot_is_consumed_file_by_file_exactly_once(ctx, schemas, tmp_path):
    write_schema(schemas, EVENTS_SCHEMA)
    small_files(ctx)
    first = events("a", 600)
    first[130] = envelope("a5", {"n": "resent, later file"})  # a duplicate of line 5, in the 3rd file
    first[310] = envelope("broken", "{not json")
    ingest(ctx, "events", first, tmp_path, "a.ndjson")
    raw = ctx.lake.raw_table("events")
    snapshot = current_snapshot_id(raw)
    files = added_files(raw, [snapshot])
    assert len(files) == 12
    # the files of a snapshot count in ingestion order: their rows are the input lines, in order
    ids = [m for path in files for m in pq.read_table(path, columns=["message_id"]).column(0).to_pylist()]
    assert ids == [json.loads(line)["message_id"] for line in first]

    seen = []
    for batch in range(1, 6):  # the first range: the snapshot's whole content, 120 rows a run
        result = standardize(ctx)
        assert (result.status, result.records_in) == (RunStatus.SUCCEEDED, 120)
        position = checkpoint(ctx)
        expected = Position(snapshot) if batch == 5 else Position(snapshot, 120 * batch, base=True)
        assert position == expected
        seen.append(result)
        assert_exact(ctx, 600)
    assert standardize(ctx).status == RunStatus.NO_NEW_DATA

    rows = {r["message_id"]: r for r in standardized_rows(ctx, "events")}
    assert rows["a5"]["n"] == "5"  # first wins, though its duplicate came in another batch
    assert len(rows) == 598 and "broken" not in rows  # 600 lines - the duplicate - the parse error
    assert [r.records_duplicates for r in seen] == [0, 1, 0, 0, 0]
    assert [r.records_errors for r in seen] == [0, 0, 1, 0, 0]

    # a later ingest: ranges inside a snapshot that is not a first range's base (301 rows in 7 files)
    second = events("b", 300) + [envelope("a7", {"n": "resent, next ingest"})]
    ingest(ctx, "events", second, tmp_path, "b.ndjson")
    later = current_snapshot_id(ctx.lake.raw_table("events"))
    taken = []
    for batch in range(1, 4):
        taken.append(standardize(ctx))
        assert checkpoint(ctx) == (Position(later) if batch == 3 else Position(later, 120 * batch))
        assert_exact(ctx, 901)
    assert [r.records_in for r in taken] == [120, 120, 61]
    assert [r.records_duplicates for r in taken] == [0, 0, 1]
    assert standardize(ctx).status == RunStatus.NO_NEW_DATA
    rows = {r["message_id"]: r for r in standardized_rows(ctx, "events")}
    assert len(rows) == 898 and rows["a7"]["n"] == "7"
    assert_exact(ctx, 901)


def test_checkpoint_keys_in_the_summary(ctx, schemas, tmp_path):
    """The format docs/standardized.md describes: rows consumed next to the snapshot id, absent at the end."""
    write_schema(schemas, EVENTS_SCHEMA)
    small_files(ctx)
    ingest(ctx, "events", events("a", 200), tmp_path, "a.ndjson")
    snapshot = current_snapshot_id(ctx.lake.raw_table("events"))
    summaries = []
    for _ in range(2):
        standardize(ctx)
        summaries.append(ctx.lake.standardized_table("events").current_snapshot().summary.additional_properties)
    assert (summaries[0][SUMMARY_SOURCE_SNAPSHOT], summaries[0][SUMMARY_SOURCE_ROWS],
            summaries[0][SUMMARY_SOURCE_BASE]) == (str(snapshot), "120", "true")
    assert summaries[1]["leanops.source-from-rows"] == "120" and summaries[1]["leanops.source-from-base"] == "true"
    assert summaries[1][SUMMARY_SOURCE_SNAPSHOT] == str(snapshot)
    assert SUMMARY_SOURCE_ROWS not in summaries[1] and SUMMARY_SOURCE_BASE not in summaries[1]


def test_the_flow_drains_a_big_snapshot_in_one_cycle(ctx, schemas, tmp_path):
    """The orchestrator sees a checkpoint inside the RAW head as data still to read, and loops until done;
    Curated and `status` follow every batch."""
    write_schema(schemas, CURATED_SCHEMA)
    small_files(ctx)
    ingest(ctx, "events", events("a", 500), tmp_path, "a.ndjson")
    report = run_cycle(ctx, CycleOptions(flow=FlowOptions(backlog_threshold=0, max_loops=20)))
    [outcome] = report.outcomes
    assert outcome.status == RunStatus.SUCCEEDED, outcome.message
    standardized = [s for s in outcome.stages if s.stage == "standardized"]
    assert [s.records_in for s in standardized] == [120, 120, 120, 120, 20]
    assert sum(s.records_written for s in outcome.stages if s.stage == "curated") == 500
    assert_exact(ctx, 500)
    status = topic_status(ctx, "events")
    assert status["pending"] == {"standardized": 0, "curated": 0}
    assert status["checkpoints"]["standardized"] == current_snapshot_id(ctx.lake.raw_table("events"))
    again = run_cycle(ctx).outcomes[0]
    assert again.status == RunStatus.NO_NEW_DATA


_STAGE_IN_A_PROCESS = """
import json, sys
from leanops.context import Context
from leanops.maintenance.policy import MaintenancePolicy
from leanops.stages.standardized import run_standardized
ctx = Context.open(sys.argv[1], sys.argv[2])
ctx.settings = ctx.settings.model_copy(update={"max_batch_rows": int(sys.argv[3]),
                                               "maintenance": MaintenancePolicy(enabled=False)})
result = run_standardized(ctx.lake, ctx.settings, "events", ctx.schema("events").standardized)
print(json.dumps(result.as_dict()))
"""


def test_a_crash_inside_a_partial_batch_is_redone_exactly(ctx, schemas, tmp_path):
    """The process dies after committing a partial batch's parse errors, before its data commit. More RAW
    arrives and the rerun may take far more rows: it redoes exactly the interrupted rows, once."""
    write_schema(schemas, EVENTS_SCHEMA)
    small_files(ctx)
    lines = events("a", 400)
    for i in (10, 130, 160):  # one in the first batch, two in the second (rows 120-239)
        lines[i] = envelope(f"bad{i}", "{not json")
    ingest(ctx, "events", lines, tmp_path, "a.ndjson")
    snapshot = current_snapshot_id(ctx.lake.raw_table("events"))
    assert standardize(ctx).records_in == 120

    env = {**os.environ, "LEANOPS_FAULT": "after-parse-errors-commit"}
    died = subprocess.run([sys.executable, "-c", _STAGE_IN_A_PROCESS, str(tmp_path / "home"), str(schemas),
                           str(BATCH_ROWS)], env=env, capture_output=True, text=True, timeout=300)
    assert died.returncode == 75, died.stderr[-2000:]
    assert checkpoint(ctx) == Position(snapshot, 120, base=True)  # the data commit never happened
    errors = ctx.lake.parse_errors_table().scan().to_arrow().column("message_id").to_pylist()
    assert sorted(errors) == ["bad10", "bad130", "bad160"]  # committed already, marked with their range

    ingest(ctx, "events", events("b", 100), tmp_path, "b.ndjson")
    ctx.settings = ctx.settings.model_copy(update={"max_batch_rows": 10_000})  # a fresh plan would take it all
    redo = standardize(ctx)
    assert (redo.records_in, redo.records_errors, redo.records_written) == (120, 2, 118)
    assert checkpoint(ctx) == Position(snapshot, 240, base=True)
    rest = standardize(ctx)
    assert rest.records_in == 260  # the snapshot's other 160 rows, then the next ingest
    assert standardize(ctx).status == RunStatus.NO_NEW_DATA

    errors = ctx.lake.parse_errors_table().scan().to_arrow().column("message_id").to_pylist()
    assert sorted(errors) == ["bad10", "bad130", "bad160"]  # none written twice
    ids = [r["message_id"] for r in standardized_rows(ctx, "events")]
    assert len(ids) == len(set(ids)) == 497
    assert_exact(ctx, 500)


@pytest.mark.spark
def test_spark_takes_turns_inside_a_snapshot(tmp_path):
    """The Spark engine plans the same batches (the embedded planning) and goes on from a checkpoint inside
    a snapshot, a first range's base and a later one, writing the same checkpoint keys: a home where the
    engines take turns batch by batch ends like an embedded-only one, after every batch."""
    pytest.importorskip("pyspark", reason="pyspark not installed: pip install 'lean-ops[spark]'")
    from leanops.context import Context

    first = events("a", 400)
    first[30], first[170] = envelope("bad30", "{x"), envelope("a3", {"n": "resent, third file"})
    second = events("b", 300)
    second[120] = envelope("a9", {"n": "resent, next ingest"})
    turns = {"embedded": ["embedded"] * 7, "mixed": ["spark", "embedded", "spark", "embedded",
                                                     "embedded", "spark", "spark"]}
    facts: dict[str, list] = {}
    for name, plan in turns.items():
        (tmp_path / name / "schemas").mkdir(parents=True)
        write_schema(tmp_path / name / "schemas", EVENTS_SCHEMA)
        contexts = {e: Context.open(tmp_path / name / "home", tmp_path / name / "schemas", engine=e) for e in set(plan)}
        try:
            for c in contexts.values():
                small_files(c)
            any_ctx = contexts["embedded"]
            facts[name] = []
            for index, engine in enumerate(plan):
                if index in (0, 4):
                    ingest(any_ctx, "events", first if index == 0 else second, tmp_path / name, f"{index}.ndjson")
                c = contexts[engine]
                result = c.engine.standardized(c.lake, c.settings, "events", c.schema("events").standardized)
                table, raw = c.lake.standardized_table("events"), c.lake.raw_table("events")
                summary = table.current_snapshot().summary.additional_properties
                history = [s.snapshot_id for s in sorted(raw.snapshots(), key=lambda s: s.sequence_number)]
                facts[name].append((
                    result.records_in, result.records_written, result.records_errors, result.records_duplicates,
                    history.index(int(summary[SUMMARY_SOURCE_SNAPSHOT])), summary.get(SUMMARY_SOURCE_ROWS),
                    summary.get(SUMMARY_SOURCE_BASE), summary.get("leanops.source-from-rows"),
                    sorted(r["message_id"] for r in table.scan().to_arrow().to_pylist()),
                    [a.ok for a in topic_accounts(c.lake, "events")]))
        finally:
            for c in contexts.values():
                c.close()
    assert facts["mixed"] == facts["embedded"]
    assert [f[0] for f in facts["embedded"]] == [120, 120, 120, 40, 120, 120, 60]
    assert [(f[4], f[5], f[6]) for f in facts["embedded"]] == [
        (0, "120", "true"), (0, "240", "true"), (0, "360", "true"), (0, None, None), (1, "120", None),
        (1, "240", None), (1, None, None)]
    assert [f[3] for f in facts["embedded"]] == [0, 1, 0, 0, 0, 1, 0]  # a3 (line 170), a9 (next ingest's 120)
    assert all(all(f[9]) for f in facts["embedded"])


@pytest.mark.parametrize("first, end", [(0, 7), (5, 25), (10, 20), (33, 40)])
def test_a_part_of_a_file_is_read_alike_locally_and_from_an_object_store(tmp_path, first, end):
    """register_parquet's row ranges: DuckDB's row-group pruning (local files) and pyarrow's row-group reads
    (the object-store path, `read_arrow`) give the same rows with their positions in the file."""
    import duckdb
    import pyarrow as pa
    from pyiceberg.io.pyarrow import PyArrowFileIO

    from leanops.catalog.files import read_arrow, register_parquet
    from leanops.helper_columns import FILE, POS

    path = str(tmp_path / "f.parquet")
    pq.write_table(pa.table({"message_id": [f"m{i}" for i in range(40)]}), path, row_group_size=10)
    con = duckdb.connect()
    register_parquet(con, "rows", [path], None, ["message_id"], row_ranges={path: (first, end)})
    local = con.execute(f"SELECT message_id, {POS} FROM rows ORDER BY {POS}").fetchall()
    remote = read_arrow([path], PyArrowFileIO(), ["message_id"], {path: (first, end)})
    assert local == [(f"m{i}", i) for i in range(first, end)]
    assert list(zip(remote["message_id"].to_pylist(), remote[POS.name].to_pylist())) == local
    assert set(remote[FILE.name].to_pylist()) == {path}
