"""The historical rebuilder: NUCLEAR_RESET end to end on a topic with data."""
import json

import pytest
from pyiceberg.expressions import EqualTo

from conftest import envelope, ingest, run_cli, write_schema
from leanops.schema.rebuild import rebuild
from leanops.stages.accountability import topic_accounts
from leanops.stages.incremental import data_head_id
from leanops.runner import run_once
from leanops.types import FlowControl

pytestmark = pytest.mark.slow

OLD = {"topic": "events", "standardized": {"column_map": {"_metadata_idempotencykeyresource": "idempotency_key"}},
       "curated": {"columns": {"idempotency_key": {"type": "string", "cde": True},
                               "event_timestamp": {"type": "timestamp", "cde": True},
                               "qty": {"type": "string"}}}}
NEW = {**OLD, "curated": {"columns": {**OLD["curated"]["columns"], "qty": {"type": "int"}}},
       "change": {"kind": "NUCLEAR_RESET", "reason": "qty becomes an int"}}


def event(mid, key, qty, minute=0):
    return envelope(mid, {"_metadata": {"idempotencyKeyResource": key},
                          "event": {"timestamp": f"2026-01-19T10:{minute:02d}:00Z"}, "qty": qty})


def test_nuclear_reset_rebuilds_history_and_catches_up(ctx, schemas, tmp_path):
    write_schema(schemas, OLD)
    ingest(ctx, "events", [event(f"m{i}", f"k{i}", str(i)) for i in range(50)] + ["not json", event("bad", "kb", "x")],
           tmp_path, "1.ndjson")
    ingest(ctx, "events", [event("m0", "k0", "0"), event("c1", "k1", "100", minute=5)], tmp_path, "2.ndjson")
    run_once(ctx)
    assert ctx.lake.curated_table("events").schema().find_field("qty").field_type.__class__.__name__ == "StringType"

    write_schema(schemas, NEW)
    arrived = []

    def during(result):  # events land in RAW while the rebuild runs
        if not arrived:
            arrived.append(ingest(ctx, "events", [event("late1", "k7", "700", minute=9), event("late2", "z", "1")],
                                  tmp_path, "3.ndjson"))

    report = rebuild(ctx, "events", on_batch=during)
    assert report.status == "SUCCEEDED", report.error
    assert ctx.state.get_topic("events").flow_control_flag == FlowControl.ENABLED
    archived = ctx.lake.load(f"standardized.events_{report.archive_suffix}")
    assert archived is not None and len(archived.scan().to_arrow()) == 52  # 50 + bad + c1
    assert ctx.lake.load(f"curated.events_{report.archive_suffix}") is not None
    rows = {r["idempotency_key"]: r for r in ctx.lake.curated_table("events").scan().to_arrow().to_pylist()}
    assert rows["k1"]["qty"] == 100 and isinstance(rows["k3"]["qty"], int)  # new schema, history replayed
    assert "z" not in rows  # arrived after the pinned snapshot: the next normal run takes it
    assert all(a.ok for a in topic_accounts(ctx.lake, "events")), [a.as_dict() for a in topic_accounts(ctx.lake, "events")]

    run_once(ctx)
    rows = {r["idempotency_key"]: r for r in ctx.lake.curated_table("events").scan().to_arrow().to_pylist()}
    assert rows["z"]["qty"] == 1 and rows["k7"]["qty"] == 700
    std = ctx.lake.standardized_table("events").scan().to_arrow().column("message_id").to_pylist()
    assert len(std) == len(set(std)) == 54  # 52 + late1 + late2, each exactly once
    assert all(a.ok for a in topic_accounts(ctx.lake, "events"))


def test_failed_rebuild_leaves_topic_paused_and_resumes(ctx, schemas, tmp_path, monkeypatch):
    write_schema(schemas, OLD)
    ingest(ctx, "events", [event(f"m{i}", f"k{i}", str(i)) for i in range(10)], tmp_path)
    run_once(ctx)
    write_schema(schemas, NEW)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("leanops.stages.curated.run_curated", boom)
    report = rebuild(ctx, "events")
    assert report.status == "FAILED" and "disk full" in report.error
    assert ctx.state.get_topic("events").flow_control_flag == FlowControl.PAUSED
    monkeypatch.undo()
    monkeypatch.setenv("LEANOPS_HOME", str(tmp_path / "home"))
    again = rebuild(ctx, "events")
    assert again.status == "SUCCEEDED" and again.archive_suffix == report.archive_suffix  # resumed, not re-archived
    assert len(ctx.lake.curated_table("events").scan().to_arrow()) == 10
    assert all(a.ok for a in topic_accounts(ctx.lake, "events"))


