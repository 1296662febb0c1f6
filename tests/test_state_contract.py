"""One contract for every state-store adapter: each test runs against SQLite and DynamoDB (moto).

DynamoDB runs inside moto's in-process mock. moto evaluates a ConditionExpression and writes the item
without a lock, whereas real DynamoDB applies each conditional write atomically per item; the fixture
wraps moto's put/update/delete in one lock to model that guarantee, so the thread race below tests
our conditions, not moto's interleaving.
"""
from __future__ import annotations

import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from conftest import fake_aws_credentials, serialize_dynamodb_writes

from leanops.config import Settings
from leanops.errors import ConfigError, UnknownTopicError
from leanops.state.base import (HISTORY_LOGS, FileStatus, IngestRecord, Manifest, ManifestStatus, RunRecord,
                                StateStore, TrackedFile)
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


class Clock:
    """A wall clock the test moves: leases and alert periods are judged by it, not by seconds slept."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now

    @staticmethod
    def sleep(seconds: float) -> None:  # the adapters' own back-off still really waits
        time.sleep(seconds)

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(store, monkeypatch) -> Clock:
    """The store's clock (its module's `time`), so a lease running out is an event the test makes happen:
    a sleep is stretched on a loaded machine, and a check meant to land inside a period may land after it."""
    fake = Clock()
    monkeypatch.setattr(sys.modules[type(store).__module__], "time", fake)
    return fake


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


# -- retention ------------------------------------------------------------------------------
OLD = datetime(2026, 1, 1, tzinfo=timezone.utc)
CUTOFF = OLD + timedelta(days=30)


def _finished(store, topic: str, stage: str, ended: datetime, status: str = "SUCCEEDED") -> int:
    rec = store.start_run(RunRecord(topic, stage, ended - timedelta(minutes=1), "RUNNING"))
    rec.status, rec.ended_at = status, ended
    store.finish_run(rec)
    return rec.run_id


def _history(store) -> dict[str, int]:
    """A history across two topics: the run ids by name; the runs `old_*` are prunable at CUTOFF."""
    for topic in ("events", "orders"):
        store.register_topic(topic)
    ids = {
        "old_std_1": _finished(store, "events", "standardized", OLD),
        "old_std_2": _finished(store, "events", "standardized", OLD + timedelta(days=1), "FAILED"),
        "new_std": _finished(store, "events", "standardized", CUTOFF + timedelta(days=1)),
        "only_cur": _finished(store, "events", "curated", OLD),  # the last curated run: kept, however old
        "old_maint": _finished(store, "events", "maintenance", OLD),
        "last_maint": _finished(store, "events", "maintenance", OLD + timedelta(days=7), "NO_NEW_DATA"),
        "old_ord": _finished(store, "orders", "standardized", OLD),
        "last_ord": _finished(store, "orders", "standardized", OLD + timedelta(days=2), "FAILED"),
    }
    ids["stuck"] = store.start_run(RunRecord("events", "semantic", OLD, "RUNNING")).run_id  # a crashed run
    ids["running_cur"] = store.start_run(RunRecord("events", "curated", OLD, "RUNNING")).run_id
    return ids


def test_prune_history_keeps_the_newest_finished_run_per_topic_and_stage(store):
    ids = _history(store)
    assert store.prune_history(CUTOFF) == {"runs": 4, "ingests": 0, "job_outputs": 0, "alerts": 0}
    kept = {r.run_id for r in store.list_runs(limit=-1)}
    assert kept == {ids[k] for k in ("new_std", "only_cur", "last_maint", "last_ord", "stuck", "running_cur")}
    assert {(r.stage, r.status) for r in store.list_runs("events", limit=-1)} == {
        ("standardized", "SUCCEEDED"), ("curated", "SUCCEEDED"), ("maintenance", "NO_NEW_DATA"),
        ("semantic", "RUNNING"), ("curated", "RUNNING")}
    assert store.prune_history(CUTOFF) == dict.fromkeys(("runs", "ingests", "job_outputs", "alerts"), 0)
    assert {r.run_id for r in store.list_runs(limit=-1)} == kept


def test_prune_history_never_removes_running_rows_or_the_last_runs(store):
    ids = _history(store)
    far = CUTOFF + timedelta(days=3650)  # everything finished is old now
    assert store.prune_history(far)["runs"] == 4  # the same four: the rest are RUNNING or the last of a stage
    assert {r.run_id for r in store.list_runs(limit=-1)} == {
        ids[k] for k in ("new_std", "only_cur", "last_maint", "last_ord", "stuck", "running_cur")}
    assert [r.run_id for r in store.list_runs("events", limit=1)] == [ids["running_cur"]]


def test_prune_history_of_the_ingest_log(store):
    store.register_topic("events")
    store.register_topic("orders")
    old = [IngestRecord(f"i{n}", topic, "a.ndjson", 3, 3, 0, BIG, OLD + timedelta(hours=n))
           for n, topic in enumerate(("events", "events", "orders"))]
    new = IngestRecord("i9", "events", "b.ndjson", 5, 4, 1, None, CUTOFF)  # at the cutoff: not before it
    for rec in (*old, new):
        store.record_ingest(rec)
    assert store.prune_history(CUTOFF)["ingests"] == 3
    assert store.list_ingests() == [new]
    assert store.prune_history(CUTOFF)["ingests"] == 0


def test_prune_history_of_job_outputs_and_alert_memory(store):
    store.register_topic("events")
    store.put_job_output("jr_1", {"status": "SUCCEEDED"})
    assert store.should_alert("events", "MissingSchema")
    now = datetime.now(timezone.utc)
    assert store.prune_history(now - timedelta(days=1)) == dict.fromkeys(HISTORY_LOGS, 0)  # both are recent
    assert store.get_job_output("jr_1") is not None and not store.should_alert("events", "MissingSchema")
    counts = store.prune_history(now + timedelta(minutes=1))
    assert (counts["job_outputs"], counts["alerts"]) == (1, 1)
    assert store.get_job_output("jr_1") is None
    assert store.should_alert("events", "MissingSchema")  # forgotten: sent again


def test_prune_history_leaves_what_decides_the_next_run(store):
    store.register_topic("events", FlowControl.PAUSED)
    store.put_checkpoint("events", "standardized", BIG)
    store.record_drift("events", "color", "undeclared_column", "red", 1)
    assert store.acquire_lease("events", "me", 600)
    store.put_rebuild("events", "_bak1", 3, "RUNNING")
    store.record_deployment("events", "create", "a" * 64, "{}", "alice", "[]")
    store.track_file(_landed("a"))
    assert store.claim_files(_manifest("m1", ["a"]))
    store.prune_history(datetime.now(timezone.utc) + timedelta(days=3650))
    assert store.get_topic("events").flow_control_flag == FlowControl.PAUSED
    assert store.get_checkpoint("events", "standardized").last_snapshot_id == BIG
    assert len(store.list_drift()) == 1 and store.lease_holder("events") == "me"
    assert store.get_rebuild("events")["status"] == "RUNNING" and store.last_deployment("events") is not None
    assert store.get_file("a").status == FileStatus.MANIFESTED and store.get_manifest("m1") is not None


def test_prune_history_refuses_a_naive_cutoff(store):
    with pytest.raises(ValueError, match="timezone-aware"):
        store.prune_history(datetime(2026, 1, 1))


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


def test_expired_lease_lets_another_holder_in(store, clock):
    assert store.acquire_lease("events", "a", ttl_seconds=60)
    clock.advance(59)
    assert store.lease_holder("events") == "a" and not store.acquire_lease("events", "b", ttl_seconds=60)
    clock.advance(2)
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
def test_should_alert_once_per_period(store, clock):
    assert store.should_alert("events", "MissingSchema")
    assert not store.should_alert("events", "MissingSchema")
    assert store.should_alert("events", "Other") and store.should_alert("orders", "MissingSchema")
    assert store.should_alert("t", "k", every_seconds=60)
    clock.advance(59)
    assert not store.should_alert("t", "k", every_seconds=60)
    clock.advance(2)
    assert store.should_alert("t", "k", every_seconds=60)


def test_mark_checked_returns_the_previous_mark(store):
    first = datetime(2026, 1, 19, 10, 0, 0, 250000, tzinfo=timezone.utc)
    assert store.mark_checked("events", "HealthCheckDrift", first) is None
    assert store.mark_checked("events", "HealthCheckDrift", first + timedelta(minutes=5)) == first
    assert store.mark_checked("orders", "HealthCheckDrift", first) is None  # per topic
    assert store.mark_checked("events", "HealthCheckDrift", first) == first + timedelta(minutes=5)


def test_rebuild_record(store):
    assert store.get_rebuild("events") is None
    store.put_rebuild("events", "_bak1", BIG, "ARCHIVING", schema_sha256="a" * 64)
    store.put_rebuild("events", "_bak1", BIG, "REPLAYING", "disk full", "a" * 64)
    got = store.get_rebuild("events")
    assert {k: v for k, v in got.items() if k != "updated_at"} == {
        "topic_name": "events", "archive_suffix": "_bak1", "target_raw_snapshot": BIG, "status": "REPLAYING",
        "error": "disk full", "schema_sha256": "a" * 64}
    assert datetime.fromisoformat(got["updated_at"]).tzinfo is not None
    store.put_rebuild("events", "_bak2", None, "SUCCEEDED")
    got = store.get_rebuild("events")
    assert (got["target_raw_snapshot"], got["error"], got["schema_sha256"]) == (None, None, None)


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


# -- file tracking --------------------------------------------------------------------------
T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
MAX_SNAPSHOT = 2**63 - 1


def _landed(key: str, topic: str = "events", checksum: str | None = None, seen: float = 0, size: int = 100) -> TrackedFile:
    at = T0 + timedelta(seconds=seen)
    return TrackedFile(key, topic, size, checksum or f"sha-{key}", FileStatus.PENDING, at, at)


def _manifest(manifest_id: str, files: list[str], topic: str = "events", created: float = 0) -> Manifest:
    at = T0 + timedelta(minutes=created)
    return Manifest(manifest_id, topic, list(files), 100 * len(files), ManifestStatus.PENDING, at, at)


def test_track_file_once_per_key(store):
    first = _landed("/in/a.ndjson", size=2**40)
    assert store.get_file("/in/a.ndjson") is None
    assert store.track_file(first) == first
    got = store.get_file("/in/a.ndjson")
    assert got == first and got.first_seen == T0 and got.first_seen.tzinfo is not None  # microseconds and zone kept
    assert (got.attempts, got.manifest_id, got.lines, got.error, got.duplicate_of) == (0, None, None, None, None)
    again = TrackedFile("/in/a.ndjson", "events", 7, "other-bytes", FileStatus.FAILED, T0 + timedelta(days=1),
                        T0 + timedelta(days=1), attempts=3, error="x")
    assert store.track_file(again) == first  # the stored record, unchanged
    assert store.list_files() == [first]


def test_duplicates_by_topic_and_checksum(store):
    a = store.track_file(_landed("/in/a", checksum="sha-x"))
    b = store.track_file(_landed("/in/b", checksum="sha-x", seen=1))
    other_topic = store.track_file(_landed("/in/c", topic="orders", checksum="sha-x", seen=2))
    other_bytes = store.track_file(_landed("/in/d", checksum="sha-y", seen=3))
    assert (a.status, a.duplicate_of) == (FileStatus.PENDING, None)
    assert (b.status, b.duplicate_of) == (FileStatus.DUPLICATE, "/in/a")
    assert (other_topic.status, other_topic.duplicate_of) == (FileStatus.PENDING, None)
    assert (other_bytes.status, other_bytes.duplicate_of) == (FileStatus.PENDING, None)
    assert store.get_file("/in/b") == b
    assert store.track_file(_landed("/in/b", checksum="sha-x")) == b  # still the stored duplicate
    assert store.track_file(_landed("/in/a", checksum="sha-x")) == a  # the first stays as it is
    assert [f.file_key for f in store.list_files(status=FileStatus.DUPLICATE)] == ["/in/b"]


def test_concurrent_tracking_of_one_checksum(make):
    """8 threads land 8 different files with the same bytes at once: exactly one is not a duplicate."""
    stores = [make() for _ in range(8)]
    barrier = threading.Barrier(8)

    def track(i: int) -> TrackedFile:
        barrier.wait()
        return stores[i].track_file(_landed(f"/in/{i}", checksum="same", seen=i))
    with ThreadPoolExecutor(8) as pool:
        tracked = list(pool.map(track, range(8)))
    [first] = [f for f in tracked if f.status == FileStatus.PENDING]
    assert all(f.duplicate_of == first.file_key for f in tracked if f is not first)
    assert sorted(tracked, key=lambda f: f.first_seen) == stores[0].list_files()


def test_concurrent_tracking_of_one_key(make):
    """8 threads track the same key (with different metadata) at once: one record, returned to all."""
    stores = [make() for _ in range(8)]
    barrier = threading.Barrier(8)

    def track(i: int) -> TrackedFile:
        barrier.wait()
        return stores[i].track_file(_landed("/in/a", checksum=f"sha-{i % 2}", seen=i, size=i))
    with ThreadPoolExecutor(8) as pool:
        tracked = list(pool.map(track, range(8)))
    assert stores[0].list_files() == [tracked[0]] and all(f == tracked[0] for f in tracked)
    assert tracked[0].status == FileStatus.PENDING


def test_list_files_order_and_filters(store):
    for f in (_landed("b", seen=2), _landed("c", seen=1), _landed("a", seen=1), _landed("z", topic="orders")):
        store.track_file(f)
    assert [f.file_key for f in store.list_files()] == ["z", "a", "c", "b"]  # first_seen, then file_key
    assert [f.file_key for f in store.list_files("events")] == ["a", "c", "b"]
    store.update_files(["c"], status=FileStatus.COMPLETED)
    assert [f.file_key for f in store.list_files(status=FileStatus.COMPLETED)] == ["c"]
    assert [f.file_key for f in store.list_files("events", FileStatus.PENDING)] == ["a", "b"]
    assert store.list_files("orders", FileStatus.COMPLETED) == [] and store.list_files("nope") == []


def test_claim_files_all_or_nothing(store):
    for key in "abcd":
        store.track_file(_landed(key))
    m1 = _manifest("m1", ["a", "b"])
    assert store.claim_files(m1) is True
    assert store.get_manifest("m1") == m1
    assert [(f.file_key, f.status, f.manifest_id) for f in store.list_files()] == [
        ("a", "manifested", "m1"), ("b", "manifested", "m1"), ("c", "pending", None), ("d", "pending", None)]
    before = store.list_files()
    assert store.claim_files(_manifest("m2", ["c", "b", "d"])) is False  # b is m1's: nothing of m2 is kept
    assert store.claim_files(_manifest("m3", ["c", "never-tracked"])) is False
    assert store.claim_files(_manifest("m4", [])) is False
    assert store.list_files() == before  # c and d untouched, updated_at included
    assert [store.get_manifest(m) for m in ("m2", "m3", "m4")] == [None, None, None]
    m5 = _manifest("m5", ["d", "c"])
    assert store.claim_files(m5) is True
    assert store.get_manifest("m5").files == ["d", "c"]  # the manifest's order, as given
    assert {f.file_key: f.manifest_id for f in store.list_files()} == {"a": "m1", "b": "m1", "c": "m5", "d": "m5"}


def test_claim_race_puts_each_file_in_at_most_one_manifest(make):
    """Two builders claim overlapping files at once, five times: exactly one wins each time, and it alone is kept."""
    stores = [make(), make()]
    for rnd in range(5):
        keys = [f"r{rnd}/f{i:02d}" for i in range(10)]
        for key in keys:
            stores[0].track_file(_landed(key))
        claims = [_manifest(f"r{rnd}-A", keys[:7]), _manifest(f"r{rnd}-B", list(reversed(keys[4:])))]
        barrier = threading.Barrier(2)

        def claim(i: int, barrier=barrier, claims=claims) -> bool:
            barrier.wait()
            return stores[i].claim_files(claims[i])
        with ThreadPoolExecutor(2) as pool:
            won = list(pool.map(claim, range(2)))
        assert won.count(True) == 1, won
        winner, loser = claims[won.index(True)], claims[won.index(False)]
        assert stores[1].get_manifest(winner.manifest_id) == winner
        assert stores[1].get_manifest(loser.manifest_id) is None
        for f in stores[1].list_files():
            if f.file_key in winner.files:
                assert (f.status, f.manifest_id) == (FileStatus.MANIFESTED, winner.manifest_id)
            elif f.file_key in keys:
                assert (f.status, f.manifest_id) == (FileStatus.PENDING, None)


def test_update_manifest_is_conditional(store):
    store.track_file(_landed("a"))
    store.claim_files(_manifest("m1", ["a"]))
    before = store.get_manifest("m1")
    assert store.update_manifest("m1", ManifestStatus.PROCESSING, status=ManifestStatus.COMPLETED) is False
    assert store.get_manifest("m1") == before  # nothing changed
    assert store.update_manifest("nope", None, status=ManifestStatus.FAILED) is False
    assert store.get_manifest("nope") is None
    assert store.update_manifest("m1", ManifestStatus.PENDING, status=ManifestStatus.PROCESSING, attempts=1)
    got = store.get_manifest("m1")
    assert (got.status, got.attempts) == (ManifestStatus.PROCESSING, 1) and got.updated_at > before.updated_at
    assert got.created_at == before.created_at
    assert store.update_manifest("m1", ManifestStatus.PROCESSING, status=ManifestStatus.FAILED, error="boom")
    assert store.update_manifest("m1", None, status=ManifestStatus.COMPLETED, raw_snapshot_id=MAX_SNAPSHOT,
                                 path="s3://bucket/manifests/m1.json", error=None, updated_at=T0)
    got = store.get_manifest("m1")
    assert (got.status, got.raw_snapshot_id, got.path, got.error, got.updated_at) == (
        ManifestStatus.COMPLETED, MAX_SNAPSHOT, "s3://bucket/manifests/m1.json", None, T0)
    assert type(got.raw_snapshot_id) is int
    with pytest.raises(ValueError):
        store.update_manifest("m1", None, topic="orders")


def test_update_files_sets_fields(store):
    a = store.track_file(_landed("a"))
    store.track_file(_landed("b", seen=1))
    store.update_files(["a", "b"], status=FileStatus.COMPLETED, lines=42, attempts=1)
    got = store.get_file("a")
    assert (got.status, got.lines, got.attempts, got.error) == (FileStatus.COMPLETED, 42, 1, None)
    assert got.updated_at > a.updated_at and got.first_seen == a.first_seen
    store.update_files(["b"], status=FileStatus.FAILED, error="line 3: not JSON", updated_at=T0)
    got = store.get_file("b")
    assert (got.status, got.error, got.lines, got.updated_at) == (FileStatus.FAILED, "line 3: not JSON", 42, T0)
    store.update_files(["b"], manifest_id="m9", lines=None)
    assert (store.get_file("b").manifest_id, store.get_file("b").lines) == ("m9", None)
    store.update_files(["never-tracked"], status=FileStatus.FAILED)  # ignored, never created
    store.update_files([], status=FileStatus.FAILED)
    assert store.get_file("never-tracked") is None and [f.file_key for f in store.list_files()] == ["a", "b"]
    with pytest.raises(ValueError):
        store.update_files(["a"], topic="orders")


def test_list_manifests_order_and_filters(store):
    for key in ("a", "b", "c", "d"):
        store.track_file(_landed(key))
    store.track_file(_landed("o", topic="orders"))
    for manifest in (_manifest("m3", ["a"], created=2), _manifest("m2", ["b"], created=1),
                     _manifest("m1", ["c"], created=2), _manifest("mo", ["o"], topic="orders", created=3)):
        assert store.claim_files(manifest)
    assert [m.manifest_id for m in store.list_manifests()] == ["m2", "m1", "m3", "mo"]  # created_at, then id
    assert [m.manifest_id for m in store.list_manifests("events")] == ["m2", "m1", "m3"]
    store.update_manifest("m1", None, status=ManifestStatus.FAILED)
    assert [m.manifest_id for m in store.list_manifests(status=ManifestStatus.FAILED)] == ["m1"]
    assert [m.manifest_id for m in store.list_manifests("events", ManifestStatus.PENDING)] == ["m2", "m3"]
    assert store.list_manifests("orders", ManifestStatus.FAILED) == [] and store.list_manifests("nope") == []
    assert store.list_manifests("orders")[0] == _manifest("mo", ["o"], topic="orders", created=3)


def test_dynamodb_manifest_items_are_the_workflow_s(aws):
    """The file-manifest state machine SETs status, updated_at ($$.State.EnteredTime), job_run_id and error as
    strings on the FileManifests item: the store writes the same types and reads the workflow's writes."""
    from leanops.state.dynamodb import DynamoStateStore
    store = DynamoStateStore(prefix="sfn_", region="us-east-1")
    store.track_file(_landed("s3://landing/a.ndjson"))
    assert store.claim_files(_manifest("m1", ["s3://landing/a.ndjson"]))
    table = store.table("FileManifests")
    item = store._client.get_item(TableName=table, Key={"manifest_id": {"S": "m1"}})["Item"]
    assert item["status"] == {"S": "pending"} and "S" in item["updated_at"]
    assert item["files"] == {"L": [{"S": "s3://landing/a.ndjson"}]}
    store._client.update_item(  # what the workflow's UpdateStatusFailed state sends
        TableName=table, Key={"manifest_id": {"S": "m1"}},
        UpdateExpression="SET #status = :status, #updated_at = :updated_at, #job_run_id = :job_run_id, "
                         "#error = :error",
        ExpressionAttributeNames={"#status": "status", "#updated_at": "updated_at", "#job_run_id": "job_run_id",
                                  "#error": "error"},
        ExpressionAttributeValues={":status": {"S": "failed"}, ":updated_at": {"S": "2024-05-02T08:30:00.125Z"},
                                   ":job_run_id": {"S": "jr_1"}, ":error": {"S": "States.TaskFailed"}})
    got = store.get_manifest("m1")
    assert (got.status, got.error, got.updated_at) == (
        "failed", "States.TaskFailed", datetime(2024, 5, 2, 8, 30, 0, 125000, tzinfo=timezone.utc))
    assert store.update_manifest("m1", "failed", status="pending", attempts=1)
    assert store._client.get_item(TableName=table, Key={"manifest_id": {"S": "m1"}})["Item"]["job_run_id"] == {
        "S": "jr_1"}  # the store's updates keep the workflow's attributes
    assert [m.manifest_id for m in store.list_manifests()] == ["m1"]


