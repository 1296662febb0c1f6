"""SQLite state store: registry, checkpoints, run log, migrations, retention."""
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from leanops.errors import UnknownTopicError
from leanops.state.base import IngestRecord, RunRecord
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


# -- retention ------------------------------------------------------------------------------
def _v7_file(path) -> None:
    """A state.db as the store before retention left it: migrations 1-7, no auto-vacuum."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for number, script in enumerate(MIGRATIONS[:7], start=1):
        for statement in filter(str.strip, script.split(";")):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
    conn.execute("INSERT INTO run_log (topic, stage, started_at, ended_at, status) VALUES "
                 "('events', 'standardized', '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00', 'SUCCEEDED')")
    conn.close()


def test_migration_9_keeps_a_pending_rebuild(tmp_path):
    """A rebuild record written before v9 reads back with no schema fingerprint (leanops.schema.rebuild then
    starts that rebuild over)."""
    _v7_file(tmp_path / "state.db")
    conn = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    conn.execute("INSERT INTO rebuilds VALUES ('events', 'archive_1', 42, 'RUNNING', NULL, "
                 "'2026-01-01T00:00:00+00:00')")
    conn.close()
    store = SqliteStateStore(tmp_path / "state.db")
    record = store.get_rebuild("events")
    assert (record["status"], record["target_raw_snapshot"], record["schema_sha256"]) == ("RUNNING", 42, None)


def test_migration_8_indexes_the_logs_by_age(tmp_path):
    _v7_file(tmp_path / "state.db")
    store = SqliteStateStore(tmp_path / "state.db")
    assert store.schema_version == len(MIGRATIONS) and [r.topic for r in store.list_runs()] == ["events"]
    names = {r["name"] for r in store._query("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"run_log_ended", "run_log_topic_stage", "ingest_log_finished", "job_outputs_written"} <= names

    def plan(sql: str) -> str:
        rows = store._query(f"EXPLAIN QUERY PLAN {sql}", ("x",) * sql.count("?"))
        return " ".join(r["detail"] for r in rows)
    assert "run_log_ended" in plan("DELETE FROM run_log WHERE ended_at < ? AND status != ? AND run_id NOT IN "
                                   "(SELECT max(run_id) FROM run_log WHERE status != ? GROUP BY topic, stage)")
    assert "run_log_topic_stage" in plan("SELECT max(run_id) FROM run_log WHERE status != ? GROUP BY topic, stage")
    assert "ingest_log_finished" in plan("DELETE FROM ingest_log WHERE finished_at < ?")
    assert "job_outputs_written" in plan("DELETE FROM job_outputs WHERE written_at < ?")


def _cycles(store, start: datetime, n: int) -> datetime:
    """n scheduled cycles' worth of history, a finished run and an ingest one second apart, in one transaction
    (one commit per row would spend the test on fsync)."""
    with store._transaction() as conn:
        for i in range(n):
            at = (start + timedelta(seconds=i)).isoformat()
            conn.execute("INSERT INTO run_log (topic, stage, started_at, ended_at, status, error_message) "
                         "VALUES (?, ?, ?, ?, 'SUCCEEDED', ?)",
                         (f"t{i % 3}", ("standardized", "curated", "semantic")[i % 3], at, at, "x" * 200))
            conn.execute("INSERT INTO ingest_log VALUES (?, ?, 'a.ndjson', 9, 9, 0, 1, ?)",
                         (f"{start.timestamp()}-{i}", f"t{i % 3}", at))
    return start + timedelta(seconds=n)


def _sizes(store) -> tuple[int, int]:
    """(the database's logical size, pages in the WAL included; state.db and state.db-wal on disk)."""
    pages, page_size = store._query("PRAGMA page_count")[0][0], store._query("PRAGMA page_size")[0][0]
    wal = store.path.with_name(store.path.name + "-wal")
    return pages * page_size, store.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


@pytest.mark.parametrize("created_by", ["this_version", "before_retention"])
def test_state_db_stops_growing_when_history_is_pruned(tmp_path, created_by):
    """Rounds of 3,000 cycles then a prune keeping the last 300: from the second round on the database is no
    larger than after it. A new file (incremental auto-vacuum) also shrinks at each prune; an older one keeps
    the freed pages on its free list and fills them with the next round's rows."""
    if created_by == "before_retention":
        _v7_file(tmp_path / "state.db")
    store = SqliteStateStore(tmp_path / "state.db")
    t, rounds = datetime(2026, 1, 1, tzinfo=timezone.utc), []
    for _ in range(6):
        t = _cycles(store, t, 3000)
        grown = _sizes(store)
        counts = store.prune_history(t - timedelta(seconds=300))
        assert counts["runs"] >= 2700 and counts["ingests"] >= 2700
        rounds.append((grown, _sizes(store)))
    steady = rounds[1][0][0]
    assert all(grown[0] <= steady * 1.05 for grown, _ in rounds[1:]), rounds
    assert all(grown[1] <= steady + 5 * 1024 * 1024 for grown, _ in rounds), rounds  # WAL: journal_size_limit
    if created_by == "this_version":
        assert store._query("PRAGMA auto_vacuum")[0][0] == 2
        assert all(after[0] < grown[0] / 3 for grown, after in rounds), rounds  # freed pages given back at once
    else:
        assert store._query("PRAGMA freelist_count")[0][0] > 0  # kept for the next inserts


def test_a_first_prune_of_a_long_history_gives_the_space_back(tmp_path):
    store = SqliteStateStore(tmp_path / "state.db")
    t = _cycles(store, datetime(2026, 1, 1, tzinfo=timezone.utc), 30_000)
    grown = _sizes(store)
    assert grown[0] > 10 * 1024 * 1024
    assert store.prune_history(t) == {"runs": 29_997, "ingests": 30_000, "job_outputs": 0, "alerts": 0}
    assert len(store.list_runs(limit=-1)) == 3  # the newest run of each (topic, stage)
    store.start_run(RunRecord("t0", "standardized", t, "RUNNING"))  # the next write restarts the checkpointed
    # WAL and cuts it back to journal_size_limit
    logical, on_disk = _sizes(store)
    assert logical < grown[0] / 20 and on_disk < 5 * 1024 * 1024, (grown, logical, on_disk)
