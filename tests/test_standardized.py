"""Standardized stage on real Iceberg tables: dedup, parse errors, shape limits, evolution, checkpoints,
schema gate."""
import json
from datetime import datetime, timedelta, timezone

import pytest

from conftest import EVENTS_SCHEMA, envelope, ingest, standardized_rows, write_schema
from leanops.catalog.tables import SUMMARY_SOURCE_SNAPSHOT
from leanops.runner import run_once
from leanops.stages.accountability import topic_accounts
from leanops.stages.incremental import current_snapshot_id
from leanops.types import RunStatus

pytestmark = pytest.mark.slow


def by_id(rows):
    return {r["message_id"]: r for r in rows}


def assert_accountable(ctx, topic="events"):
    for account in topic_accounts(ctx.lake, topic):
        assert account.ok, account.as_dict()


def test_first_copy_wins_within_a_batch(ctx, schemas, tmp_path):
    write_schema(schemas, EVENTS_SCHEMA)
    ingest(ctx, "events", [envelope("m1", {"v": "first"}), envelope("m2", {"v": "x"}),
                           envelope("m1", {"v": "second"})], tmp_path)
    [outcome] = run_once(ctx)
    assert outcome.status == RunStatus.SUCCEEDED
    stage = outcome.stages[0]
    assert (stage.records_in, stage.records_written, stage.records_duplicates) == (3, 2, 1)
    assert by_id(standardized_rows(ctx, "events"))["m1"]["v"] == "first"
    assert_accountable(ctx)


def test_duplicates_against_landed_rows_and_parse_errors(ctx, schemas, tmp_path):
    write_schema(schemas, EVENTS_SCHEMA)
    ingest(ctx, "events", [envelope("m1", {"v": 1}), envelope("bad", "{broken")], tmp_path, "a.ndjson")
    run_once(ctx)
    ingest(ctx, "events", [envelope("m1", {"v": 2}), envelope("bad", "{broken"), envelope("m3", {"v": 3})],
           tmp_path, "b.ndjson")
    [outcome] = run_once(ctx)
    stage = outcome.stages[0]
    assert (stage.records_in, stage.records_written, stage.records_errors, stage.records_duplicates) == (3, 1, 0, 2)
    rows = by_id(standardized_rows(ctx, "events"))
    assert set(rows) == {"m1", "m3"} and rows["m1"]["v"] == "1"
    errors = ctx.lake.parse_errors_table().scan().to_arrow().to_pylist()
    assert [(e["message_id"], e["reason"], e["raw_text"]) for e in errors] == [("bad", "invalid JSON", "{broken")]
    assert_accountable(ctx)


def test_dedup_window_reads_only_recent_partitions(ctx, schemas, tmp_path):
    """Old partitions are pruned from the dedup lookup, so its cost follows the window, not the table."""
    write_schema(schemas, EVENTS_SCHEMA)
    old = (datetime(2026, 1, 1, tzinfo=timezone.utc)).isoformat()
    ingest(ctx, "events", [envelope(f"old{i}", {"i": i}, old) for i in range(5)], tmp_path, "a.ndjson")
    run_once(ctx)
    recent = (datetime(2026, 3, 1, tzinfo=timezone.utc)).isoformat()
    ingest(ctx, "events", [envelope("new", {"i": 1}, recent)], tmp_path, "b.ndjson")
    run_once(ctx)
    table = ctx.lake.standardized_table("events")
    since = (datetime(2026, 3, 1, tzinfo=timezone.utc) - timedelta(days=7)).isoformat()
    from pyiceberg.expressions import GreaterThanOrEqual
    planned = list(table.scan(row_filter=GreaterThanOrEqual("publish_time", since)).plan_files())
    assert len(planned) == 1 and len(list(table.scan().plan_files())) == 2
    # a re-sent message inside the window is still caught
    ingest(ctx, "events", [envelope("new", {"i": 2}, recent)], tmp_path, "c.ndjson")
    [outcome] = run_once(ctx)
    assert outcome.stages[0].records_duplicates == 1
    assert_accountable(ctx)


