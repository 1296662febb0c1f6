"""SQLite adapter of the state store: one file, WAL mode, numbered migrations."""
from __future__ import annotations

import contextlib
import dataclasses
import json

import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from leanops.errors import UnknownTopicError
from leanops.state.base import (
    Checkpoint, DriftEntry, FileStatus, IngestRecord, Manifest, RunRecord, StateStore, TopicEntry, TrackedFile,
    utc_cutoff,
)
from leanops.types import FlowControl, RunStatus

MIGRATIONS: tuple[str, ...] = (
    # v1: registry, checkpoints (seed 001 appendix), run log, ingest log
    """
    CREATE TABLE topics (
        topic_name TEXT PRIMARY KEY,
        is_active INTEGER NOT NULL DEFAULT 1,
        flow_control_flag TEXT NOT NULL DEFAULT 'ENABLED'
            CHECK (flow_control_flag IN ('ENABLED', 'PAUSED')),
        last_updated_at TEXT NOT NULL
    );
    CREATE TABLE checkpoints (
        pipeline_id TEXT NOT NULL,
        checkpoint_type TEXT NOT NULL,
        last_snapshot_id INTEGER,
        last_ingestion_ts TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (pipeline_id, checkpoint_type)
    );
    CREATE TABLE run_log (
        run_id INTEGER PRIMARY KEY AUTOINCREMENT,
        topic TEXT NOT NULL,
        stage TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        status TEXT NOT NULL,
        records_in INTEGER NOT NULL DEFAULT 0,
        records_written INTEGER NOT NULL DEFAULT 0,
        records_errors INTEGER NOT NULL DEFAULT 0,
        records_duplicates INTEGER NOT NULL DEFAULT 0,
        records_superseded INTEGER NOT NULL DEFAULT 0,
        source_snapshot_id INTEGER,
        target_snapshot_id INTEGER,
        error_message TEXT
    );
    CREATE INDEX run_log_topic ON run_log (topic, run_id);
    CREATE TABLE ingest_log (
        ingest_id TEXT PRIMARY KEY,
        topic TEXT NOT NULL,
        source TEXT NOT NULL,
        lines_read INTEGER NOT NULL,
        accepted INTEGER NOT NULL,
        rejected INTEGER NOT NULL,
        raw_snapshot_id INTEGER,
        finished_at TEXT NOT NULL
    );
    """,
    # v2: per-topic leases, so two orchestrators never process one topic at the same time
    """
    CREATE TABLE leases (
        topic_name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        acquired_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    """,
    # v3: when each kind of alert was last sent per topic, so standing conditions do not spam
    """
    CREATE TABLE alert_log (
        topic_name TEXT NOT NULL,
        kind TEXT NOT NULL,
        last_sent_at REAL NOT NULL,
        PRIMARY KEY (topic_name, kind)
    );
    """,
    # v4: historical rebuilds (resumable) and schema deployments (who, when, what)
    """
    CREATE TABLE rebuilds (
        topic_name TEXT PRIMARY KEY,
        archive_suffix TEXT NOT NULL,
        target_raw_snapshot INTEGER,
        status TEXT NOT NULL,
        error TEXT,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE deployments (
        deployment_id INTEGER PRIMARY KEY AUTOINCREMENT,
        topic_name TEXT NOT NULL,
        kind TEXT NOT NULL,
        schema_sha256 TEXT NOT NULL,
        schema_json TEXT NOT NULL,
        deployed_by TEXT NOT NULL,
        deployed_at TEXT NOT NULL,
        actions TEXT NOT NULL
    );
    CREATE INDEX deployments_topic ON deployments (topic_name, deployment_id);
    """,
    # v5: schema drift seen in data (undeclared column, type conflict, missing schema), each recorded once
    """
    CREATE TABLE drift_log (
        topic TEXT NOT NULL,
        column_name TEXT NOT NULL,
        kind TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        sample_value TEXT,
        snapshot_id INTEGER,
        detail TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (topic, column_name, kind)
    );
    """,
    # v6: batch job outputs by job run id (the Step Functions runtime reads them after a Glue .sync run)
    """
    CREATE TABLE job_outputs (
        job_run_id TEXT PRIMARY KEY,
        output TEXT NOT NULL,
        written_at TEXT NOT NULL
    );
    """,
    # v7: file landing (seed 003): every landed file, the checksums that make a file a duplicate, manifests
    """
    CREATE TABLE tracked_files (
        file_key TEXT PRIMARY KEY,
        topic TEXT NOT NULL,
        size INTEGER NOT NULL,
        checksum TEXT NOT NULL,
        status TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        manifest_id TEXT,
        lines INTEGER,
        error TEXT,
        duplicate_of TEXT
    );
    CREATE INDEX tracked_files_topic_status ON tracked_files (topic, status, first_seen);
    CREATE TABLE file_checksums (
        topic TEXT NOT NULL,
        checksum TEXT NOT NULL,
        file_key TEXT NOT NULL,
        PRIMARY KEY (topic, checksum)
    );
    CREATE TABLE manifests (
        manifest_id TEXT PRIMARY KEY,
        topic TEXT NOT NULL,
        files TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        raw_snapshot_id INTEGER,
        error TEXT,
        path TEXT
    );
    CREATE INDEX manifests_topic_status ON manifests (topic, status, created_at);
    """,
    # v8: retention (prune_history): each log's age is an index range, and the newest run per (topic, stage)
    # is read from an index instead of the whole run log
    """
    CREATE INDEX run_log_ended ON run_log (ended_at);
    CREATE INDEX run_log_topic_stage ON run_log (topic, stage, run_id);
    CREATE INDEX ingest_log_finished ON ingest_log (finished_at);
    CREATE INDEX job_outputs_written ON job_outputs (written_at);
    """,
    # v9: the schema a rebuild replays under (its fingerprint): a deploy that died after its rebuild knows it ran
    """
    ALTER TABLE rebuilds ADD COLUMN schema_sha256 TEXT;
    """,
)


