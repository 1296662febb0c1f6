"""Atomic checkpoints: a run killed between its commits neither loses nor duplicates a row on rerun."""
import pytest

from conftest import EVENTS_SCHEMA, envelope, run_cli, write_lines, write_schema
from leanops.context import Context
from leanops.stages.accountability import topic_accounts

pytestmark = pytest.mark.slow


def _state(tmp_path):
    ctx = Context.open(tmp_path / "home", tmp_path / "schemas")
    rows = ctx.lake.standardized_table("events").scan().to_arrow().to_pylist()
    errors = ctx.lake.parse_errors_table().scan().to_arrow().to_pylist()
    mirror = ctx.state.get_checkpoint("events", "standardized")
    accounts = topic_accounts(ctx.lake, "events")
    ctx.close()
    return rows, errors, mirror, accounts


def test_kill_after_data_commit_before_mirror_update(tmp_path, schemas):
    write_schema(schemas, EVENTS_SCHEMA)
    lines = [envelope(f"m{i}", {"i": i}) for i in range(50)] + [envelope("bad", "{x")]
    assert run_cli("ingest", "--topic", "events", str(write_lines(tmp_path / "a.ndjson", lines))).returncode == 0

    died = run_cli("run", "--once", env={"LEANOPS_FAULT": "after-standardized-commit"})
    assert died.returncode == 75, died.stderr
    rows, errors, mirror, _ = _state(tmp_path)
    assert len(rows) == 50 and len(errors) == 1
    assert mirror is None  # the process died before mirroring the checkpoint

    more = [envelope(f"n{i}", {"i": i}) for i in range(5)] + [envelope("m3", {"i": "resent"})]
    assert run_cli("ingest", "--topic", "events", str(write_lines(tmp_path / "b.ndjson", more))).returncode == 0
    rerun = run_cli("run", "--once")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    rows, errors, mirror, accounts = _state(tmp_path)
    ids = [r["message_id"] for r in rows]
    assert len(ids) == len(set(ids)) == 55
    assert len(errors) == 1
    assert mirror is not None and all(a.ok for a in accounts), [a.as_dict() for a in accounts]


def test_kill_between_parse_errors_and_data_commit(tmp_path, schemas):
    write_schema(schemas, EVENTS_SCHEMA)
    lines = [envelope(f"m{i}", {"i": i}) for i in range(20)] + [envelope("bad1", "{x"), envelope("bad2", "[")]
    assert run_cli("ingest", "--topic", "events", str(write_lines(tmp_path / "a.ndjson", lines))).returncode == 0
    died = run_cli("run", "--once", env={"LEANOPS_FAULT": "after-parse-errors-commit"})
    assert died.returncode == 75

    # more data, with another broken record, lands before the rerun
    more = [envelope("m100", {"i": 100}), envelope("bad3", "{y")]
    assert run_cli("ingest", "--topic", "events", str(write_lines(tmp_path / "b.ndjson", more))).returncode == 0
    first = run_cli("run", "--once", "--json")
    assert first.returncode == 0, first.stderr
    second = run_cli("run", "--once")
    assert second.returncode == 0
    rows, errors, _, accounts = _state(tmp_path)
    assert sorted(e["message_id"] for e in errors) == ["bad1", "bad2", "bad3"]
    assert len(rows) == 21 and len({r["message_id"] for r in rows}) == 21
    assert all(a.ok for a in accounts), str([a.as_dict() for a in accounts])