def test_parse_errors_reasons(ctx, schemas, tmp_path):
    write_schema(schemas, EVENTS_SCHEMA)
    ingest(ctx, "events", [envelope("a", "{nope"), envelope("b", [1, 2]), envelope("c", 5),
                           envelope("d", '"just a string"'), envelope("e", '{"k": 1, "k": 2}'),
                           envelope("f", {"ok": True})], tmp_path)
    [outcome] = run_once(ctx)
    assert outcome.stages[0].records_errors == 5
    reasons = {e["message_id"]: e["reason"] for e in ctx.lake.parse_errors_table().scan().to_arrow().to_pylist()}
    assert reasons == {"a": "invalid JSON", "b": "payload is a JSON array, not an object",
                       "c": "payload is a JSON number, not an object",
                       "d": "payload is a JSON string, not an object",
                       "e": "duplicate key 'k' in the object at the top level"}
    assert_accountable(ctx)


def test_new_keys_add_columns_and_column_map_applies(ctx, schemas, tmp_path):
    write_schema(schemas, EVENTS_SCHEMA)
    ingest(ctx, "events", [envelope("m1", {"event": {"userId": "u1"},
                                           "_metadata": {"idempotencyKeyResource": "k1"}})], tmp_path, "a.ndjson")
    run_once(ctx)
    ingest(ctx, "events", [envelope("m2", {"event": {"userId": "u2", "verb": "POST"}, "sessionId": "s"})],
           tmp_path, "b.ndjson")
    [outcome] = run_once(ctx)
    assert outcome.stages[0].columns_added == ("event_verb", "sessionid")
    table = ctx.lake.standardized_table("events")
    names = [f.name for f in table.schema().fields]
    assert names == ["message_id", "topic_name", "publish_time", "ingestion_ts", "event_userid",
                     "idempotency_key", "event_verb", "sessionid"]
    rows = by_id(standardized_rows(ctx, "events"))
    assert rows["m1"]["idempotency_key"] == "k1" and rows["m1"]["event_verb"] is None
    assert rows["m2"]["event_verb"] == "POST" and rows["m2"]["idempotency_key"] is None


def test_checkpoint_lives_in_the_commit_and_is_mirrored(ctx, schemas, tmp_path):
    write_schema(schemas, EVENTS_SCHEMA)
    ingest(ctx, "events", [envelope("m1", {"a": 1})], tmp_path)
    raw_head = current_snapshot_id(ctx.lake.raw_table("events"))
    run_once(ctx)
    summary = ctx.lake.standardized_table("events").current_snapshot().summary.additional_properties
    assert summary[SUMMARY_SOURCE_SNAPSHOT] == str(raw_head)
    assert ctx.state.get_checkpoint("events", "standardized").last_snapshot_id == raw_head
    [again] = run_once(ctx)
    assert again.status == RunStatus.NO_NEW_DATA and again.stages == []  # no table opened for writing
    assert again.trace == ["GetAllCheckpoints", "CheckForNewRawData", "CheckMaintenanceDue", "NoNewData"]
    assert [r.status for r in ctx.state.list_runs("events")] == ["SUCCEEDED"]


def test_schema_gate_holds_data_in_raw_then_drains_the_backlog(ctx, schemas, tmp_path):
    for i in range(3):
        ingest(ctx, "events", [envelope(f"m{i}-{j}", {"j": j}) for j in range(10)], tmp_path, f"{i}.ndjson")
    [outcome] = run_once(ctx)
    assert outcome.status == RunStatus.SKIPPED and "waits in RAW" in outcome.message
    assert ctx.lake.standardized_table("events") is None
    [account] = [a for a in topic_accounts(ctx.lake, "events") if a.layer == "standardized"]
    assert account.pending == 30
    write_schema(schemas, EVENTS_SCHEMA)
    [outcome] = run_once(ctx)
    assert outcome.status == RunStatus.SUCCEEDED and outcome.stages[0].records_written == 30
    assert len(standardized_rows(ctx, "events")) == 30
    assert_accountable(ctx)


