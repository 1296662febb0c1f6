"""`leanops errors export` / `replay --layer dlq|parse --from`: corrected input fixes errors once."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pyarrow as pa
import pytest

from conftest import envelope, ingest, run_cli, standardized_rows, write_lines, write_schema
from leanops.context import Context
from leanops.ops.corrections import export_errors, replay_dlq, replay_parse
from leanops.ops.errors import error_view
from leanops.orchestrate.cycle import run_cycle
from leanops.stages.accountability import topic_accounts

pytestmark = pytest.mark.slow

SCHEMA = {"topic": "orders",
          "standardized": {"column_map": {"_metadata_idempotencykeyresource": "idempotency_key"}},
          "curated": {"merge_key": "idempotency_key", "order_by": "event_timestamp",
                      "columns": {"idempotency_key": {"type": "string", "cde": True},
                                  "event_timestamp": {"type": "timestamp", "cde": True}, "qty": {"type": "int"}}}}


def _payload(key: str, qty: int) -> dict:
    return {"_metadata": {"idempotencyKeyResource": key}, "event": {"timestamp": "2026-01-19T10:00:00Z"}, "qty": qty}


def _account(ctx, layer: str):
    [found] = [a for a in topic_accounts(ctx.lake, "orders") if a.layer == layer]
    return found


def _all_ok(ctx) -> bool:
    return all(a.ok and a.orphaned == 0 for a in topic_accounts(ctx.lake, "orders"))


def _curated_keys(ctx) -> list[str]:
    return sorted(r["idempotency_key"] for r in ctx.lake.curated_table("orders").scan().to_arrow().to_pylist())


def _die_before_the_deletion(monkeypatch, replay) -> None:
    """Run `replay` with Iceberg deletes failing: the process dies between the commit and the deletion."""
    from pyiceberg.table import Table

    def die(self, *args, **kwargs):
        raise KeyboardInterrupt("the process died between the commit and the deletion")
    monkeypatch.setattr(Table, "delete", die)
    monkeypatch.setattr(Table, "overwrite", die)
    with pytest.raises(KeyboardInterrupt):
        replay()
    monkeypatch.undo()


@pytest.fixture
def lake(tmp_path):
    schemas = tmp_path / "schemas"
    write_schema(schemas, SCHEMA)
    ctx = Context.open(tmp_path / "home", schemas)
    yield ctx, schemas
    ctx.close()


def _with_dlq_rows(ctx, tmp_path):
    """2 envelopes and 3 lines that are none: broken JSON, no message_id, an unknown field."""
    ingest(ctx, "orders", [envelope("m1", _payload("k1", 1)),
                           json.dumps({"message_id": "m2", "payload": _payload("k2", 2)})[:-2],  # cut short
                           json.dumps({"payload": _payload("k3", 3)}),
                           envelope("m4", _payload("k4", 4)),
                           json.dumps({"message_id": "m5", "payload": _payload("k5", 5), "note": "x"})], tmp_path)
    run_cycle(ctx)


def _fix(rows: list[dict]) -> list[str]:
    """The operator's edit of an export: m2's line repaired, k3 given an envelope object, m5 left as it was."""
    fixed = []
    for row in rows:
        if row["line_number"] == 2:
            row["line"] = row["line"] + "}}"
        elif row["line_number"] == 3:
            row["envelope"] = {"message_id": "m3", "payload": _payload("k3", 3)}
        fixed.append(json.dumps(row))
    return fixed


def test_dlq_rows_fixed_from_corrected_lines_count_once(lake, tmp_path):
    ctx, _ = lake
    _with_dlq_rows(ctx, tmp_path)
    before = _account(ctx, "ingestion")
    assert (before.records_in, before.written, before.errors, before.ok) == (5, 2, 3, True)
    exported = list(export_errors(ctx.lake, "orders", "dlq"))
    assert [r["line_number"] for r in exported] == [2, 3, 5] and exported[0]["reason"] == "not valid JSON"

    report = replay_dlq(ctx, "orders", _fix(exported) + ['{"ingest_id": "nope", "source": "x", "line_number": 1, '
                                                         '"line": "{}"}', "not json"])

    assert (report.lines, report.fixed, report.still_failing, report.unmatched) == (5, 2, 1, 2)
    assert [p["line"] for p in report.problems] == [3, 4, 5]  # m5 still bad, an unknown row, a broken line
    assert "unexpected envelope field" in report.problems[0]["reason"]
    after = _account(ctx, "ingestion")
    assert (after.records_in, after.written, after.errors, after.ok) == (5, 4, 1, True)  # in: read once
    [left] = list(export_errors(ctx.lake, "orders", "dlq"))
    assert left["line_number"] == 5 and error_view(ctx.lake, "orders", "dlq").total == 1

    run_cycle(ctx)  # the landed lines flow on like any other record
    assert _curated_keys(ctx) == ["k1", "k2", "k3", "k4"] and _all_ok(ctx)
    again = replay_dlq(ctx, "orders", _fix(exported))  # the same file again: nothing lands twice
    assert (again.fixed, again.already_fixed, again.still_failing, again.snapshot_id) == (0, 2, 1, None)
    assert ctx.lake.raw_table("orders").scan().to_arrow().num_rows == 4 and _all_ok(ctx)


def test_dlq_replay_resumes_after_a_crash_before_the_deletion(lake, tmp_path, monkeypatch):
    ctx, _ = lake
    _with_dlq_rows(ctx, tmp_path)
    fixes = _fix(list(export_errors(ctx.lake, "orders", "dlq")))
    _die_before_the_deletion(monkeypatch, lambda: replay_dlq(ctx, "orders", fixes))
    # the rows are fixed in RAW already: accountability does not count them as errors any more
    crashed = _account(ctx, "ingestion")
    assert (crashed.written, crashed.errors, crashed.ok) == (4, 1, True)
    assert error_view(ctx.lake, "orders", "dlq").total == 3

    resumed = replay_dlq(ctx, "orders", fixes)

    assert (resumed.fixed, resumed.resumed, resumed.already_fixed, resumed.snapshot_id) == (2, 2, 2, None)
    assert error_view(ctx.lake, "orders", "dlq").total == 1 and _all_ok(ctx)
    assert ctx.lake.raw_table("orders").scan().to_arrow().num_rows == 4


def test_a_drained_dlq_message_fixed_joins_the_ingestion_count(lake, tmp_path):
    """A message drained from the SQS DLQ was never counted in: its fix brings its line into `in`."""
    from leanops.catalog.commit import append_with_retry
    from leanops.catalog.schemas import DLQ_SCHEMA
    from leanops.catalog.tables import SUMMARY_INGEST_ID
    from leanops.stages.accountability import DLQ_SOURCE
    ctx, _ = lake
    ingest(ctx, "orders", [envelope("m1", _payload("k1", 1))], tmp_path)
    now = datetime.now(timezone.utc)
    row = {"topic_name": "orders", "ingest_id": "drain-1", "source": "sqs-dlq", "line_number": 1,
           "reason": "rejected by the forwarder", "raw_text": "{broken", "ingestion_ts": now}
    append_with_retry(ctx.lake.dlq_table(), pa.Table.from_pylist([row], schema=DLQ_SCHEMA.as_arrow()),
                      {SUMMARY_INGEST_ID: "drain-1", DLQ_SOURCE: "https://sqs/dlq"})
    assert (_account(ctx, "ingestion").records_in, _account(ctx, "ingestion").errors) == (1, 0)

    fix = {"ingest_id": "drain-1", "source": "sqs-dlq", "line_number": 1,
           "envelope": {"message_id": "m9", "payload": _payload("k9", 9)}}
    report = replay_dlq(ctx, "orders", [json.dumps(fix)])

    assert report.fixed == 1 and report.ok
    after = _account(ctx, "ingestion")
    assert (after.records_in, after.written, after.errors, after.ok) == (2, 2, 0, True)
    run_cycle(ctx)
    assert _curated_keys(ctx) == ["k1", "k9"] and _all_ok(ctx)


def _with_parse_errors(ctx, tmp_path):
    """m2's payload is broken JSON text, m3's a JSON array; m1 and m4 are fine."""
    ingest(ctx, "orders", [envelope("m1", _payload("k1", 1)),
                           envelope("m2", '{"_metadata": {"idempotencyKeyResource": "k2"}, "qty": 2, "event": {"timestamp": "2026'),
                           envelope("m3", "[1, 2]", publish_time="2026-01-18T08:00:00Z"),
                           envelope("m4", _payload("k4", 4))], tmp_path)
    run_cycle(ctx)


def _parse_fix(rows: list[dict]) -> list[str]:
    """m2 repaired as an object; m3 'repaired' into something still not an object."""
    fixed = []
    for row in rows:
        row["payload"] = _payload("k2", 2) if row["message_id"] == "m2" else "[3]"
        fixed.append(json.dumps(row))
    return fixed


def test_parse_errors_fixed_from_corrected_payloads_count_once(lake, tmp_path):
    ctx, _ = lake
    _with_parse_errors(ctx, tmp_path)
    before = _account(ctx, "standardized")
    assert (before.records_in, before.written, before.errors, before.ok) == (4, 2, 2, True)
    exported = list(export_errors(ctx.lake, "orders", "parse"))
    assert sorted(r["message_id"] for r in exported) == ["m2", "m3"]

    report = replay_parse(ctx, "orders", _parse_fix(exported))

    assert (report.fixed, report.still_failing, report.unmatched) == (1, 1, 0)
    assert "not an object" in report.problems[0]["reason"]
    after = _account(ctx, "standardized")
    assert (after.records_in, after.written, after.errors, after.ok) == (4, 3, 1, True)
    [m2] = [r for r in standardized_rows(ctx, "orders") if r["message_id"] == "m2"]
    assert m2["idempotency_key"] == "k2" and m2["qty"] == "2"
    assert m2["publish_time"] == datetime(2026, 1, 19, 10, tzinfo=timezone.utc)  # the original record's
    assert [r["message_id"] for r in export_errors(ctx.lake, "orders", "parse")] == ["m3"]
    assert _account(ctx, "ingestion").ok  # RAW is untouched: it keeps what arrived

    run_cycle(ctx)  # Curated takes the fixed row in its next run
    assert _curated_keys(ctx) == ["k1", "k2", "k4"] and _all_ok(ctx)
    ingest(ctx, "orders", [envelope("m2", '{"broken')], tmp_path, name="again.ndjson")  # a late network twin
    run_cycle(ctx)
    assert _account(ctx, "standardized").duplicates == 1 and _all_ok(ctx)
    again = replay_parse(ctx, "orders", _parse_fix(exported))
    assert (again.fixed, again.already_fixed, again.still_failing) == (0, 1, 1) and _all_ok(ctx)
    # a broken twin beyond the dedup window is a new parse error of the same id: it counts, once
    ingest(ctx, "orders", [envelope("m2", "{broken", publish_time="2026-03-01T00:00:00Z")], tmp_path,
           name="late.ndjson")
    run_cycle(ctx)
    assert _account(ctx, "standardized").errors == 2 and _all_ok(ctx)
    assert replay_parse(ctx, "orders", []).fixed == 0  # the twin is not taken for the fixed m2
    assert _account(ctx, "standardized").errors == 2 and _all_ok(ctx)
    twin = replay_parse(ctx, "orders", [json.dumps({"message_id": "m2", "payload": _payload("k2", 5)})])
    assert (twin.fixed, twin.already_fixed) == (1, 0) and _account(ctx, "standardized").errors == 1 and _all_ok(ctx)


def test_parse_replay_resumes_after_a_crash_before_the_deletion(lake, tmp_path, monkeypatch):
    ctx, _ = lake
    _with_parse_errors(ctx, tmp_path)
    fixes = _parse_fix(list(export_errors(ctx.lake, "orders", "parse")))
    _die_before_the_deletion(monkeypatch, lambda: replay_parse(ctx, "orders", fixes))
    assert len(standardized_rows(ctx, "orders")) == 3
    # m2 is in Standardized already: accountability does not count it as an error too
    crashed = _account(ctx, "standardized")
    assert (crashed.written, crashed.errors, crashed.ok) == (3, 1, True)
    assert error_view(ctx.lake, "orders", "parse").total == 2

    resumed = replay_parse(ctx, "orders", fixes)

    assert (resumed.fixed, resumed.resumed, resumed.already_fixed) == (1, 1, 1)
    assert len(standardized_rows(ctx, "orders")) == 3 and _all_ok(ctx)


def test_parse_replay_killed_after_storing_its_corrections_stores_them_once(lake, tmp_path):
    """Killed between keeping the corrections and applying them: run again with the same file, it applies
    them and keeps one copy (a rebuild applies every stored correction again)."""
    ctx, _ = lake
    _with_parse_errors(ctx, tmp_path)
    fixes = write_lines(tmp_path / "fix.ndjson", _parse_fix(list(export_errors(ctx.lake, "orders", "parse"))))
    replay = ("errors", "replay", "-t", "orders", "-l", "parse", "--from", str(fixes))
    died = run_cli(*replay, env={"LEANOPS_FAULT": "after-parse-corrections-stored"})
    assert died.returncode == 75, died.stdout + died.stderr
    stored = ctx.lake.parse_corrections_table().scan().to_arrow()
    assert stored["message_id"].to_pylist() == ["m2"] and len(standardized_rows(ctx, "orders")) == 2

    again = run_cli(*replay, "--json")

    assert again.returncode == 1 and json.loads(again.stdout)["fixed"] == 1  # m3's "fix" is still no object
    assert ctx.lake.parse_corrections_table().scan().to_arrow()["message_id"].to_pylist() == ["m2"]
    assert sorted(r["message_id"] for r in standardized_rows(ctx, "orders")) == ["m1", "m2", "m4"]
    assert _all_ok(ctx)


def test_a_rebuild_applies_the_stored_corrections_again(lake, tmp_path):
    from leanops.schema.rebuild import rebuild
    ctx, _ = lake
    _with_parse_errors(ctx, tmp_path)
    replay_parse(ctx, "orders", _parse_fix(list(export_errors(ctx.lake, "orders", "parse"))))
    run_cycle(ctx)

    report = rebuild(ctx, "orders")

    assert report.status == "SUCCEEDED" and report.corrections_applied == 1
    assert _curated_keys(ctx) == ["k1", "k2", "k4"]
    assert [r["message_id"] for r in export_errors(ctx.lake, "orders", "parse")] == ["m3"] and _all_ok(ctx)


def test_a_rebuild_after_every_error_was_fixed(lake, tmp_path):
    """The replays emptied the error tables of the topic: the rebuild's first batch is still no orphan."""
    from leanops.schema.rebuild import rebuild
    ctx, _ = lake
    ingest(ctx, "orders", [envelope("m1", _payload("k1", 1)), envelope("m2", "{oops")], tmp_path)
    run_cycle(ctx)
    fixed = replay_parse(ctx, "orders", [json.dumps({"message_id": "m2", "payload": _payload("k2", 2)})])
    assert fixed.fixed == 1 and error_view(ctx.lake, "orders").total == 0

    report = rebuild(ctx, "orders")

    assert report.status == "SUCCEEDED" and report.corrections_applied == 1
    assert _curated_keys(ctx) == ["k1", "k2"] and _all_ok(ctx)
    assert error_view(ctx.lake, "orders").total == 0


