"""Table maintenance of a topic, or of the shared tables: one pass of every action on every table.

    reports = maintain(ctx, topic="events")           # leanops maintain --topic events
    reasons = due_reasons(ctx, "events", policy)       # the scheduler's cheap check after each run

Per table, in this order (docs/maintenance.md): the metadata.json retention properties; compaction
(leanops.maintenance.compact); merging manifests once there are more than `max_manifests`; snapshot
expiry with the accountability roll-up (leanops.maintenance.expire); the orphan sweep
(leanops.maintenance.orphans). A topic's tables are maintained under the topic's lease, as runs,
rebuilds and replays hold it, so maintenance never races the MERGE; the shared tables under a lease
of their own, with every commit rebuilt on a lost race (other topics keep appending). A failing
action is reported with its table and the rest go on.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import traceback
from datetime import datetime, timezone
from typing import Callable, Iterator

from pyiceberg.table import Table

from leanops.catalog.inventory import inventory
from leanops.catalog.metadata_cache import manifest_count
from leanops.catalog.rewrite import commit_rewrite
from leanops.catalog.tables import METADATA_RETENTION
from leanops.context import Context
from leanops.errors import LeanOpsError
from leanops.maintenance.compact import compact, plan_compaction
from leanops.maintenance.counts import (  # noqa: F401  (re-exported: the status figures)
    STAGE, last_maintenance, table_counts, topic_counts, topic_tables as _topic_tables,
)
from leanops.maintenance.expire import expire
from leanops.maintenance.orphans import sweep as sweep_orphans
from leanops.maintenance.policy import MaintenancePolicy
from leanops.maintenance.safety import SHARED, Target, shared_targets, topic_targets
from leanops.stages.checkpoint import fault_point
from leanops.state.base import RunRecord

log = logging.getLogger(__name__)

SUMMARY_MAINTENANCE = "leanops.maintenance"  # on maintenance commits: compaction | manifests
LEASE_TTL_SECONDS = 3600.0
ACTIONS = ("compact", "manifests", "expire", "orphans")
SHARED_LEASE = "__shared_tables__"  # never a topic name (topics start with a letter)


@dataclasses.dataclass
class Layout:
    """What a table's current metadata holds: the figures `leanops status` and the thresholds use."""

    data_files: int = 0
    delete_files: int = 0
    partitions: int = 0
    max_small_files_per_partition: int = 0
    snapshots: int = 0
    manifests: int = 0
    metadata_json_bytes: int | None = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class TableReport:
    table: str
    kind: str
    before: Layout
    after: Layout | None = None
    actions: dict = dataclasses.field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict:
        return {"table": self.table, "kind": self.kind, "before": self.before.as_dict(),
                "after": self.after.as_dict() if self.after else None, "actions": self.actions,
                "error": self.error}


@dataclasses.dataclass
class MaintenanceReport:
    scope: str  # a topic, or "_shared" (the tables every topic writes)
    dry_run: bool
    status: str = "SUCCEEDED"  # SUCCEEDED | FAILED | SKIPPED
    message: str = ""
    tables: list[TableReport] = dataclasses.field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status == "FAILED"

    def as_dict(self) -> dict:
        return {"scope": self.scope, "dry_run": self.dry_run, "status": self.status, "message": self.message,
                "tables": [t.as_dict() for t in self.tables]}


# -- entry points ---------------------------------------------------------------------------------
def maintain(ctx: Context, topic: str | None = None, dry_run: bool = False,
             actions: tuple[str, ...] = ACTIONS, now: datetime | None = None) -> list[MaintenanceReport]:
    """Every topic (or one) and then the shared tables; the state-store retention last. By hand: the
    orphan sweep runs whatever the time since the last one."""
    now = now or datetime.now(timezone.utc)
    reports = [maintain_topic(ctx, t, dry_run, actions, now, sweep=True) for t in ([topic] if topic else ctx.topics())]
    reports.append(maintain_shared(ctx, dry_run, actions, now, sweep=True))
    return reports


def maintain_topic(ctx: Context, topic: str, dry_run: bool = False, actions: tuple[str, ...] = ACTIONS,
                   now: datetime | None = None, leased: bool = False, sweep: bool | None = None,
                   engine: "EngineActions | None" = None) -> MaintenanceReport:
    """One topic's tables under its lease (`leased`: the caller, a pipeline run, holds it already).

    `sweep`: run the orphan sweep (True), or only when the table's last one is older than the policy's
    `orphan_age_hours` (None: what the scheduler does; the sweep lists the table's whole location).
    `engine`: how each action is carried out (default: in-process; the Spark engine passes its own)."""
    now = now or datetime.now(timezone.utc)
    report = MaintenanceReport(topic, dry_run)
    with _lease(ctx, topic, leased) as held:
        if not held:
            report.status, report.message = "SKIPPED", f"a run, rebuild or replay holds {topic} right now"
            return report
        with _logged(ctx, topic, report, dry_run):
            policy = topic_policy(ctx, topic)
            for target in topic_targets(ctx, topic):
                report.tables.append(maintain_target(ctx, target, policy, now, dry_run, actions, sweep, engine))
    return _settle(report)


