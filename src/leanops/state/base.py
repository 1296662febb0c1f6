"""State-store ports. Reads are apart from writes so planning code cannot change state.

The stage logic never sees these: the orchestrator and the CLI do.
"""
from __future__ import annotations

import abc
import dataclasses
from datetime import datetime, timezone

from leanops.types import FlowControl

# what StateStore.prune_history counts, one key per log it prunes
HISTORY_LOGS = ("runs", "ingests", "job_outputs", "alerts")


@dataclasses.dataclass(frozen=True)
class TopicEntry:
    topic_name: str
    is_active: bool
    flow_control_flag: FlowControl
    last_updated_at: datetime


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """Mirror of the source position a layer has consumed (the table summary is the truth)."""

    pipeline_id: str  # the topic name
    checkpoint_type: str  # the layer that consumed: standardized | curated | semantic
    last_snapshot_id: int | None
    last_ingestion_ts: datetime | None
    updated_at: datetime


@dataclasses.dataclass
class RunRecord:
    """One stage run: what went in and where every record went."""

    topic: str
    stage: str
    started_at: datetime
    status: str
    ended_at: datetime | None = None
    records_in: int = 0
    records_written: int = 0
    records_errors: int = 0
    records_duplicates: int = 0
    records_superseded: int = 0
    source_snapshot_id: int | None = None
    target_snapshot_id: int | None = None
    error_message: str | None = None
    run_id: int | None = None


@dataclasses.dataclass(frozen=True)
class IngestRecord:
    """One `leanops ingest` call: lines read = accepted + rejected."""

    ingest_id: str
    topic: str
    source: str
    lines_read: int
    accepted: int
    rejected: int
    raw_snapshot_id: int | None
    finished_at: datetime


@dataclasses.dataclass(frozen=True)
class DriftEntry:
    """A column seen in data but not in (or conflicting with) the declared schema, recorded once."""

    topic: str
    column_name: str
    kind: str  # undeclared_column | type_conflict | missing_schema
    first_seen: datetime
    sample_value: str | None
    snapshot_id: int | None  # upstream Curated snapshot where it was seen
    detail: str

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "first_seen": self.first_seen.isoformat()}


class FileStatus:
    """A landed file's life (seed 003): pending -> manifested -> processing -> completed | failed.
    `duplicate`: the same bytes (checksum) as a file already tracked for the topic; never ingested.
    `dismissed`: a failed file an operator gave up on (`leanops files dismiss`, with the reason)."""

    PENDING, MANIFESTED, PROCESSING = "pending", "manifested", "processing"
    COMPLETED, FAILED, DUPLICATE, DISMISSED = "completed", "failed", "duplicate", "dismissed"


class ManifestStatus:
    """A manifest's life: pending -> processing -> completed | failed (failed ones may be retried);
    `dismissed` once every file of a failed manifest was dismissed."""

    PENDING, PROCESSING, COMPLETED, FAILED, DISMISSED = "pending", "processing", "completed", "failed", "dismissed"


@dataclasses.dataclass
class TrackedFile:
    """One landed NDJSON file, followed from first sight to its RAW commit."""

    file_key: str  # absolute local path, or s3://bucket/key
    topic: str
    size: int
    checksum: str  # sha256 of the bytes (local) or the S3 ETag
    status: str
    first_seen: datetime
    updated_at: datetime
    attempts: int = 0
    manifest_id: str | None = None
    lines: int | None = None  # lines read from it, once ingested
    error: str | None = None
    duplicate_of: str | None = None

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "first_seen": self.first_seen.isoformat(),
                "updated_at": self.updated_at.isoformat()}


@dataclasses.dataclass
class Manifest:
    """A group of a topic's files ingested into RAW as one commit (whose summary names the manifest)."""

    manifest_id: str
    topic: str
    files: list[str]
    bytes: int
    status: str
    created_at: datetime
    updated_at: datetime
    attempts: int = 0
    raw_snapshot_id: int | None = None
    error: str | None = None
    path: str | None = None  # where the manifest document lives (S3 runtime), if anywhere

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat()}