def test_rebuild_cli(ctx, schemas, tmp_path):
    write_schema(schemas, OLD)
    ingest(ctx, "events", [event(f"m{i}", f"k{i}", str(i)) for i in range(5)], tmp_path)
    run_once(ctx)
    done = run_cli("rebuild", "events", "--json")
    assert done.returncode == 0, done.stderr
    assert run_cli("rebuild", "nope").returncode == 2


def _wedge_history(ctx, schemas, tmp_path):
    """Two runs under OLD: parse errors, and a curated error only in the first run (its error commit starts
    from "", which a new Curated table's first run would take for its own orphan if it were not moved)."""
    write_schema(schemas, OLD)
    ingest(ctx, "events", [event(f"m{i}", f"k{i}", str(i)) for i in range(20)]
           + [envelope("pe1", "{x"), envelope("nokey", {"qty": "1"}), event("bad", "kb", "x")], tmp_path, "1.ndjson")
    run_once(ctx)
    ingest(ctx, "events", [event(f"n{i}", f"k{i}", str(i + 100), minute=1) for i in range(5)]
           + [envelope("pe2", "[1"), event("bad2", "kb2", "x")], tmp_path, "2.ndjson")
    run_once(ctx)
    write_schema(schemas, NEW)


def _assert_rebuilt(ctx):
    """Curated complete under NEW, the new history's errors in place, every layer accounted."""
    rows = {r["idempotency_key"]: r["qty"] for r in ctx.lake.curated_table("events").scan().to_arrow().to_pylist()}
    assert rows == {**{f"k{i}": i for i in range(5, 20)}, **{f"k{i}": i + 100 for i in range(5)}}
    curated_errors = ctx.lake.curated_errors_table().scan(row_filter=EqualTo("topic_name", "events")).to_arrow()
    assert sorted(curated_errors["message_id"].to_pylist()) == ["bad", "bad2", "nokey"]
    parse_errors = ctx.lake.parse_errors_table().scan(row_filter=EqualTo("topic_name", "events")).to_arrow()
    assert sorted(parse_errors["message_id"].to_pylist()) == ["pe1", "pe2"]
    assert ctx.state.get_topic("events").flow_control_flag == FlowControl.ENABLED
    accounts = topic_accounts(ctx.lake, "events")
    assert all(a.ok for a in accounts), [a.as_dict() for a in accounts]


def test_kill_after_archive_rename_before_errors_move_then_rebuild_resumes(ctx, schemas, tmp_path):
    """Issue 18: a rebuild killed between renaming the tables and moving the error rows wedged the topic
    (every rerun failed with CheckpointLostError). Running `leanops rebuild` again now finishes it."""
    _wedge_history(ctx, schemas, tmp_path)
    died = run_cli("rebuild", "events", env={"LEANOPS_FAULT": "rebuild-after-renames"})
    assert died.returncode == 75, died.stdout + died.stderr
    record = ctx.state.get_rebuild("events")
    assert record["status"] == "ARCHIVING"
    assert ctx.lake.standardized_table("events") is None and ctx.lake.curated_table("events") is None
    assert ctx.lake.load(f"curated.events_{record['archive_suffix']}") is not None
    assert ctx.lake.parse_errors_table().scan(row_filter=EqualTo("topic_name", "events")).to_arrow().num_rows == 2
    assert ctx.state.get_topic("events").flow_control_flag == FlowControl.PAUSED

    again = run_cli("rebuild", "events", "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout)["archive_suffix"] == record["archive_suffix"]  # resumed, not started over
    _assert_rebuilt(ctx)
    archived = ctx.lake.load(f"standardized.parse_errors_events_{record['archive_suffix']}")
    assert sorted(archived.scan().to_arrow()["message_id"].to_pylist()) == ["pe1", "pe2"]  # moved once
    assert ctx.state.get_rebuild("events")["status"] == "SUCCEEDED"


def test_a_rebuild_wedged_by_an_older_release_starts_over(ctx, schemas, tmp_path):
    """The state the wedge left before the journal: tables renamed, error rows not moved, a FAILED record
    (the rerun's CheckpointLostError). `leanops rebuild` starts over under a new suffix and finishes."""
    _wedge_history(ctx, schemas, tmp_path)
    ctx.state.set_flow_control("events", FlowControl.PAUSED)
    ctx.state.put_rebuild("events", "archive_old", data_head_id(ctx.lake.raw_table("events")), "FAILED",
                          "CheckpointLostError: ...")
    for ident in ("standardized.events", "curated.events"):
        ctx.lake.catalog.rename_table(ident, f"{ident}_archive_old")
    report = rebuild(ctx, "events")
    assert report.status == "SUCCEEDED", report.error
    assert report.archive_suffix != "archive_old"
    _assert_rebuilt(ctx)
    assert ctx.lake.load("curated.events_archive_old") is not None  # the old archive is kept as it was