def test_payloads_refused_by_a_limit_land_once_it_is_raised(lake, tmp_path):
    """A shape limit is a topic setting: the refused payloads keep their raw text, so after raising the limit
    the export replays unchanged; while the limit stands a replay is held to it."""
    ctx, schemas = lake
    write_schema(schemas, {**SCHEMA, "standardized": {**SCHEMA["standardized"], "limits": {"max_keys": 3}}})
    ingest(ctx, "orders", [envelope("w1", {**_payload("k8", 8), "note": "x"}), envelope("m1", _payload("k1", 1))],
           tmp_path)
    run_cycle(ctx)
    [error] = export_errors(ctx.lake, "orders", "parse")
    assert error["reason"] == "payload has 4 keys, more than 3"
    held = replay_parse(ctx, "orders", [json.dumps(error)])
    assert (held.fixed, held.still_failing) == (0, 1) and "more than 3" in held.problems[0]["reason"]

    write_schema(schemas, SCHEMA)  # the default limits
    done = replay_parse(ctx, "orders", [json.dumps(error)])
    assert (done.fixed, done.still_failing) == (1, 0)
    [w1] = [r for r in standardized_rows(ctx, "orders") if r["message_id"] == "w1"]
    assert (w1["qty"], w1["note"]) == ("8", "x")
    run_cycle(ctx)
    assert _curated_keys(ctx) == ["k1", "k8"] and _all_ok(ctx)


