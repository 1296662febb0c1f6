"""One contract for every state-store adapter: each test runs against SQLite and DynamoDB (moto).

DynamoDB runs inside moto's in-process mock. moto evaluates a ConditionExpression and writes the item
without a lock, whereas real DynamoDB applies each conditional write atomically per item; the fixture
wraps moto's put/update/delete in one lock to model that guarantee, so the thread race below tests
our conditions, not moto's interleaving.
"""
from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from conftest import fake_aws_credentials, serialize_dynamodb_writes

from leanops.config import Settings
from leanops.errors import ConfigError, UnknownTopicError
from leanops.state.base import IngestRecord, RunRecord, StateStore
from leanops.state.factory import open_state_store
from leanops.state.sqlite import SqliteStateStore
from leanops.types import FlowControl

BIG = 9_007_199_254_740_993  # 2**53 + 1: not representable as a float, must round-trip exactly


@pytest.fixture
def aws(monkeypatch):
    """moto's in-process AWS with dummy credentials; conditional writes serialised as in real DynamoDB."""
    moto = pytest.importorskip("moto")
    fake_aws_credentials(monkeypatch)
    serialize_dynamodb_writes(monkeypatch)
    with moto.mock_aws():
        yield


def _open(kind: str, tmp_path, prefix: str) -> StateStore:
    if kind == "sqlite":
        return SqliteStateStore(tmp_path / "state.db")
    from leanops.state.dynamodb import DynamoStateStore
    return DynamoStateStore(prefix=prefix, region="us-east-1")


@pytest.fixture(params=["sqlite", "dynamodb"])
def make(request, tmp_path):
    """A factory of stores over one fresh backing state (a new SQLite file / a unique table prefix)."""
    if request.param == "dynamodb":
        request.getfixturevalue("aws")
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    opened: list[StateStore] = []

    def factory() -> StateStore:
        opened.append(_open(request.param, tmp_path, prefix))
        return opened[-1]
    yield factory
    for s in opened:
        s.close()


@pytest.fixture
def store(make) -> StateStore:
    return make()


# -- registry -------------------------------------------------------------------------------
def test_register_is_idempotent_and_keeps_flags(store):
    first = store.register_topic("events")
    assert (first.topic_name, first.is_active, first.flow_control_flag) == ("events", True, FlowControl.ENABLED)
    assert first.last_updated_at.tzinfo is not None
    store.set_flow_control("events", FlowControl.PAUSED)
    store.set_active("events", False)
    again = store.register_topic("events", FlowControl.ENABLED)
    assert (again.flow_control_flag, again.is_active) == (FlowControl.PAUSED, False)
    assert store.register_topic("orders", FlowControl.PAUSED).flow_control_flag == FlowControl.PAUSED
    assert [t.topic_name for t in store.list_topics()] == ["events", "orders"]
    assert store.get_topic("nope") is None


def test_flag_changes_update_last_updated_at(store):
    first = store.register_topic("events").last_updated_at
    assert store.set_flow_control("events", FlowControl.PAUSED).last_updated_at >= first
    entry = store.set_active("events", True)
    assert entry.is_active and entry.flow_control_flag == FlowControl.PAUSED
    assert store.get_topic("events") == entry


@pytest.mark.parametrize("change", [lambda s: s.set_flow_control("nope", FlowControl.PAUSED),
                                    lambda s: s.set_active("nope", False)])
def test_unknown_topic_is_a_clear_error(store, change):
    with pytest.raises(UnknownTopicError, match="unknown topic 'nope'"):
        change(store)
    assert store.get_topic("nope") is None  # the failed update did not create the entry


# -- checkpoints ----------------------------------------------------------------------------
def test_checkpoint_put_get_overwrite_with_64bit_ids(store):
    assert store.get_checkpoint("events", "standardized") is None
    ts = datetime(2026, 1, 19, 12, 30, tzinfo=timezone.utc)
    store.put_checkpoint("events", "standardized", 123, ts)
    store.put_checkpoint("events", "standardized", BIG)
    store.put_checkpoint("events", "curated", None, ts)
    cp = store.get_checkpoint("events", "standardized")
    assert (cp.pipeline_id, cp.checkpoint_type, cp.last_snapshot_id, cp.last_ingestion_ts) == (
        "events", "standardized", BIG, None)
    assert type(cp.last_snapshot_id) is int and cp.updated_at.tzinfo is not None
    cur = store.get_checkpoint("events", "curated")
    assert (cur.last_snapshot_id, cur.last_ingestion_ts) == (None, ts)
    store.put_checkpoint("events", "curated", -BIG)
    assert store.get_checkpoint("events", "curated").last_snapshot_id == -BIG


# -- run log --------------------------------------------------------------------------------
def _run(topic: str, stage: str = "standardized") -> RunRecord:
    return RunRecord(topic, stage, datetime.now(timezone.utc), "RUNNING")