def test_dynamodb_lists_by_status_from_the_index_not_a_scan(aws, monkeypatch):
    """Files and manifests by status come from the status index, re-read consistently: an entry the
    (eventually consistent) index still lists after the item moved on is dropped, and nothing is scanned."""
    from leanops.state.dynamodb import DynamoStateStore
    store = DynamoStateStore(prefix="idx_", region="us-east-1")
    for f in (_landed("a"), _landed("b"), _landed("c", topic="orders")):
        store.track_file(f)
    assert store.claim_files(_manifest("m1", ["b"]))
    real_query = store._client.query

    def stale_query(**kwargs):  # the index has not caught up with b's claim yet
        page = real_query(**kwargs)
        if kwargs.get("IndexName") and kwargs["TableName"].endswith("FileTracking"):
            page["Items"] = page["Items"] + [{"file_key": {"S": "b"}}]
        return page

    def no_scan(**kwargs):
        raise AssertionError(f"scanned {kwargs['TableName']}")
    monkeypatch.setattr(store._client, "query", stale_query)
    monkeypatch.setattr(store._client, "scan", no_scan)

    assert [f.file_key for f in store.list_files("events", FileStatus.PENDING)] == ["a"]
    assert [f.file_key for f in store.list_files(status=FileStatus.PENDING)] == ["a", "c"]
    assert [f.file_key for f in store.list_files("events", FileStatus.MANIFESTED)] == ["b"]
    assert [m.manifest_id for m in store.list_manifests("events", ManifestStatus.PENDING)] == ["m1"]
    assert store.list_manifests("orders", ManifestStatus.PENDING) == []