def test_paused_topic_is_skipped(ctx, schemas, tmp_path):
    from leanops.types import FlowControl
    write_schema(schemas, EVENTS_SCHEMA)
    ingest(ctx, "events", [envelope("m1", {"a": 1})], tmp_path)
    ctx.state.set_flow_control("events", FlowControl.PAUSED)
    [outcome] = run_once(ctx)
    assert outcome.status == RunStatus.SKIPPED and ctx.lake.standardized_table("events") is None


def test_one_bad_topic_does_not_stop_the_others(ctx, schemas, tmp_path):
    write_schema(schemas, EVENTS_SCHEMA)
    (schemas / "orders.json").write_text('{"topic": "orders", "standardized": {"colum_map": {}}}')
    ingest(ctx, "events", [envelope("m1", {"a": 1})], tmp_path, "e.ndjson")
    ingest(ctx, "orders", [envelope("o1", {"a": 1})], tmp_path, "o.ndjson")
    outcomes = {o.topic: o for o in run_once(ctx)}
    assert outcomes["events"].status == RunStatus.SUCCEEDED
    assert outcomes["orders"].status == RunStatus.FAILED
    assert "standardized.colum_map" in outcomes["orders"].message


def test_key_seen_once_in_a_large_batch_is_discovered(ctx, schemas, tmp_path):
    """Discovery samples the first rows, then checks every row: a key only row 4321 has is found."""
    write_schema(schemas, EVENTS_SCHEMA)
    lines = [envelope(f"m{i}", {"i": i, "extra" if i == 4321 else "n": "x"}) for i in range(25_000)]
    ingest(ctx, "events", lines, tmp_path)
    [outcome] = run_once(ctx)
    assert outcome.stages[0].records_written == 25_000
    rows = by_id(standardized_rows(ctx, "events"))
    assert rows["m4321"]["extra"] == "x" and rows["m0"]["extra"] is None
    assert_accountable(ctx)


def test_a_run_takes_max_batch_rows_across_snapshots(ctx, schemas, tmp_path):
    """A run takes the next 150 RAW rows, stopping inside a snapshot (and a file): the checkpoint says
    how many of its rows were consumed (tests/test_partial_snapshots.py has the rest)."""
    from leanops.stages.checkpoint import position_from_table
    from leanops.stages.position import Position
    write_schema(schemas, EVENTS_SCHEMA)
    ctx.settings.max_batch_rows = 150
    snapshots = []
    for i in range(3):
        ingest(ctx, "events", [envelope(f"m{i}-{j}", {"j": j}) for j in range(100)], tmp_path, f"{i}.ndjson")
        snapshots.append(current_snapshot_id(ctx.lake.raw_table("events")))
    written, positions = [], []
    for _ in range(3):
        written.append(sum(s.records_written for s in run_once(ctx)[0].stages))
        positions.append(position_from_table(ctx.lake.standardized_table("events"), "events"))
        assert_accountable(ctx)
    assert written == [150, 150, 0]
    assert positions[0] == Position(snapshots[1], rows=50)
    assert positions[1] == Position(current_snapshot_id(ctx.lake.raw_table("events")))  # past maintenance too
    assert len({r["message_id"] for r in standardized_rows(ctx, "events")}) == 300


def test_repeated_key_in_an_otherwise_clean_batch(ctx, schemas, tmp_path):
    """Discovery screens the batch; a repeated key alone must still be routed, not flattened."""
    write_schema(schemas, EVENTS_SCHEMA)
    ingest(ctx, "events", [envelope("m1", '{"a": 1, "a": 2}'), envelope("m2", {"b": 1})], tmp_path)
    [outcome] = run_once(ctx)
    assert (outcome.stages[0].records_written, outcome.stages[0].records_errors) == (1, 1)
    assert [r["message_id"] for r in standardized_rows(ctx, "events")] == ["m2"]
    assert_accountable(ctx)


