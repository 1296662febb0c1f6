"""Status of every topic and the threshold checks behind `leanops status`, `leanops check` and the AWS health check.

Thresholds (seed 004 section 5): curation lag > 100,000 records pending (RAW not yet in
Standardized plus Standardized not yet in Curated); DLQ rows older than 7 days; semantic lag > 2
hours: the age of the oldest Curated commit that Semantic has not read yet (how long a change has
been waiting; the newest one's age would hide a stuck stage behind a fresh commit).
"""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

from pyiceberg.expressions import EqualTo

from leanops.context import Context
from leanops.orchestrate.alerts import Alert
from leanops.stages.accountability import topic_accounts


@dataclasses.dataclass(frozen=True)
class Thresholds:
    curation_lag_records: int = 100_000
    dlq_age_days: float = 7.0
    semantic_lag_hours: float = 2.0


UPSTREAM = {"standardized": "raw", "curated": "standardized", "semantic": "curated"}


def layer_lag_seconds(ctx: Context, topic: str, layer: str, now: datetime | None = None) -> float | None:
    """Seconds since the oldest upstream commit `layer` (standardized, curated, semantic) has not read;
    0 when caught up; None while the layer has no table (no schema section yet, or never run)."""
    lake = ctx.read_lake
    tables = {"raw": lake.raw_table, "standardized": lake.standardized_table, "curated": lake.curated_table,
              "semantic": lake.semantic_table}
    table = tables[layer](topic)
    return None if table is None else _oldest_unread_age(tables[UPSTREAM[layer]](topic), table, topic, now)


def _oldest_unread_age(source, table, topic: str, now: datetime | None) -> float | None:
    """Age of the oldest `source` commit after `table`'s checkpoint (all of them without a table)."""
    from leanops.catalog.tables import ancestors
    from leanops.stages.checkpoint import position_from_table
    from leanops.stages.incremental import consumed_through, is_maintenance
    if source is None or source.current_snapshot() is None:
        return None
    consumed = consumed_through(source, position_from_table(table, topic)) if table is not None else None
    oldest = None
    for snapshot in ancestors(source):
        if snapshot.snapshot_id == consumed:
            break
        if not is_maintenance(snapshot):  # a compaction is nothing new to read
            oldest = snapshot
    if oldest is None:
        return 0.0
    now = now or datetime.now(timezone.utc)
    return max(0.0, now.timestamp() - oldest.timestamp_ms / 1000)


def semantic_lag_seconds(ctx: Context, topic: str, now: datetime | None = None) -> float | None:
    """Seconds since the oldest Curated commit not yet in Semantic; 0 when caught up; None without
    a semantic section or Curated data (a declared Semantic that never ran lags behind all of Curated)."""
    schema = ctx.schema(topic, form_only=True)  # only whether it has a semantic section
    if schema is None or schema.semantic is None:
        return None
    lake = ctx.read_lake
    return _oldest_unread_age(lake.curated_table(topic), lake.semantic_table(topic), topic, now)


def topic_status(ctx: Context, topic: str) -> dict:
    """Flag, checkpoints, pending rows, last run, and each table's files, delete files and snapshots."""
    from leanops.maintenance.counts import last_maintenance, topic_counts
    entry = ctx.state.get_topic(topic)
    accounts = {a.layer: a for a in topic_accounts(ctx.read_lake, topic)}
    runs = ctx.state.list_runs(topic, limit=1)
    last = runs[0] if runs else None
    checkpoints = {}
    for layer in ("standardized", "curated", "semantic"):
        mirror = ctx.state.get_checkpoint(topic, layer)
        checkpoints[layer] = mirror.last_snapshot_id if mirror else None
    return {
        "topic": topic,
        "flow_control_flag": entry.flow_control_flag.value if entry else None,
        "is_active": entry.is_active if entry else None,
        "last_updated_at": entry.last_updated_at.isoformat() if entry else None,
        "checkpoints": checkpoints,
        "pending": {layer: a.pending for layer, a in accounts.items() if layer != "ingestion"},
        "accountable": all(a.ok for a in accounts.values()),
        "semantic_lag_seconds": _schema_safe(lambda: semantic_lag_seconds(ctx, topic)),
        "last_run": None if last is None else {
            "stage": last.stage, "status": last.status, "started_at": last.started_at.isoformat(),
            "ended_at": last.ended_at.isoformat() if last.ended_at else None,
            "records_in": last.records_in, "records_written": last.records_written,
            "error": last.error_message},
        "lease_holder": ctx.state.lease_holder(topic),
        "tables": topic_counts(ctx, topic),
        "last_maintenance": _iso(last_maintenance(ctx, topic)),
    }


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


@dataclasses.dataclass(frozen=True)
class TopicHealth:
    """The figures `leanops check` compares with its thresholds, and the health-check Lambda publishes."""

    topic: str
    pending_curation_records: int  # RAW not yet in Standardized + Standardized not yet in Curated
    semantic_lag_seconds: float | None  # None: no semantic section, or no Curated data
    dlq_row_ages_seconds: tuple[float, ...]  # the age of each of the topic's raw.dlq_errors rows

    @property
    def dlq_oldest_age_seconds(self) -> float:
        return max(self.dlq_row_ages_seconds, default=0.0)

    def dlq_rows_older_than(self, seconds: float) -> int:
        return sum(1 for age in self.dlq_row_ages_seconds if age > seconds)


def topic_health(ctx: Context, topic: str, now: datetime | None = None) -> TopicHealth:
    now = now or datetime.now(timezone.utc)
    accounts = {a.layer: a for a in topic_accounts(ctx.lake, topic)}
    pending = sum(a.pending for layer, a in accounts.items() if layer in ("standardized", "curated"))
    times = ctx.lake.dlq_table().scan(row_filter=EqualTo("topic_name", topic),
                                      selected_fields=("ingestion_ts",)).to_arrow()
    ages = tuple((now - t).total_seconds() for t in times.column("ingestion_ts").to_pylist()) if times.num_rows else ()
    return TopicHealth(topic, pending, _schema_safe(lambda: semantic_lag_seconds(ctx, topic, now)), ages)


def check(ctx: Context, thresholds: Thresholds = Thresholds()) -> list[Alert]:
    alerts = []
    for topic in ctx.topics():
        health = topic_health(ctx, topic)
        lag = health.pending_curation_records
        if lag > thresholds.curation_lag_records:
            alerts.append(Alert("CurationLag", topic, "curated", f"{lag} records pending (threshold "
                                f"{thresholds.curation_lag_records})", {"pending_records": lag}))
        old = health.dlq_rows_older_than(thresholds.dlq_age_days * 86_400)
        if old:
            alerts.append(Alert("DlqAge", topic, "ingestion", f"{old} DLQ rows older than "
                                f"{thresholds.dlq_age_days:g} days", {"old_dlq_rows": old}))
        lag_seconds = health.semantic_lag_seconds
        if lag_seconds is not None and lag_seconds > thresholds.semantic_lag_hours * 3600:
            alerts.append(Alert("SemanticLag", topic, "semantic", f"the oldest Curated change not in Semantic is "
                                f"{lag_seconds / 3600:.1f} h old (threshold {thresholds.semantic_lag_hours:g} h)",
                                {"semantic_lag_seconds": round(lag_seconds)}))
    return alerts


def _schema_safe(compute):
    """A broken schema file must not break status or check (the run reports it): no figure then."""
    from leanops.errors import LeanOpsError
    try:
        return compute()
    except LeanOpsError:
        return None
