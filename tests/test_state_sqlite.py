"""SQLite state store: registry, checkpoints, run log, migrations."""
from datetime import datetime, timezone

import pytest

from leanops.errors import UnknownTopicError
from leanops.state.base import RunRecord
from leanops.state.sqlite import MIGRATIONS, SqliteStateStore
from leanops.types import FlowControl


@pytest.fixture
def store(tmp_path):
    s = SqliteStateStore(tmp_path / "state.db")
    yield s
    s.close()


def test_migrations_run_once_and_reopen_is_safe(tmp_path, store):
    assert store.schema_version == len(MIGRATIONS)
    store.register_topic("events")
    again = SqliteStateStore(tmp_path / "state.db")
    assert again.schema_version == len(MIGRATIONS) and again.get_topic("events") is not None


def test_register_is_idempotent_and_keeps_flags(store):
    store.register_topic("events")
    store.set_flow_control("events", FlowControl.PAUSED)
    entry = store.register_topic("events")
    assert entry.flow_control_flag == FlowControl.PAUSED and entry.is_active


def test_flag_changes_update_last_updated_at(store):
    first = store.register_topic("events").last_updated_at
    later = store.set_flow_control("events", FlowControl.PAUSED).last_updated_at
    assert later >= first


def test_unknown_topic_is_a_clear_error(store):
    with pytest.raises(UnknownTopicError, match="unknown topic 'nope'"):
        store.set_flow_control("nope", FlowControl.PAUSED)


def test_checkpoint_roundtrip(store):
    assert store.get_checkpoint("events", "standardized") is None
    store.put_checkpoint("events", "standardized", 123)
    store.put_checkpoint("events", "standardized", 456)
    cp = store.get_checkpoint("events", "standardized")
    assert cp.last_snapshot_id == 456 and cp.pipeline_id == "events" and cp.checkpoint_type == "standardized"


def test_run_log(store):
    rec = store.start_run(RunRecord("events", "standardized", datetime.now(timezone.utc), "RUNNING"))
    rec.status, rec.records_in, rec.records_written, rec.records_duplicates = "SUCCEEDED", 10, 9, 1
    store.finish_run(rec)
    [got] = store.list_runs("events")
    assert (got.status, got.records_in, got.records_written, got.records_duplicates) == ("SUCCEEDED", 10, 9, 1)


def test_lease_race_between_threads(tmp_path):
    from concurrent.futures import ThreadPoolExecutor
    stores = [SqliteStateStore(tmp_path / "race.db") for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda i: stores[i].acquire_lease("events", f"h{i}", 60), range(8)))
    assert won.count(True) == 1


def test_steal_only_from_the_named_stale_holder(store):
    assert store.acquire_lease("events", "dead", 600)
    assert not store.steal_lease("events", "someone-else", "me", 600)
    assert store.steal_lease("events", "dead", "me", 600)
    assert store.lease_holder("events") == "me"