def test_a_scalar_key_that_turns_into_an_object_after_the_sample(ctx, schemas, tmp_path):
    """Discovery's sample sees `a` as a string; row 30,000 holds an object there: it must be walked."""
    write_schema(schemas, EVENTS_SCHEMA)
    lines = [envelope(f"m{i}", {"a": "{not json, just text}" if i == 5 else "x"}) for i in range(30_000)]
    lines.append(envelope("deep", {"a": {"b": {"c": 1}}}))
    ingest(ctx, "events", lines, tmp_path)
    [outcome] = run_once(ctx)
    assert outcome.stages[0].records_written == 30_001
    rows = by_id(standardized_rows(ctx, "events"))
    assert rows["deep"]["a_b_c"] == "1" and rows["deep"]["a"] is None
    assert rows["m5"]["a"] == "{not json, just text}" and rows["m1"]["a"] == "x"
    data_files = list(ctx.lake.standardized_table("events").scan().plan_files())
    assert sum(t.file.record_count for t in data_files) == 30_001  # the first attempt's files are not committed
    assert_accountable(ctx)


def _deep(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def test_hostile_shapes_go_to_parse_errors_and_never_reach_discovery(ctx, schemas, tmp_path, monkeypatch):
    """10,000 and 200,000 levels deep (60 KB, 1.2 MB) and 5,000 keys, in a batch with good rows: the good
    rows land, the hostile ones are parse errors with the reason, no column comes from them, and the
    flattening steps never see them (their cost does not depend on the shape)."""
    from leanops.stages import flatten
    seen: set[str] = set()

    def spy(step):
        def wrapped(con, relation, *args, **kwargs):
            seen.update(m for (m,) in con.execute(f"SELECT message_id FROM {relation}").fetchall())
            return step(con, relation, *args, **kwargs)
        return wrapped

    for name in ("discover", "select_sql", "duplicate_key_rows"):
        monkeypatch.setattr(flatten, name, spy(getattr(flatten, name)))
    write_schema(schemas, EVENTS_SCHEMA)
    wide = {f"k{i}": i for i in range(5000)}
    hostile = {"deep-10k": _deep(10_000), "deep-200k": _deep(200_000), "wide-5k": json.dumps(wide)}
    lines = [envelope(f"m{i}", {"v": i, "event": {"userId": f"u{i}"}}) for i in range(50)]
    lines[10:10] = [envelope(mid, text) for mid, text in hostile.items()]
    ingest(ctx, "events", lines, tmp_path)
    [outcome] = run_once(ctx)
    stage = outcome.stages[0]
    assert (stage.records_in, stage.records_written, stage.records_errors) == (53, 50, 3)
    assert stage.columns_added == ("event_userid", "v")
    errors = {e["message_id"]: e for e in ctx.lake.parse_errors_table().scan().to_arrow().to_pylist()}
    assert {m: e["reason"] for m, e in errors.items()} == {
        "deep-10k": "payload nested deeper than 32 levels", "deep-200k": "payload nested deeper than 32 levels",
        "wide-5k": "payload has 5000 keys, more than 1000"}
    assert errors["deep-200k"]["raw_text"] == hostile["deep-200k"]  # kept whole, for export and replay
    assert seen and not seen & set(hostile)
    assert_accountable(ctx)

    seen.clear()  # the next run: nothing of the hostile rows is left to carry
    ingest(ctx, "events", [envelope("n1", {"v": "next"})], tmp_path, "next.ndjson")
    [outcome] = run_once(ctx)
    assert outcome.stages[0].columns_added == () and outcome.stages[0].records_written == 1
    assert [f.name for f in ctx.lake.standardized_table("events").schema().fields] == [
        "message_id", "topic_name", "publish_time", "ingestion_ts", "event_userid", "v"]
    assert_accountable(ctx)


def test_rows_past_the_topic_column_cap_are_refused_in_ingestion_order(ctx, schemas, tmp_path):
    """The schema file sets the limits; 4 metadata columns + 3 payload columns is the cap."""
    write_schema(schemas, {"topic": "events", "standardized": {"limits": {"max_columns": 7, "max_depth": 2,
                                                                          "max_keys": 4}}})
    ingest(ctx, "events", [envelope("m1", {"a": 1, "b": 1})], tmp_path, "a.ndjson")
    run_once(ctx)
    ingest(ctx, "events", [
        envelope("r1", {"c": 1}),                    # the last column there is room for
        envelope("r2", {"d": 1}),                    # past the cap
        envelope("r3", {"a": 2, "c": 3}),            # only known columns
        envelope("r4", {"a": 3, "e": None}),         # a new key holding null fills no column
        envelope("r5", {"f": 1, "g": {"h": 1}}),     # two new columns
        envelope("r6", {"x": {"y": {"z": 1}}}),      # three keys deep
        envelope("r7", {"p": 1, "q": 1, "r": 1, "s": [1], "t": {}}),  # five keys
    ], tmp_path, "b.ndjson")
    [outcome] = run_once(ctx)
    stage = outcome.stages[0]
    assert (stage.records_written, stage.records_errors, stage.columns_added) == (3, 4, ("c",))
    reasons = {e["message_id"]: e["reason"] for e in ctx.lake.parse_errors_table().scan().to_arrow().to_pylist()}
    assert reasons == {"r2": "payload adds 1 new columns, past the topic's cap of 7 columns",
                       "r5": "payload adds 2 new columns, past the topic's cap of 7 columns",
                       "r6": "payload nested deeper than 2 levels", "r7": "payload has 5 keys, more than 4"}
    rows = by_id(standardized_rows(ctx, "events"))
    assert set(rows) == {"m1", "r1", "r3", "r4"} and rows["r3"]["c"] == "3"
    assert len(ctx.lake.standardized_table("events").schema().fields) == 7
    assert_accountable(ctx)

    # at the cap: a row with a new column is refused, the others land
    ingest(ctx, "events", [envelope("s1", {"z": 1}), envelope("s2", {"b": "known"})], tmp_path, "c.ndjson")
    [outcome] = run_once(ctx)
    assert (outcome.stages[0].records_written, outcome.stages[0].records_errors) == (1, 1)
    assert by_id(standardized_rows(ctx, "events"))["s2"]["b"] == "known"
    assert len(ctx.lake.standardized_table("events").schema().fields) == 7
    assert_accountable(ctx)


def test_a_payload_object_nested_200k_deep_lands_in_raw_and_goes_to_parse_errors(ctx, schemas, tmp_path):
    """The object itself (not a string holding it) in the envelope: deeper than the ingest's JSON parser
    walks, it is still kept in RAW as sent, and Standardized's depth limit refuses it."""
    write_schema(schemas, EVENTS_SCHEMA)
    deep = _deep(200_000)
    lines = [envelope("m1", {"v": 1}), '{"message_id": "deep", "payload": ' + deep + ', "publish_time": 1768816800000}',
             envelope("m2", {"v": 2})]
    report = ingest(ctx, "events", lines, tmp_path)
    assert (report.accepted, report.rejected) == (3, 0), report.reasons
    raw = {r["message_id"]: r["json_payload"] for r in ctx.lake.raw_table("events").scan().to_arrow().to_pylist()}
    assert raw["deep"] == deep
    [outcome] = run_once(ctx)
    assert outcome.stages[0].records_written == 2
    [error] = ctx.lake.parse_errors_table().scan().to_arrow().to_pylist()
    assert (error["message_id"], error["reason"]) == ("deep", "payload nested deeper than 32 levels")
    assert_accountable(ctx)