def maintain_shared(ctx: Context, dry_run: bool = False, actions: tuple[str, ...] = ACTIONS,
                    now: datetime | None = None, sweep: bool | None = None,
                    engine: "EngineActions | None" = None) -> MaintenanceReport:
    """The DLQ and the error tables under the shared tables' lease (every topic keeps appending meanwhile:
    each commit is rebuilt on the new head), then the state store's run-log retention."""
    now = now or datetime.now(timezone.utc)
    report = MaintenanceReport(SHARED, dry_run)
    with _lease(ctx, SHARED_LEASE, False) as held:
        if not held:
            report.status, report.message = "SKIPPED", "another maintenance holds the shared tables"
            return report
        with _logged(ctx, SHARED, report, dry_run):
            policy = ctx.settings.maintenance
            for target in shared_targets(ctx.lake):
                report.tables.append(maintain_target(ctx, target, policy, now, dry_run, actions, sweep, engine))
            if not dry_run:
                _prune_state(ctx, policy, now)
    return _settle(report)


def topic_policy(ctx: Context, topic: str) -> MaintenancePolicy:
    """The deployment's policy with the topic's schema-file `maintenance` fields; the deployment's own when
    the schema file cannot be read (maintenance must not depend on a file being valid)."""
    try:
        schema = ctx.schema(topic)
    except LeanOpsError:
        schema = None
    return ctx.settings.maintenance.merged(schema.maintenance if schema else None)


# -- one table ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class EngineActions:
    """How an engine carries out each action on one table; each returns the action's report (a dict)."""

    compact: Callable[[Context, Target, MaintenancePolicy, bool], dict]
    manifests: Callable[[Context, Target, MaintenancePolicy, bool], dict]
    expire: Callable[[Context, Target, MaintenancePolicy, datetime, bool], dict]
    orphans: Callable[[Context, Table, MaintenancePolicy, datetime, bool], dict]


def maintain_target(ctx: Context, target: Target, policy: MaintenancePolicy, now: datetime, dry_run: bool,
                    actions: tuple[str, ...] = ACTIONS, sweep: bool | None = True,
                    engine: EngineActions | None = None) -> TableReport:
    """Every action on one table, in order; a failure is reported with the table, never raised."""
    engine = engine or EMBEDDED
    table = target.table
    report = TableReport(target.ident, target.kind, layout(table, policy))
    swept = False
    try:
        if "compact" in actions:
            report.actions["compact"] = engine.compact(ctx, target, policy, dry_run)
            table.refresh()
        if "manifests" in actions:
            report.actions["manifests"] = engine.manifests(ctx, target, policy, dry_run)
            table.refresh()
        if "expire" in actions:
            report.actions["expire"] = engine.expire(ctx, target, policy, now, dry_run)
            table.refresh()
        if "orphans" in actions and (sweep or (sweep is None and _sweep_due(table, policy, now))):
            report.actions["orphans"] = engine.orphans(ctx, table, policy, now, dry_run)
            swept = not dry_run
        if not dry_run:
            _remember(table, policy, now if swept else None)
    except Exception as exc:  # one table's failure is reported; the other tables go on
        log.debug("maintenance of %s failed", target.ident, exc_info=True)
        report.error = str(exc) if isinstance(exc, LeanOpsError) else f"{type(exc).__name__}: {_brief(exc)}"
        if not isinstance(exc, LeanOpsError):
            report.actions["traceback"] = traceback.format_exc(limit=4).strip()[-MAX_TRACEBACK:]
    table.refresh()
    report.after = layout(table, policy)
    return report


MAX_TRACEBACK = 4000  # characters of a failure's traceback kept in the report


def _brief(exc: Exception) -> str:
    """The message without a Java stack (a Py4J error from the Spark engine carries it in its text)."""
    lines = []
    for line in str(exc).strip().splitlines():
        if line.lstrip().startswith("at ") or line.startswith("Caused by"):
            break
        lines.append(line.strip(" :"))
    return " ".join(x for x in lines if x)[:1000]