def test_run_log_start_finish_list(store):
    rec = store.start_run(_run("events"))
    assert isinstance(rec.run_id, int)
    rec.status, rec.records_in, rec.records_written, rec.records_duplicates = "SUCCEEDED", 10, 9, 1
    rec.ended_at, rec.source_snapshot_id, rec.target_snapshot_id = datetime.now(timezone.utc), BIG, 7
    store.finish_run(rec)
    failed = store.start_run(_run("events", "curated"))
    failed.status, failed.error_message = "FAILED", "boom: it's \"quoted\""
    store.finish_run(failed)
    got, first = store.list_runs("events")
    assert got == failed and first == rec
    assert type(first.source_snapshot_id) is int and first.error_message is None


def test_run_log_order_and_limit(store):
    ids = [store.start_run(_run(topic)).run_id for topic in ("events", "orders", "events", "orders", "events")]
    assert ids == sorted(ids) and len(set(ids)) == 5  # monotonically increasing
    assert [r.run_id for r in store.list_runs()] == ids[::-1]
    assert [r.run_id for r in store.list_runs(limit=2)] == ids[:-3:-1]
    assert [r.run_id for r in store.list_runs("events")] == [ids[4], ids[2], ids[0]]
    assert [r.run_id for r in store.list_runs("events", limit=1)] == [ids[4]]
    assert store.list_runs("events", limit=0) == [] and store.list_runs("nope") == []


def test_run_ids_keep_increasing_across_reopen(make):
    first = make().start_run(_run("events")).run_id
    assert make().start_run(_run("events")).run_id > first


# -- ingest log -----------------------------------------------------------------------------
def test_ingest_log(store):
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    late = IngestRecord("i2", "events", "b.ndjson", 5, 4, 1, BIG, t0 + timedelta(seconds=2))
    early = IngestRecord("i1", "events", "a.ndjson", 3, 3, 0, None, t0)
    other = IngestRecord("i3", "orders", "c.ndjson", 1, 0, 1, 9, t0 + timedelta(seconds=1))
    for rec in (late, early, other):
        store.record_ingest(rec)
    assert store.list_ingests("events") == [early, late]
    assert store.list_ingests() == [early, other, late]
    replaced = IngestRecord("i1", "events", "a.ndjson", 3, 2, 1, 4, t0)
    store.record_ingest(replaced)  # same ingest id: replaced, not duplicated
    assert store.list_ingests("events") == [replaced, late] and store.list_ingests("nope") == []


# -- leases ---------------------------------------------------------------------------------
def test_lease_acquire_refuse_renew_release(store):
    assert store.lease_holder("events") is None
    assert store.acquire_lease("events", "a", ttl_seconds=60)
    assert not store.acquire_lease("events", "b", ttl_seconds=60)
    assert store.acquire_lease("events", "a", ttl_seconds=60)  # renewal by the holder
    assert store.lease_holder("events") == "a"
    store.release_lease("events", "b")  # not b's to release
    assert store.lease_holder("events") == "a"
    store.release_lease("events", "a")
    assert store.lease_holder("events") is None
    store.release_lease("events", "a")  # releasing nothing is harmless
    assert store.acquire_lease("events", "b", ttl_seconds=60)


def test_expired_lease_lets_another_holder_in(store):
    assert store.acquire_lease("events", "a", ttl_seconds=0.05)
    time.sleep(0.15)
    assert store.lease_holder("events") is None  # a crashed holder does not block forever
    assert store.acquire_lease("events", "b", ttl_seconds=60)
    assert store.lease_holder("events") == "b"


def test_steal_only_from_the_named_stale_holder(store):
    assert not store.steal_lease("events", "dead", "me", 600)  # nothing to steal
    assert store.acquire_lease("events", "dead", 600)
    assert not store.steal_lease("events", "someone-else", "me", 600)
    assert store.lease_holder("events") == "dead"
    assert store.steal_lease("events", "dead", "me", 600)
    assert store.lease_holder("events") == "me"
    assert not store.acquire_lease("events", "dead", 600)


def test_lease_race_between_threads(make):
    stores = [make() for _ in range(8)]
    barrier = threading.Barrier(8)

    def attempt(i: int) -> bool:
        barrier.wait()
        return stores[i].acquire_lease("events", f"h{i}", 60)
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(attempt, range(8)))
    assert won.count(True) == 1
    assert stores[0].lease_holder("events") == f"h{won.index(True)}"


def test_lease_race_on_one_shared_store(store):
    """The orchestrator shares one store between its topic threads."""
    barrier = threading.Barrier(8)

    def attempt(i: int) -> bool:
        barrier.wait()
        return store.acquire_lease("events", f"h{i}", 60)
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(attempt, range(8))).count(True) == 1


# -- alerts, rebuilds, deployments, drift ---------------------------------------------------
def test_should_alert_once_per_period(store):
    assert store.should_alert("events", "MissingSchema")
    assert not store.should_alert("events", "MissingSchema")
    assert store.should_alert("events", "Other") and store.should_alert("orders", "MissingSchema")
    assert store.should_alert("t", "k", every_seconds=0.05)
    assert not store.should_alert("t", "k", every_seconds=0.05)
    time.sleep(0.1)
    assert store.should_alert("t", "k", every_seconds=0.05)