def test_dynamodb_tables_of_layout_3_without_the_index_are_scanned(aws):
    from leanops.state import dynamodb
    client = __import__("boto3").client("dynamodb", region_name="us-east-1")
    client.create_table(TableName="old_FileTracking", BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "file_key", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "file_key", "KeyType": "HASH"}])
    store = dynamodb.DynamoStateStore(prefix="old_", region="us-east-1")
    store.track_file(_landed("a"))
    assert [f.file_key for f in store.list_files("events", FileStatus.PENDING)] == ["a"]


def test_dynamodb_prune_queries_the_topic_partitions_and_scans_only_job_outputs(aws, monkeypatch):
    from leanops.state.dynamodb import DynamoStateStore
    store = DynamoStateStore(prefix="prune_", region="us-east-1")
    ids = _history(store)
    store.record_ingest(IngestRecord("i1", "events", "a.ndjson", 1, 1, 0, None, OLD))
    real_scan, scanned = store._client.scan, []

    def scan(**kwargs):
        scanned.append(kwargs["TableName"])
        return real_scan(**kwargs)
    monkeypatch.setattr(store._client, "scan", scan)
    assert store.prune_history(CUTOFF) == {"runs": 4, "ingests": 1, "job_outputs": 0, "alerts": 0}
    assert sorted(scanned) == ["prune_JobOutputs", "prune_PipelineRegistry"]  # the registry: one item per topic
    assert ids["last_maint"] in {r.run_id for r in store.list_runs("events")}