def _compact(ctx: Context, target: Target, policy: MaintenancePolicy, dry_run: bool) -> dict:
    table = target.table
    plans = plan_compaction(table, inventory(table), policy, target.horizon)
    if plans and not dry_run:
        summary = {SUMMARY_MAINTENANCE: "compaction", **target.carry}
        return compact(table, plans, target.order, summary, ctx.settings.home / "tmp").as_dict()
    return {"partitions": len(plans), "data_files": sum(len(b) for p in plans for b in p.bins),
            "delete_files": sum(len(p.deletes) for p in plans)}


def _manifests(ctx: Context, target: Target, policy: MaintenancePolicy, dry_run: bool) -> dict:
    table = target.table
    count = len(table.current_snapshot().manifests(table.io)) if table.current_snapshot() else 0
    report = {"before": count, "rewritten": False}
    if count > policy.max_manifests and not dry_run:
        commit_rewrite(table, [], [], {SUMMARY_MAINTENANCE: "manifests", **target.carry}, regroup=True)
        fault_point("after-manifest-rewrite")
        table.refresh()
        report.update(rewritten=True, after=len(table.current_snapshot().manifests(table.io)))
    return report


def _expire(ctx: Context, target: Target, policy: MaintenancePolicy, now: datetime, dry_run: bool) -> dict:
    return expire(ctx.lake, target, policy, now, dry_run).as_dict()


def _orphans(ctx: Context, table: Table, policy: MaintenancePolicy, now: datetime, dry_run: bool) -> dict:
    return sweep_orphans(ctx.lake.catalog, table, policy.orphan_age_hours, dry_run).as_dict()


EMBEDDED = EngineActions(_compact, _manifests, _expire, _orphans)


def layout(table: Table, policy: MaintenancePolicy | None = None) -> Layout:
    """The table's file, partition, snapshot and manifest counts (reads its manifests once)."""
    inv = inventory(table)
    small = (policy or MaintenancePolicy()).small_bytes
    per_partition: dict[tuple, int] = {}
    for f in inv.data:
        if f.data_file.file_size_in_bytes < small:
            per_partition[f.partition_key] = per_partition.get(f.partition_key, 0) + 1
    return Layout(data_files=len(inv.data), delete_files=len(inv.deletes), partitions=inv.partitions,
                  max_small_files_per_partition=max(per_partition.values(), default=0),
                  snapshots=len(table.metadata.snapshots), manifests=len(inv.manifests),
                  metadata_json_bytes=_size(table, table.metadata_location))


def _size(table: Table, path: str) -> int | None:
    try:
        return len(table.io.new_input(path))
    except OSError:
        return None


PARTITIONS_PROPERTY = "leanops.partitions"  # partitions at the last maintenance: the files threshold's base
FILES_PROPERTY = "leanops.maintained-files"  # data files right after the last maintenance
SWEPT_PROPERTY = "leanops.swept-at"  # when the last orphan sweep of the table ran (ISO-8601)


def _remember(table: Table, policy: MaintenancePolicy, swept: datetime | None) -> None:
    """One metadata commit (when anything changed) of what the next scheduling needs: the layout after
    this maintenance, when the table was last swept, and Iceberg's metadata.json retention."""
    inv = inventory(table)
    wanted = {**METADATA_RETENTION, "write.metadata.previous-versions-max": str(policy.metadata_versions),
              PARTITIONS_PROPERTY: str(max(1, inv.partitions)), FILES_PROPERTY: str(len(inv.data))}
    if swept is not None:
        wanted[SWEPT_PROPERTY] = swept.isoformat()
    if any(table.metadata.properties.get(k) != v for k, v in wanted.items()):
        with table.transaction() as txn:
            txn.set_properties(wanted)


def _sweep_due(table: Table, policy: MaintenancePolicy, now: datetime) -> bool:
    last = table.metadata.properties.get(SWEPT_PROPERTY)
    if not last:
        return True
    return (now - datetime.fromisoformat(last)).total_seconds() >= policy.orphan_age_hours * 3600


# -- the scheduler's check ------------------------------------------------------------------------


def due_reasons(ctx: Context, topic: str, policy: MaintenancePolicy, now: datetime | None = None,
                tables: list[Table] | None = None) -> list[str]:
    """Why the topic's tables need maintenance now ([] when they do not): see `_due`. `tables`: the
    topic's tables as just loaded (else they are loaded here)."""
    return _due(ctx, topic, tables if tables is not None else _topic_tables(ctx, topic), policy, now)


def shared_due_reasons(ctx: Context, now: datetime | None = None) -> list[str]:
    """Why the shared tables (DLQ, error tables) need maintenance now."""
    return _due(ctx, SHARED, [t.table for t in shared_targets(ctx.lake)], ctx.settings.maintenance, now)