def test_a_replay_is_held_to_the_topic_column_cap(lake, tmp_path):
    ctx, schemas = lake  # 4 metadata columns + idempotency_key, event_timestamp, qty: at the cap
    write_schema(schemas, {**SCHEMA, "standardized": {**SCHEMA["standardized"], "limits": {"max_columns": 7}}})
    ingest(ctx, "orders", [envelope("m1", _payload("k1", 1)), envelope("p1", "{broken"), envelope("p2", "{broken")],
           tmp_path)
    run_cycle(ctx)
    report = replay_parse(ctx, "orders", [
        json.dumps({"message_id": "p1", "payload": {**_payload("k2", 2), "note": "a new column"}}),
        json.dumps({"message_id": "p2", "payload": _payload("k3", 3)})])
    assert (report.fixed, report.still_failing) == (1, 1)
    assert len(ctx.lake.standardized_table("orders").schema().fields) == 7
    assert [r["message_id"] for r in export_errors(ctx.lake, "orders", "parse")] == ["p1"]
    run_cycle(ctx)
    assert _curated_keys(ctx) == ["k1", "k3"] and _all_ok(ctx)


def test_cli_export_edit_replay(lake, tmp_path):
    ctx, schemas = lake
    _with_dlq_rows(ctx, tmp_path)
    ingest(ctx, "orders", [envelope("p2", "{broken"), envelope("p3", "[1]")], tmp_path, name="parse.ndjson")
    run_cycle(ctx)
    home = ["--home", str(ctx.settings.home), "--schemas", str(schemas)]
    exported = run_cli("errors", "export", "--topic", "orders", "--layer", "dlq", *home)
    assert exported.returncode == 0, exported.stderr
    assert "3 dlq errors of orders exported" in exported.stderr
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    fixes = write_lines(tmp_path / "fix.ndjson", _fix(rows)[:2])  # only the two real fixes

    done = run_cli("errors", "replay", "--topic", "orders", "--layer", "dlq", "--from", str(fixes), "--json", *home)

    assert done.returncode == 0, done.stderr
    assert (json.loads(done.stdout)["fixed"], json.loads(done.stdout)["ok"]) == (2, True)
    parse_out = tmp_path / "parse.ndjson"
    assert run_cli("errors", "export", "-t", "orders", "-l", "parse", "--out", str(parse_out), *home).returncode == 0
    edited = [{**row, "payload": _payload("k7", 7) if row["message_id"] == "p2" else "[3]"}
              for row in map(json.loads, parse_out.read_text().splitlines())]
    failing = run_cli("errors", "replay", "-t", "orders", "-l", "parse", "--from", "-", *home,
                      input="\n".join(map(json.dumps, edited)))
    assert failing.returncode == 1 and "1 fixed" in failing.stdout and "still not a JSON object" in failing.stdout
    usage = run_cli("errors", "replay", "-t", "orders", "-l", "dlq", *home)
    assert usage.returncode == 2 and "needs --from" in usage.stderr
    wrong = run_cli("errors", "replay", "-t", "orders", "-l", "curated", "--from", str(fixes), *home)
    assert wrong.returncode == 2 and "--from is for --layer dlq or parse" in wrong.stderr
    typo = run_cli("errors", "replay", "-t", "ordres", "-l", "dlq", "--from", str(fixes), "--json", *home)
    assert typo.returncode == 1 and json.loads(typo.stdout)["unmatched"] == 2
    assert ctx.lake.raw_table("ordres") is None  # a mistyped topic creates nothing
    run_cycle(ctx)
    assert _all_ok(ctx)