def test_rebuild_record(store):
    assert store.get_rebuild("events") is None
    store.put_rebuild("events", "_bak1", BIG, "RUNNING")
    store.put_rebuild("events", "_bak1", BIG, "FAILED", "disk full")
    got = store.get_rebuild("events")
    assert {k: v for k, v in got.items() if k != "updated_at"} == {
        "topic_name": "events", "archive_suffix": "_bak1", "target_raw_snapshot": BIG, "status": "FAILED",
        "error": "disk full"}
    assert datetime.fromisoformat(got["updated_at"]).tzinfo is not None
    store.put_rebuild("events", "_bak2", None, "SUCCEEDED")
    assert (store.get_rebuild("events")["target_raw_snapshot"], store.get_rebuild("events")["error"]) == (None, None)


def test_deployment_records(store):
    assert store.last_deployment("events") is None
    store.record_deployment("events", "create", "a" * 64, '{"v": 1}', "alice", "[]")
    store.record_deployment("orders", "create", "c" * 64, "{}", "carol", "[]")
    store.record_deployment("events", "evolve", "b" * 64, '{"v": 2}', "bob", '["add x"]')
    last = store.last_deployment("events")
    assert {k: last[k] for k in ("topic_name", "kind", "schema_sha256", "schema_json", "deployed_by", "actions")} == {
        "topic_name": "events", "kind": "evolve", "schema_sha256": "b" * 64, "schema_json": '{"v": 2}',
        "deployed_by": "bob", "actions": '["add x"]'}
    assert isinstance(last["deployment_id"], int) and datetime.fromisoformat(last["deployed_at"])
    assert store.last_deployment("orders")["deployed_by"] == "carol"
    assert store.last_deployment("events")["deployment_id"] > store.last_deployment("orders")["deployment_id"]


def test_job_output_round_trip(store):
    """What a Glue job did, read back by its run id (big snapshot ids exact, unknown ids None)."""
    output = {"status": "SUCCEEDED", "records_in": 5, "snapshot_id": BIG, "columns_added": ["a"], "message": ""}
    assert store.get_job_output("jr_1") is None
    store.put_job_output("jr_1", output)
    assert store.get_job_output("jr_1") == output
    store.put_job_output("jr_1", {**output, "records_in": 6})  # a retried run id overwrites
    assert store.get_job_output("jr_1")["records_in"] == 6 and store.get_job_output("jr_2") is None


def test_drift_recorded_once(store):
    assert store.record_drift("events", "color", "undeclared_column", "red", BIG, "not in schema") is True
    [first] = store.list_drift()
    assert store.record_drift("events", "color", "undeclared_column", "blue", 12, "again") is False
    assert store.list_drift() == [first]
    assert (first.sample_value, first.snapshot_id, first.detail) == ("red", BIG, "not in schema")
    assert first.first_seen.tzinfo is not None
    assert store.record_drift("events", "color", "type_conflict", "x" * 500, None) is True
    assert store.record_drift("orders", "a#b", "missing_schema", None, None) is True
    assert [(e.topic, e.column_name, e.kind) for e in store.list_drift()] == [
        ("events", "color", "undeclared_column"), ("events", "color", "type_conflict"),
        ("orders", "a#b", "missing_schema")]
    conflict = store.list_drift("events")[1]
    assert (conflict.sample_value, conflict.snapshot_id, conflict.detail) == ("x" * 200, None, "")
    assert store.list_drift("nope") == []


# -- selection by configuration -------------------------------------------------------------
def test_open_state_store_defaults_to_sqlite(tmp_path, monkeypatch):
    settings = Settings(home=tmp_path, schemas_dir=tmp_path)
    for value in (None, "sqlite"):
        if value is None:
            monkeypatch.delenv("LEANOPS_STATE", raising=False)
        else:
            monkeypatch.setenv("LEANOPS_STATE", value)
        s = open_state_store(settings)
        assert isinstance(s, SqliteStateStore) and s.path == settings.state_path
        s.close()


def test_open_state_store_dynamodb(tmp_path, monkeypatch, aws):
    from leanops.state.dynamodb import DynamoStateStore
    settings = Settings(home=tmp_path, schemas_dir=tmp_path)
    monkeypatch.setenv("LEANOPS_STATE", "dynamodb://x_?region=us-east-1")
    s = open_state_store(settings)
    assert isinstance(s, DynamoStateStore) and s.prefix == "x_"
    assert s.register_topic("events").topic_name == "events"
    monkeypatch.setenv("LEANOPS_STATE", "dynamodb://")
    assert open_state_store(settings).prefix == "leanops_"


@pytest.mark.parametrize("value", ["postgres://x", "dynamo://x_", "sqlite:///tmp/x.db", "dynamodb://x_?colour=red",
                                   "dynamodb://x_/extra", "dynamodb://bad prefix", "dynamodb://x_?region=a&region=b"])
def test_open_state_store_rejects_bad_config(tmp_path, monkeypatch, value):
    monkeypatch.setenv("LEANOPS_STATE", value)
    with pytest.raises(ConfigError, match="LEANOPS_STATE"):
        open_state_store(Settings(home=tmp_path, schemas_dir=tmp_path))