class StateReader(abc.ABC):
    @property
    @abc.abstractmethod
    def schema_version(self) -> int:
        """The store's layout version (SQLite: the last migration applied)."""

    @abc.abstractmethod
    def get_topic(self, topic: str) -> TopicEntry | None: ...

    @abc.abstractmethod
    def list_topics(self) -> list[TopicEntry]: ...

    @abc.abstractmethod
    def get_checkpoint(self, topic: str, layer: str) -> Checkpoint | None: ...

    @abc.abstractmethod
    def list_runs(self, topic: str | None = None, limit: int = 100) -> list[RunRecord]: ...

    @abc.abstractmethod
    def list_ingests(self, topic: str | None = None) -> list[IngestRecord]: ...

    @abc.abstractmethod
    def lease_holder(self, topic: str) -> str | None: ...

    @abc.abstractmethod
    def list_drift(self, topic: str | None = None) -> list[DriftEntry]: ...

    @abc.abstractmethod
    def get_file(self, file_key: str) -> TrackedFile | None: ...

    @abc.abstractmethod
    def list_files(self, topic: str | None = None, status: str | None = None) -> list[TrackedFile]:
        """Tracked files, oldest first (first_seen, then file_key)."""

    @abc.abstractmethod
    def get_manifest(self, manifest_id: str) -> Manifest | None: ...

    @abc.abstractmethod
    def list_manifests(self, topic: str | None = None, status: str | None = None) -> list[Manifest]:
        """Manifests, oldest first (created_at, then manifest_id)."""