@pytest.mark.parametrize("method, removed_ids, left_ids", [
    ("overwrite", ["a", "nope"], ["b", "late"]),  # some of the topic's rows go: the rest is rewritten
    ("delete", ["a", "b"], ["late"]),  # all of them go: a plain delete by topic
])
def test_remove_rows_keeps_other_rows_and_a_racing_append(lake, monkeypatch, method, removed_ids, left_ids):
    """Only the topic's matching rows go; a row another writer appends meanwhile survives (retried)."""
    from pyiceberg.table import Table
    from leanops.catalog.commit import append_with_retry, remove_rows
    from leanops.catalog.schemas import PARSE_ERRORS_SCHEMA
    ctx, _ = lake
    now = datetime.now(timezone.utc)

    def rows(*pairs):
        return pa.Table.from_pylist([{"topic_name": t, "message_id": m, "reason": "invalid JSON", "raw_text": "{",
                                      "publish_time": now, "ingestion_ts": now, "error_ts": now} for t, m in pairs],
                                    schema=PARSE_ERRORS_SCHEMA.as_arrow())
    errors = ctx.lake.parse_errors_table()
    append_with_retry(errors, rows(("orders", "a"), ("orders", "b"), ("other", "a")), {})
    real, raced = getattr(Table, method), []

    def racing(self, *args, **kwargs):  # another writer commits between our scan and our commit, once
        if not raced:
            raced.append(True)
            append_with_retry(ctx.lake.parse_errors_table(), rows(("orders", "late")), {})
        return real(self, *args, **kwargs)
    monkeypatch.setattr(Table, method, racing)

    removed = remove_rows(errors, "orders", pa.table({"message_id": removed_ids}), {"leanops.replay-of": "orders"})

    left = sorted((r["topic_name"], r["message_id"]) for r in
                  ctx.lake.parse_errors_table().scan().to_arrow().to_pylist())
    assert raced and removed == 3 - len(left_ids) and left == [("orders", m) for m in left_ids] + [("other", "a")]