_WAL_LIMIT_BYTES = 4 * 1024 * 1024


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class SqliteStateStore(StateStore):
    """State store in one SQLite file. Safe to open from several processes (WAL, busy timeout)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        # a new file keeps a list of freed pages it can give back (prune_history); this takes effect only
        # before the first table exists, so it must come before WAL mode, which writes the file's header
        self._conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        self._conn.execute("PRAGMA journal_mode=WAL")
        # after a checkpoint, cut the WAL back to about its auto-checkpoint size (1000 pages): without a limit
        # it stays as large as the largest transaction ever written (a first prune of a long history)
        self._conn.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT_BYTES}")
        self._conn.execute("PRAGMA busy_timeout=30000")
        # in WAL mode NORMAL syncs at checkpoints, not at every commit: a kill -9 loses nothing, a power
        # cut at most the last commits (leases and mirrors of what the Iceberg tables themselves hold)
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    # -- plumbing -------------------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any error) under the connection lock; writers of other
        processes wait for it (busy timeout)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._transaction() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0
            for number, script in enumerate(MIGRATIONS, start=1):
                if number > current:
                    for statement in filter(str.strip, script.split(";")):
                        conn.execute(statement)
                    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))

    @property
    def schema_version(self) -> int:
        return self._conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]

    def _query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def _write(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, params)

    def close(self) -> None:
        self._conn.close()

    # -- registry -------------------------------------------------------------------------
    @staticmethod
    def _topic(row: sqlite3.Row) -> TopicEntry:
        return TopicEntry(row["topic_name"], bool(row["is_active"]),
                          FlowControl(row["flow_control_flag"]), _ts(row["last_updated_at"]))

    def get_topic(self, topic: str) -> TopicEntry | None:
        rows = self._query("SELECT * FROM topics WHERE topic_name = ?", (topic,))
        return self._topic(rows[0]) if rows else None

    def list_topics(self) -> list[TopicEntry]:
        return [self._topic(r) for r in self._query("SELECT * FROM topics ORDER BY topic_name")]

    def register_topic(self, topic: str, flag: FlowControl = FlowControl.ENABLED) -> TopicEntry:
        self._write("INSERT OR IGNORE INTO topics (topic_name, is_active, flow_control_flag, last_updated_at) "
                    "VALUES (?, 1, ?, ?)", (topic, flag.value, _now().isoformat()))
        return self.get_topic(topic)  # type: ignore[return-value]

    def set_flow_control(self, topic: str, flag: FlowControl) -> TopicEntry:
        cur = self._write("UPDATE topics SET flow_control_flag = ?, last_updated_at = ? WHERE topic_name = ?",
                          (flag.value, _now().isoformat(), topic))
        if cur.rowcount == 0:
            raise UnknownTopicError(topic)
        return self.get_topic(topic)  # type: ignore[return-value]

    def set_active(self, topic: str, active: bool) -> TopicEntry:
        cur = self._write("UPDATE topics SET is_active = ?, last_updated_at = ? WHERE topic_name = ?",
                          (int(active), _now().isoformat(), topic))
        if cur.rowcount == 0:
            raise UnknownTopicError(topic)
        return self.get_topic(topic)  # type: ignore[return-value]

    # -- checkpoints ----------------------------------------------------------------------
    def get_checkpoint(self, topic: str, layer: str) -> Checkpoint | None:
        rows = self._query("SELECT * FROM checkpoints WHERE pipeline_id = ? AND checkpoint_type = ?",
                           (topic, layer))
        if not rows:
            return None
        r = rows[0]
        return Checkpoint(r["pipeline_id"], r["checkpoint_type"], r["last_snapshot_id"],
                          _ts(r["last_ingestion_ts"]), _ts(r["updated_at"]))

    def put_checkpoint(self, topic: str, layer: str, snapshot_id: int | None,
                       ingestion_ts: datetime | None = None) -> None:
        self._write(
            "INSERT INTO checkpoints (pipeline_id, checkpoint_type, last_snapshot_id, last_ingestion_ts, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (pipeline_id, checkpoint_type) DO UPDATE SET "
            "last_snapshot_id = excluded.last_snapshot_id, last_ingestion_ts = excluded.last_ingestion_ts, "
            "updated_at = excluded.updated_at",
            (topic, layer, snapshot_id, ingestion_ts.isoformat() if ingestion_ts else None, _now().isoformat()))

    # -- run log --------------------------------------------------------------------------
    _RUN_FIELDS = ("topic", "stage", "started_at", "ended_at", "status", "records_in", "records_written",
                   "records_errors", "records_duplicates", "records_superseded", "source_snapshot_id",
                   "target_snapshot_id", "error_message")

    def _run_values(self, record: RunRecord) -> tuple:
        values = []
        for name in self._RUN_FIELDS:
            value = getattr(record, name)
            values.append(value.isoformat() if isinstance(value, datetime) else value)
        return tuple(values)

    def start_run(self, record: RunRecord) -> RunRecord:
        cols = ", ".join(self._RUN_FIELDS)
        marks = ", ".join("?" for _ in self._RUN_FIELDS)
        cur = self._write(f"INSERT INTO run_log ({cols}) VALUES ({marks})", self._run_values(record))
        record.run_id = cur.lastrowid
        return record

    def finish_run(self, record: RunRecord) -> None:
        sets = ", ".join(f"{name} = ?" for name in self._RUN_FIELDS)
        self._write(f"UPDATE run_log SET {sets} WHERE run_id = ?", (*self._run_values(record), record.run_id))

    def list_runs(self, topic: str | None = None, limit: int = 100) -> list[RunRecord]:
        where, params = ("WHERE topic = ?", (topic,)) if topic else ("", ())
        rows = self._query(f"SELECT * FROM run_log {where} ORDER BY run_id DESC LIMIT ?", (*params, limit))
        out = []
        for r in rows:
            data = {k: r[k] for k in r.keys()}
            data["started_at"], data["ended_at"] = _ts(data["started_at"]), _ts(data["ended_at"])
            out.append(RunRecord(**data))
        return out

    # -- leases ---------------------------------------------------------------------------
    def acquire_lease(self, topic: str, holder: str, ttl_seconds: float) -> bool:
        """Take (or renew) the topic's lease unless another holder has an unexpired one. Atomic."""
        now = time.time()
        cur = self._write(
            "INSERT INTO leases (topic_name, holder, acquired_at, expires_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (topic_name) DO UPDATE SET holder = excluded.holder, acquired_at = excluded.acquired_at, "
            "expires_at = excluded.expires_at WHERE leases.expires_at < ? OR leases.holder = excluded.holder",
            (topic, holder, now, now + ttl_seconds, now))
        return cur.rowcount == 1

    def steal_lease(self, topic: str, stale_holder: str, holder: str, ttl_seconds: float) -> bool:
        """Take the lease from a holder known to be dead, only if it still holds it. Atomic."""
        now = time.time()
        cur = self._write("UPDATE leases SET holder = ?, acquired_at = ?, expires_at = ? "
                          "WHERE topic_name = ? AND holder = ?", (holder, now, now + ttl_seconds, topic, stale_holder))
        return cur.rowcount == 1

    def release_lease(self, topic: str, holder: str) -> None:
        self._write("DELETE FROM leases WHERE topic_name = ? AND holder = ?", (topic, holder))

    def lease_holder(self, topic: str) -> str | None:
        rows = self._query("SELECT holder FROM leases WHERE topic_name = ? AND expires_at >= ?", (topic, time.time()))
        return rows[0]["holder"] if rows else None

    # -- rebuilds and deployments -----------------------------------------------------------
    def put_rebuild(self, topic: str, archive_suffix: str, target: int | None, status: str,
                    error: str | None = None, schema_sha256: str | None = None) -> None:
        self._write("INSERT OR REPLACE INTO rebuilds (topic_name, archive_suffix, target_raw_snapshot, status, error, "
                    "updated_at, schema_sha256) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (topic, archive_suffix, target, status, error, _now().isoformat(), schema_sha256))

    def get_rebuild(self, topic: str) -> dict | None:
        rows = self._query("SELECT * FROM rebuilds WHERE topic_name = ?", (topic,))
        return {k: rows[0][k] for k in rows[0].keys()} if rows else None

    def record_deployment(self, topic: str, kind: str, schema_sha256: str, schema_json: str, deployed_by: str,
                          actions: str) -> None:
        self._write("INSERT INTO deployments (topic_name, kind, schema_sha256, schema_json, deployed_by, deployed_at, "
                    "actions) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (topic, kind, schema_sha256, schema_json, deployed_by, _now().isoformat(), actions))

    def last_deployment(self, topic: str) -> dict | None:
        rows = self._query("SELECT * FROM deployments WHERE topic_name = ? ORDER BY deployment_id DESC LIMIT 1",
                           (topic,))
        return {k: rows[0][k] for k in rows[0].keys()} if rows else None

    def list_deployments(self, topic: str | None = None) -> list[dict]:
        where, params = ("WHERE topic_name = ?", (topic,)) if topic else ("", ())
        rows = self._query(f"SELECT * FROM deployments {where} ORDER BY deployment_id", params)
        return [{k: r[k] for k in r.keys()} for r in rows]

    # -- alert de-duplication -------------------------------------------------------------
    def should_alert(self, topic: str, kind: str, every_seconds: float = 86_400.0) -> bool:
        """True (and remembered) unless this alert was sent for the topic within `every_seconds`."""
        now = time.time()
        cur = self._write(
            "INSERT INTO alert_log (topic_name, kind, last_sent_at) VALUES (?, ?, ?) "
            "ON CONFLICT (topic_name, kind) DO UPDATE SET last_sent_at = excluded.last_sent_at "
            "WHERE alert_log.last_sent_at < ?", (topic, kind, now, now - every_seconds))
        return cur.rowcount == 1

    def mark_checked(self, topic: str, kind: str, now: datetime) -> datetime | None:
        """The previous mark, read and replaced under the store's lock."""
        with self._lock:
            row = self._conn.execute("SELECT last_sent_at FROM alert_log WHERE topic_name = ? AND kind = ?",
                                     (topic, kind)).fetchone()
            self._conn.execute("INSERT INTO alert_log (topic_name, kind, last_sent_at) VALUES (?, ?, ?) "
                               "ON CONFLICT (topic_name, kind) DO UPDATE SET last_sent_at = excluded.last_sent_at",
                               (topic, kind, now.timestamp()))
        return None if row is None else datetime.fromtimestamp(row[0], timezone.utc)

    # -- drift log ------------------------------------------------------------------------
    _SAMPLE_CHARS = 200

    def record_drift(self, topic: str, column: str, kind: str, sample_value: str | None, snapshot_id: int | None,
                     detail: str = "") -> bool:
        """Record the drift once (first sighting wins, so repeated cycles do not rewrite history); True when new."""
        sample = None if sample_value is None else str(sample_value)[:self._SAMPLE_CHARS]
        cur = self._write(
            "INSERT INTO drift_log (topic, column_name, kind, first_seen, sample_value, snapshot_id, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (topic, column_name, kind) DO NOTHING",
            (topic, column, kind, _now().isoformat(), sample, snapshot_id, detail))
        return cur.rowcount == 1

    def list_drift(self, topic: str | None = None) -> list[DriftEntry]:
        """Drift entries, oldest first, so operators read them in the order they appeared."""
        where, params = ("WHERE topic = ?", (topic,)) if topic else ("", ())
        rows = self._query(f"SELECT * FROM drift_log {where} ORDER BY first_seen, topic, column_name", params)
        return [DriftEntry(r["topic"], r["column_name"], r["kind"], _ts(r["first_seen"]), r["sample_value"],
                           r["snapshot_id"], r["detail"]) for r in rows]

    # -- file landing ---------------------------------------------------------------------
    _FILE_FIELDS = ("status", "attempts", "manifest_id", "lines", "error", "updated_at")
    _MANIFEST_FIELDS = ("status", "attempts", "raw_snapshot_id", "error", "path", "updated_at", "files", "bytes")

    @staticmethod
    def _file(row: sqlite3.Row) -> TrackedFile:
        return TrackedFile(row["file_key"], row["topic"], row["size"], row["checksum"], row["status"],
                           _ts(row["first_seen"]), _ts(row["updated_at"]), row["attempts"], row["manifest_id"],
                           row["lines"], row["error"], row["duplicate_of"])

    @staticmethod
    def _manifest(row: sqlite3.Row) -> Manifest:
        return Manifest(row["manifest_id"], row["topic"], json.loads(row["files"]), row["bytes"], row["status"],
                        _ts(row["created_at"]), _ts(row["updated_at"]), row["attempts"], row["raw_snapshot_id"],
                        row["error"], row["path"])

    def get_file(self, file_key: str) -> TrackedFile | None:
        rows = self._query("SELECT * FROM tracked_files WHERE file_key = ?", (file_key,))
        return self._file(rows[0]) if rows else None

    def list_files(self, topic: str | None = None, status: str | None = None) -> list[TrackedFile]:
        where, params = self._where(topic=topic, status=status)
        return [self._file(r) for r in self._query(
            f"SELECT * FROM tracked_files {where} ORDER BY first_seen, file_key", params)]

    def track_file(self, file: TrackedFile) -> TrackedFile:
        with self._transaction() as conn:
            known = conn.execute("SELECT * FROM tracked_files WHERE file_key = ?", (file.file_key,)).fetchone()
            if known is not None:
                return self._file(known)
            first = conn.execute("SELECT file_key FROM file_checksums WHERE topic = ? AND checksum = ?",
                                 (file.topic, file.checksum)).fetchone()
            if first is None:
                conn.execute("INSERT INTO file_checksums VALUES (?, ?, ?)", (file.topic, file.checksum, file.file_key))
            else:
                file = dataclasses.replace(file, status=FileStatus.DUPLICATE, duplicate_of=first["file_key"])
            conn.execute("INSERT INTO tracked_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (file.file_key, file.topic, file.size, file.checksum, file.status,
                          file.first_seen.isoformat(), file.updated_at.isoformat(), file.attempts, file.manifest_id,
                          file.lines, file.error, file.duplicate_of))
            return file

    def claim_files(self, manifest: Manifest) -> bool:
        with self._transaction() as conn:
            marks = ", ".join("?" * len(manifest.files))
            pending = conn.execute(f"SELECT count(*) FROM tracked_files WHERE status = ? AND file_key IN ({marks})",
                                   (FileStatus.PENDING, *manifest.files)).fetchone()[0]
            if pending != len(set(manifest.files)) or not manifest.files:
                return False
            conn.execute(f"UPDATE tracked_files SET status = ?, manifest_id = ?, updated_at = ? "
                         f"WHERE file_key IN ({marks})",
                         (FileStatus.MANIFESTED, manifest.manifest_id, _now().isoformat(), *manifest.files))
            conn.execute("INSERT INTO manifests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (manifest.manifest_id, manifest.topic, json.dumps(manifest.files), manifest.bytes,
                          manifest.status, manifest.created_at.isoformat(), manifest.updated_at.isoformat(),
                          manifest.attempts, manifest.raw_snapshot_id, manifest.error, manifest.path))
            return True

    def get_manifest(self, manifest_id: str) -> Manifest | None:
        rows = self._query("SELECT * FROM manifests WHERE manifest_id = ?", (manifest_id,))
        return self._manifest(rows[0]) if rows else None

    def list_manifests(self, topic: str | None = None, status: str | None = None) -> list[Manifest]:
        where, params = self._where(topic=topic, status=status)
        return [self._manifest(r) for r in self._query(
            f"SELECT * FROM manifests {where} ORDER BY created_at, manifest_id", params)]

    def update_manifest(self, manifest_id: str, expected_status: str | None, **fields) -> bool:
        values = self._settable(fields, self._MANIFEST_FIELDS)
        if "files" in values:
            values["files"] = json.dumps(values["files"])
        sets = ", ".join(f"{k} = ?" for k in values)
        where, params = "manifest_id = ?", [manifest_id]
        if expected_status is not None:
            where, params = where + " AND status = ?", params + [expected_status]
        cur = self._write(f"UPDATE manifests SET {sets} WHERE {where}", (*values.values(), *params))
        return cur.rowcount == 1

    def update_files(self, file_keys: list[str], **fields) -> None:
        if not file_keys:
            return
        values = self._settable(fields, self._FILE_FIELDS)
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._transaction() as conn:
            for key in file_keys:
                conn.execute(f"UPDATE tracked_files SET {sets} WHERE file_key = ?", (*values.values(), key))

    @staticmethod
    def _settable(fields: dict, allowed: tuple[str, ...]) -> dict:
        """Only known column names reach the SQL text (values are always bound parameters)."""
        unknown = set(fields) - set(allowed)
        if unknown:
            raise ValueError(f"cannot set {sorted(unknown)}; settable: {allowed}")
        values = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in fields.items()}
        values.setdefault("updated_at", _now().isoformat())
        return values

    @staticmethod
    def _where(**filters) -> tuple[str, tuple]:
        given = {k: v for k, v in filters.items() if v is not None}
        if not given:
            return "", ()
        return "WHERE " + " AND ".join(f"{k} = ?" for k in given), tuple(given.values())

    # -- job outputs ----------------------------------------------------------------------
    def put_job_output(self, job_run_id: str, output: dict) -> None:
        self._write("INSERT OR REPLACE INTO job_outputs VALUES (?, ?, ?)",
                    (job_run_id, json.dumps(output, default=str), _now().isoformat()))

    def get_job_output(self, job_run_id: str) -> dict | None:
        rows = self._query("SELECT output FROM job_outputs WHERE job_run_id = ?", (job_run_id,))
        return json.loads(rows[0]["output"]) if rows else None

    # -- retention ------------------------------------------------------------------------
    def prune_history(self, older_than: datetime) -> dict[str, int]:
        """One transaction of range deletes on the migration-8 indexes (stored times are UTC ISO-8601
        strings, whose text order is time order). The freed pages are reused by later inserts, so the file
        stops growing; a file created with incremental auto-vacuum also gives them back at once."""
        cutoff = utc_cutoff(older_than)
        running = RunStatus.RUNNING.value
        with self._transaction() as conn:
            counts = {
                "runs": conn.execute(
                    "DELETE FROM run_log WHERE ended_at < ? AND status != ? AND run_id NOT IN "
                    "(SELECT max(run_id) FROM run_log WHERE status != ? GROUP BY topic, stage)",
                    (cutoff.isoformat(), running, running)).rowcount,
                "ingests": conn.execute("DELETE FROM ingest_log WHERE finished_at < ?",
                                        (cutoff.isoformat(),)).rowcount,
                "job_outputs": conn.execute("DELETE FROM job_outputs WHERE written_at < ?",
                                            (cutoff.isoformat(),)).rowcount,
                "alerts": conn.execute("DELETE FROM alert_log WHERE last_sent_at < ?",
                                       (cutoff.timestamp(),)).rowcount,
            }
        if any(counts.values()):
            self._give_back_free_pages()
        return counts

    def _give_back_free_pages(self) -> None:
        """Truncate the freed pages off the file (incremental auto-vacuum only: an older file keeps them on its
        free list for the next inserts; a one-off `VACUUM` with auto_vacuum=INCREMENTAL converts it), then a
        passive checkpoint, which never waits for readers, so the file shrinks now rather than at the next one."""
        with self._lock:
            if self._conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:  # 2: INCREMENTAL
                # executescript steps the pragma to the end; execute() would free one page per call
                self._conn.executescript("PRAGMA incremental_vacuum")
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    # -- ingest log -----------------------------------------------------------------------
    def record_ingest(self, record: IngestRecord) -> None:
        self._write("INSERT OR REPLACE INTO ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (record.ingest_id, record.topic, record.source, record.lines_read, record.accepted,
                     record.rejected, record.raw_snapshot_id, record.finished_at.isoformat()))

    def list_ingests(self, topic: str | None = None) -> list[IngestRecord]:
        where, params = ("WHERE topic = ?", (topic,)) if topic else ("", ())
        rows = self._query(f"SELECT * FROM ingest_log {where} ORDER BY finished_at", params)
        return [IngestRecord(r["ingest_id"], r["topic"], r["source"], r["lines_read"], r["accepted"],
                             r["rejected"], r["raw_snapshot_id"], _ts(r["finished_at"])) for r in rows]