class StateStore(StateReader):
    @abc.abstractmethod
    def register_topic(self, topic: str, flag: FlowControl = FlowControl.ENABLED) -> TopicEntry:
        """Create the registry entry if missing; never changes an existing one."""

    @abc.abstractmethod
    def set_flow_control(self, topic: str, flag: FlowControl) -> TopicEntry: ...

    @abc.abstractmethod
    def set_active(self, topic: str, active: bool) -> TopicEntry: ...

    @abc.abstractmethod
    def put_checkpoint(self, topic: str, layer: str, snapshot_id: int | None,
                       ingestion_ts: datetime | None = None) -> None: ...

    @abc.abstractmethod
    def start_run(self, record: RunRecord) -> RunRecord: ...

    @abc.abstractmethod
    def finish_run(self, record: RunRecord) -> None: ...

    @abc.abstractmethod
    def record_ingest(self, record: IngestRecord) -> None: ...

    @abc.abstractmethod
    def acquire_lease(self, topic: str, holder: str, ttl_seconds: float) -> bool:
        """Take or renew the topic's lease; False while another holder's lease is unexpired."""

    @abc.abstractmethod
    def steal_lease(self, topic: str, stale_holder: str, holder: str, ttl_seconds: float) -> bool:
        """Take the lease from a holder known to be dead, only if it still holds it."""

    @abc.abstractmethod
    def release_lease(self, topic: str, holder: str) -> None: ...

    @abc.abstractmethod
    def put_rebuild(self, topic: str, archive_suffix: str, target: int | None, status: str,
                    error: str | None = None, schema_sha256: str | None = None) -> None:
        """The topic's rebuild record (one per topic, replaced): its archive suffix, pinned RAW snapshot, the
        step it is at (`status`, leanops.schema.rebuild), the last error, the fingerprint of its schema."""

    @abc.abstractmethod
    def get_rebuild(self, topic: str) -> dict | None: ...

    @abc.abstractmethod
    def record_deployment(self, topic: str, kind: str, schema_sha256: str, schema_json: str, deployed_by: str,
                          actions: str) -> None: ...

    @abc.abstractmethod
    def last_deployment(self, topic: str) -> dict | None: ...

    @abc.abstractmethod
    def should_alert(self, topic: str, kind: str, every_seconds: float = 86_400.0) -> bool:
        """True (and remembered) unless this alert kind was sent for the topic within `every_seconds`."""

    @abc.abstractmethod
    def mark_checked(self, topic: str, kind: str, now: datetime) -> datetime | None:
        """Remember `now` as the last `kind` check of the topic and return the previous one (None: never).

        Kept in the alert memory, so a periodic check (the health check's "new drift entries since the
        last check") reports each change once; a check that runs more often than `prune_history`'s cutoff
        is never forgotten."""

    @abc.abstractmethod
    def record_drift(self, topic: str, column: str, kind: str, sample_value: str | None, snapshot_id: int | None,
                     detail: str = "") -> bool:
        """Record (topic, column, kind) once; True when new. Never updates an existing entry."""

    @abc.abstractmethod
    def track_file(self, file: TrackedFile) -> TrackedFile:
        """Record a newly seen file once; returns what is stored (the existing record for a known key).

        Atomically, per topic and checksum, the first file with given bytes stays as it is and any
        later one is stored `duplicate` with `duplicate_of` naming the first."""

    @abc.abstractmethod
    def claim_files(self, manifest: Manifest) -> bool:
        """Store `manifest` and move each of its files from pending to manifested under its id.

        All or nothing: when any file is not pending (another builder took it), nothing is kept and
        the answer is False. Two builders never put one file into two manifests."""

    @abc.abstractmethod
    def update_manifest(self, manifest_id: str, expected_status: str | None, **fields) -> bool:
        """Set fields of a manifest only if its status is `expected_status` (None: any); True when set."""

    @abc.abstractmethod
    def update_files(self, file_keys: list[str], **fields) -> None:
        """Set fields (status, attempts, lines, error, manifest_id) of tracked files."""

    @abc.abstractmethod
    def put_job_output(self, job_run_id: str, output: dict) -> None:
        """Keep a batch job's output (JSON-able) under its run id: Step Functions' Glue `.sync` returns
        only the JobRun, so the next state reads what the job did from here."""

    @abc.abstractmethod
    def get_job_output(self, job_run_id: str) -> dict | None: ...

    @abc.abstractmethod
    def prune_history(self, older_than: datetime) -> dict[str, int]:
        """Delete history from before `older_than`, so the store stops growing over thousands of cycles.

        Pruned by age, the logs that only record what happened:
        - `runs`: run-log rows that ended before `older_than`, except any RUNNING row and the newest
          finished run of each (topic, stage), whatever its age: `leanops status`, the dashboard and the
          metrics show the last run of every stage (a weekly "maintenance" stage among them);
        - `ingests`: ingest-log rows finished before it;
        - `job_outputs`: batch job outputs written before it (read once, right after the job ends);
        - `alerts`: alert memory (`should_alert`) last sent before it; a kind forgotten within its period
          is sent once more, so keep `older_than` further back than the longest period (a day by default).

        Runs, ingests and alerts are pruned for the topics in the registry (every topic that ingests or runs is
        registered; DynamoDB partitions these logs by topic and finds them through it).

        Never pruned, because they decide what runs next or are the only record of a decision: the topic
        registry, checkpoints, the drift log, leases, rebuilds, deployments, tracked files, checksums and
        manifests.

        Args:
            older_than: the cutoff, timezone-aware.

        Returns:
            Rows removed per log, keyed by `HISTORY_LOGS`; a second call with the same cutoff removes nothing.

        Raises:
            ValueError: `older_than` is naive (the store keeps UTC times).
        """


def utc_cutoff(older_than: datetime) -> datetime:
    """`older_than` in UTC, the zone every stored time is written in; a naive time is refused, not guessed.

    >>> from datetime import timedelta
    >>> utc_cutoff(datetime(2026, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))).isoformat()
    '2026-01-01T00:00:00+00:00'
    """
    if older_than.tzinfo is None or older_than.utcoffset() is None:
        raise ValueError(f"prune_history: older_than must be timezone-aware, got naive {older_than.isoformat()}")
    return older_than.astimezone(timezone.utc)
