"""The historical rebuilder: NUCLEAR_RESET end to end on a topic with data."""
import pytest

from conftest import envelope, ingest, run_cli, write_schema
from leanops.schema.rebuild import rebuild
from leanops.stages.accountability import topic_accounts
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