def test_replay_commits_name_their_keys_in_a_side_file(lake, tmp_path):
    """The fixed keys stay out of the snapshot summary (Iceberg copies it into every later metadata.json)."""
    from leanops.catalog.side_lists import read_side_list
    from leanops.catalog.tables import SUMMARY_RESOLVES_DLQ
    ctx, _ = lake
    _with_dlq_rows(ctx, tmp_path)
    exported = list(export_errors(ctx.lake, "orders", "dlq"))
    replay_dlq(ctx, "orders", _fix([dict(row) for row in exported]))
    raw = ctx.lake.raw_table("orders")
    value = raw.current_snapshot().summary.additional_properties[SUMMARY_RESOLVES_DLQ]
    assert value.startswith("file:") and len(value) < 300
    fixed = sorted((r["ingest_id"], r["source"], r["line_number"]) for r in exported if r["line_number"] in (2, 3))
    assert sorted(read_side_list(raw, value)) == fixed
    assert read_side_list(raw, '[["i", "s", 1]]') == [["i", "s", 1]]  # inline, as earlier commits wrote it


def test_replays_that_write_pipeline_tables_take_the_topic_lease(lake, tmp_path):
    from leanops.errors import LeanOpsError
    from leanops.ops.replay import replay_curated
    ctx, _ = lake
    _with_parse_errors(ctx, tmp_path)
    fixes = _parse_fix(list(export_errors(ctx.lake, "orders", "parse")))
    assert ctx.state.acquire_lease("orders", "orchestrator-elsewhere:1:x", 600)  # a run holds the topic
    for replay in (lambda: replay_parse(ctx, "orders", fixes), lambda: replay_curated(ctx, "orders")):
        with pytest.raises(LeanOpsError, match="holds the topic"):
            replay()
    assert error_view(ctx.lake, "orders", "parse").total == 2  # nothing happened
    ctx.state.release_lease("orders", "orchestrator-elsewhere:1:x")
    assert replay_parse(ctx, "orders", fixes).fixed == 1
    assert ctx.state.lease_holder("orders") is None  # released again