def _due(ctx: Context, scope: str, tables: list[Table], policy: MaintenancePolicy,
         now: datetime | None) -> list[str]:
    """From metadata alone: the head snapshot's file totals, the snapshot count, the head's manifest
    list, and the time since the scope's last maintenance run."""
    if not policy.enabled or not tables:
        return []
    now = now or datetime.now(timezone.utc)
    last = last_maintenance(ctx, scope) or _oldest_commit(tables)  # never maintained: as old as its data
    reasons = []
    for table in tables:
        snapshot, name = table.current_snapshot(), ".".join(table.name()[-2:])
        if snapshot is None:
            continue
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        files, deletes = int(props.get("total-data-files", 0)), int(props.get("total-delete-files", 0))
        before = int(table.metadata.properties.get(FILES_PROPERTY, 0))
        # the partition count only matters once a table has enough files to cross a threshold with
        # one partition: below that, no manifest is read
        if files - before >= policy.max_files_per_partition - 1 or deletes > policy.max_delete_files_per_partition:
            known = table.metadata.properties.get(PARTITIONS_PROPERTY)  # set by each maintenance
            partitions = max(1, int(known) if known else inventory(table).partitions)
            if files - before >= (policy.max_files_per_partition - 1) * partitions:
                reasons.append(f"{name}: {files - before} data files since the last maintenance, "
                               f"{partitions} partitions")
            if deletes > policy.max_delete_files_per_partition * partitions:
                reasons.append(f"{name}: {deletes} delete files for {partitions} partitions")
        if len(table.metadata.snapshots) > policy.max_snapshots:
            reasons.append(f"{name}: {len(table.metadata.snapshots)} snapshots")
        manifests = manifest_count(table, snapshot)
        if manifests > policy.max_manifests:
            reasons.append(f"{name}: {manifests} manifests")
    age = (now - last).total_seconds()
    if not reasons and age > policy.every_hours * 3600:
        reasons.append(f"last maintenance {age / 3600:.1f} h ago")
    return reasons


def _oldest_commit(tables: list[Table]) -> datetime:
    oldest = min((s.timestamp_ms for t in tables for s in t.metadata.snapshots), default=None)
    now = datetime.now(timezone.utc)
    return now if oldest is None else datetime.fromtimestamp(oldest / 1000, timezone.utc)


# -- bookkeeping ----------------------------------------------------------------------------------
@contextlib.contextmanager
def _lease(ctx: Context, name: str, already: bool) -> Iterator[bool]:
    """Hold `name`'s lease (a topic's, or the shared tables'); yields False when someone else holds it."""
    if already:
        yield True
        return
    from leanops.orchestrate.cycle import acquire, holder_id  # the orchestrator's own lease rules
    holder = holder_id()
    if not acquire(ctx, name, holder, LEASE_TTL_SECONDS):
        yield False
        return
    try:
        yield True
    finally:
        ctx.state.release_lease(name, holder)


@contextlib.contextmanager
def _logged(ctx: Context, scope: str, report: MaintenanceReport, dry_run: bool) -> Iterator[None]:
    """A run-log row for a real (not dry) run: the scheduler's "last maintenance" and the dashboard."""
    if dry_run:
        yield
        return
    now = datetime.now(timezone.utc)
    record = ctx.state.start_run(RunRecord(topic=scope, stage=STAGE, started_at=now, status="RUNNING"))
    try:
        yield
    finally:
        _settle(report)
        record.status = report.status
        record.ended_at = datetime.now(timezone.utc)
        record.error_message = report.message or None
        ctx.state.finish_run(record)


def _settle(report: MaintenanceReport) -> MaintenanceReport:
    failures = [f"{t.table}: {t.error}" for t in report.tables if t.error]
    if failures and report.status != "SKIPPED":
        report.status, report.message = "FAILED", "; ".join(failures)
    return report


def _prune_state(ctx: Context, policy: MaintenancePolicy, now: datetime) -> None:
    """Run-log and ingest-log retention (the newest run of each topic and stage is always kept)."""
    from datetime import timedelta
    prune = getattr(ctx.state, "prune_history", None)
    if prune is not None:
        prune(now - timedelta(days=policy.run_log_days))


__all__ = ["ACTIONS", "EMBEDDED", "EngineActions", "Layout", "MaintenanceReport", "STAGE", "TableReport", "due_reasons", "layout",
           "last_maintenance", "maintain", "maintain_shared", "maintain_target", "maintain_topic", "shared_due_reasons",
           "table_counts", "topic_counts", "topic_policy"]