def test_dynamodb_retention_writes_ttl_except_on_the_newest_run_of_a_stage(aws):
    from leanops.state.dynamodb import RETENTION_TTL_ATTRIBUTE, DynamoStateStore
    store = DynamoStateStore(prefix="ttl_", region="us-east-1", retention=timedelta(days=30))
    for suffix in ("RunLog", "IngestLog", "JobOutputs"):
        ttl = store._client.describe_time_to_live(TableName=store.table(suffix))["TimeToLiveDescription"]
        assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", RETENTION_TTL_ATTRIBUTE)

    def expires(run_id: int):
        item = store._client.get_item(TableName=store.table("RunLog"), Key={
            "topic": {"S": "events"}, "run_key": {"S": f"{run_id:020d}"}})["Item"]
        return int(item[RETENTION_TTL_ATTRIBUTE]["N"]) if RETENTION_TTL_ATTRIBUTE in item else None

    month = 30 * 86_400
    first = _finished(store, "events", "standardized", OLD)
    assert expires(first) is None  # the newest of its stage
    other = _finished(store, "events", "maintenance", OLD + timedelta(hours=1))
    second = _finished(store, "events", "standardized", OLD + timedelta(days=1))
    assert (expires(first), expires(second), expires(other)) == (int(OLD.timestamp()) + month, None, None)
    running = store.start_run(RunRecord("events", "standardized", OLD, "RUNNING"))
    late = store.start_run(RunRecord("events", "standardized", OLD, "RUNNING"))
    late.status, late.ended_at = "SUCCEEDED", OLD + timedelta(days=2)
    store.finish_run(late)
    running.status, running.ended_at = "FAILED", OLD + timedelta(days=3)
    store.finish_run(running)  # finishes after a run started later: it is the superseded one
    assert (expires(second), expires(late.run_id)) == (int(OLD.timestamp()) + 86_400 + month, None)
    assert expires(running.run_id) == int(OLD.timestamp()) + 3 * 86_400 + month
    store.finish_run(late)  # finishing twice changes nothing
    assert expires(late.run_id) is None

    store.record_ingest(IngestRecord("i1", "events", "a.ndjson", 1, 1, 0, None, OLD))
    item = store._client.get_item(TableName=store.table("IngestLog"), Key={
        "topic": {"S": "events"}, "ingest_id": {"S": "i1"}})["Item"]
    assert int(item[RETENTION_TTL_ATTRIBUTE]["N"]) == int(OLD.timestamp()) + month


def test_dynamodb_without_retention_writes_no_ttl(aws):
    from leanops.state.dynamodb import RETENTION_TTL_ATTRIBUTE, DynamoStateStore
    store = DynamoStateStore(prefix="nottl_", region="us-east-1")
    _finished(store, "events", "standardized", OLD)
    _finished(store, "events", "standardized", OLD + timedelta(days=1))
    store.record_ingest(IngestRecord("i1", "events", "a.ndjson", 1, 1, 0, None, OLD))
    for suffix in ("RunLog", "IngestLog"):
        items = store._client.scan(TableName=store.table(suffix))["Items"]
        assert items and not any(RETENTION_TTL_ATTRIBUTE in i for i in items)
        ttl = store._client.describe_time_to_live(TableName=store.table(suffix))["TimeToLiveDescription"]
        assert ttl["TimeToLiveStatus"] == "DISABLED"
