"""Table maintenance on Spark: the policy and the safety rules of `leanops.maintenance`, carried out with
Iceberg's Spark procedures (docs/maintenance-spark.md).

    report = maintain_topic(ctx, "events", leased=True, engine=spark_actions(spark))   # SparkEngine.maintain

Per table, in the order of the embedded engine (leanops.maintenance.run), each action ending in one commit:
  - compaction: `rewrite_data_files` (bin-pack; sorted by the merge key on Curated and Semantic) with
    the policy's sizes and delete ratio, then `rewrite_position_delete_files` (dangling deletes
    dropped, a partition's delete files merged). Curated only when Semantic has read its data head
    (`rewrite_data_files` cannot select files by sequence number; the lease keeps Curated still);
  - manifests: `rewrite_manifests` once the head snapshot has more than `max_manifests`;
  - expiry: the snapshots `leanops.maintenance.expire.plan_expiry` picks (every protected one kept),
    their counts rolled up in the table property FIRST, then `expire_snapshots(snapshot_ids => ...)`;
  - orphans: Iceberg's DeleteOrphanFiles action finds the candidates (it deletes nothing itself) when no
    other table shares the location, and lean-ops deletes them but its own side lists, which only
    snapshot summaries and the roll-up name; with a shared location, `leanops.maintenance.orphans.sweep`.
    As on the embedded engine, a scheduled run removes orphans once per `orphan_age_hours` (`sweep`);
  - the table properties the scheduler reads (layout after maintenance, last sweep) and the metadata.json
    retention, in one metadata commit (`leanops.maintenance.run._remember`).
`leanops.maintenance.run` walks the tables, holds the leases, writes the run-log rows and the reports
for both engines; each action's entry here is marked `"engine": "spark"`.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from leanops.catalog import rollups
from leanops.catalog.inventory import inventory
from leanops.catalog.tables import ancestors, local_path
from leanops.config import CATALOG_NAME
from leanops.context import Context
from leanops.maintenance.compact import DELETE_RATIO, plan_compaction
from leanops.maintenance.expire import ExpiryReport, plan_expiry, rollup_properties, side_files
from leanops.maintenance.orphans import OrphanReport, sharing_location, sweep as sweep_orphans
from leanops.maintenance.policy import MaintenancePolicy
from leanops.maintenance.reach import delete_quietly
# the run's bookkeeping is the embedded engine's own, so both engines lease, log and schedule alike
from leanops.maintenance.run import EngineActions
from leanops.maintenance.safety import Target
from leanops.stages.checkpoint import checkpoint_from_table, fault_point
from leanops.stages.incremental import data_head_id

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyiceberg.table import Table

log = logging.getLogger(__name__)

ENGINE = "spark"


# -- the engine's actions (leanops.maintenance.run walks the tables, leases, logs and reports) ------
def spark_actions(spark: "SparkSession") -> EngineActions:
    """The four actions on Spark, for `leanops.maintenance.run.maintain_topic(..., engine=...)`."""
    return EngineActions(
        compact=lambda ctx, target, policy, dry_run: compact(spark, ctx, target, policy, dry_run),
        manifests=lambda ctx, target, policy, dry_run: rewrite_manifests(spark, target, policy, dry_run),
        expire=lambda ctx, target, policy, now, dry_run: expire(spark, ctx, target, policy, now, dry_run),
        orphans=lambda ctx, table, policy, now, dry_run: remove_orphans(spark, ctx, table, policy, now, dry_run))


# -- compaction -----------------------------------------------------------------------------------
def compaction_blocked(ctx: Context, target: Target) -> str | None:
    """Why the table's files may not be rewritten now (None: they may).

    Semantic reads Curated as "the rows of the files added since its checkpoint, live at the token", so
    a Curated file it has not read must not be rewritten; `rewrite_data_files` cannot select files by
    sequence number, so Curated is compacted only once Semantic has read its data head (or the topic
    has no Semantic table). The topic's lease, held meanwhile, keeps Curated from changing."""
    if target.kind != "curated":
        return None
    semantic = ctx.lake.semantic_table(target.topic)
    if semantic is None:
        return None
    consumed, head = checkpoint_from_table(semantic, target.topic), data_head_id(target.table)
    if consumed == head:
        return None
    return (f"Semantic has read Curated up to snapshot {consumed}, not its head {head}: Curated is compacted "
            "once Semantic has caught up")


def compact(spark: "SparkSession", ctx: Context, target: Target, policy: MaintenancePolicy, dry_run: bool) -> dict:
    """rewrite_data_files, then rewrite_position_delete_files (see the module doc)."""
    table = target.table
    blocked = compaction_blocked(ctx, target)
    if blocked:
        return {"engine": ENGINE, "skipped": blocked}
    if dry_run:  # Iceberg's planner has no dry run: lean-ops' own plan is what it would find
        plans = plan_compaction(table, inventory(table), policy, None)
        return {"engine": ENGINE, "partitions": len(plans), "data_files": sum(len(b) for p in plans for b in p.bins),
                "delete_files": sum(len(p.deletes) for p in plans)}
    head = _head_id(table)
    options = {"target-file-size-bytes": policy.target_bytes,
               "min-file-size-bytes": min(policy.small_bytes, policy.target_bytes - 1),
               "min-input-files": 2,  # as the embedded engine: two small files of a partition are worth it
               "delete-ratio-threshold": DELETE_RATIO,
               "remove-dangling-deletes": "true"}
    # bin-pack may reorder rows; a table read in ingestion order (RAW, Standardized, the error tables) is
    # sorted by ingestion_ts instead, the order a full replay's first-wins dedup relies on
    columns = target.order or (("ingestion_ts",) if "ingestion_ts" in {f.name for f in table.schema().fields} else ())
    order = ", ".join(f"`{column}` ASC NULLS LAST" for column in columns)
    strategy = f", strategy => 'sort', sort_order => '{order}'" if order else ""
    [data] = _call(spark, "rewrite_data_files", f"table => {_name(target)}{strategy}, options => {_map(options)}")
    if data["rewritten_data_files_count"]:
        fault_point("after-compaction-commit")
    delete_options = {"target-file-size-bytes": policy.target_bytes, "min-input-files": 2}
    if data["rewritten_data_files_count"]:  # the deletes naming rewritten files are stale: all rewritten
        delete_options["rewrite-all"] = "true"
    table.refresh()
    deletes = {"rewritten_delete_files_count": 0, "added_delete_files_count": 0}
    if inventory(table).deletes:
        [deletes] = _call(spark, "rewrite_position_delete_files", f"table => {_name(target)}, "
                                                                   f"options => {_map(delete_options)}")
    table.refresh()
    return {"engine": ENGINE, "data_files_removed": data["rewritten_data_files_count"],
            "data_files_added": data["added_data_files_count"], "bytes_removed": data["rewritten_bytes_count"],
            "delete_files_removed": data["removed_delete_files_count"] + deletes["rewritten_delete_files_count"],
            "delete_files_added": deletes["added_delete_files_count"],
            "snapshot_id": _head_id(table) if _head_id(table) != head else None}


def rewrite_manifests(spark: "SparkSession", target: Target, policy: MaintenancePolicy, dry_run: bool) -> dict:
    table = target.table
    count = len(table.current_snapshot().manifests(table.io)) if table.current_snapshot() else 0
    report = {"engine": ENGINE, "before": count, "rewritten": False}
    if count > policy.max_manifests and not dry_run:
        # use_caching => false: a cached plan over the catalog would keep the SQLite catalog locked locally
        _call(spark, "rewrite_manifests", f"table => {_name(target)}, use_caching => false")
        fault_point("after-manifest-rewrite")
        table.refresh()
        report.update(rewritten=True, after=len(table.current_snapshot().manifests(table.io)))
    return report


# -- expiry ---------------------------------------------------------------------------------------
def expire(spark: "SparkSession", ctx: Context, target: Target, policy: MaintenancePolicy, now: datetime,
           dry_run: bool = False) -> dict:
    """The embedded engine's expiry plan, carried out by expire_snapshots after the roll-up is committed."""
    table = target.table
    report = ExpiryReport(snapshots_before=len(table.snapshots()))
    expired = plan_expiry(table, target, policy, now)
    report.snapshots_expired = len(expired)
    if not expired or dry_run:
        return {"engine": ENGINE, **report.as_dict()}
    gone = {s.snapshot_id for s in expired}
    kept = [s for s in ancestors(table) if s.snapshot_id not in gone]  # a prefix of the lineage
    retained = [s for s in table.snapshots() if s.snapshot_id not in gone]
    report.oldest_kept = min((s.sequence_number for s in retained), default=None)
    before = side_files(expired) | rollups.side_files(table)  # the old roll-up's side files too
    commit_rollup(ctx, target, expired)
    fault_point("before-expiry-commit")
    # retain_last and older_than keep exactly the planned lineage prefix: without them Iceberg would also
    # expire by its own defaults (history.expire.*), and appends landing meanwhile would shift a count
    oldest_ms = min(s.timestamp_ms for s in kept)
    older_than = datetime.fromtimestamp(oldest_ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    ids = ", ".join(f"{sid}L" for sid in sorted(gone))
    [row] = _call(spark, "expire_snapshots", f"table => {_name(target)}, older_than => TIMESTAMP '{older_than}', "
                                             f"retain_last => {len(kept)}, snapshot_ids => array({ids})")
    fault_point("after-expiry-commit")
    table.refresh()
    report.snapshots_expired = len(gone - {s.snapshot_id for s in table.snapshots()})
    still = side_files(table.snapshots()) | rollups.side_files(table)
    sides, _ = delete_quietly(table.io, sorted(before - still))
    report.files_deleted = sum(int(v) for k, v in row.items() if k.startswith("deleted_")) + sides
    return {"engine": ENGINE, **report.as_dict(), "bytes_deleted": None}  # the procedure counts files only


def commit_rollup(ctx: Context, target: Target, expired: list) -> None:
    """The roll-up of the snapshots about to expire, committed on its own before the expiry: readers
    skip the snapshots it counts (`rollups.counted`), so a crash in between never counts one twice."""
    properties = rollup_properties(ctx.lake, target, expired)
    if properties:
        with target.table.transaction() as txn:
            txn.set_properties(properties)
        target.table.refresh()


# -- orphans --------------------------------------------------------------------------------------
def orphan_method(catalog, table: "Table") -> str:
    """"iceberg" when the table has its location to itself, else "leanops": a rebuild's archive keeps the
    location the new table reuses, and Iceberg's action would take the archive's files for orphans."""
    return "iceberg" if len(sharing_location(catalog, table)) == 1 else "leanops"


def remove_orphans(spark: "SparkSession", ctx: Context, table: "Table", policy: MaintenancePolicy, now: datetime,
                   dry_run: bool) -> dict:
    if orphan_method(ctx.lake.catalog, table) == "leanops":
        report = sweep_orphans(ctx.lake.catalog, table, policy.orphan_age_hours, dry_run)
        return {"engine": ENGINE, "method": "leanops", **report.as_dict()}
    cutoff_ms = int((now.timestamp() - policy.orphan_age_hours * 3600) * 1000)
    found = find_orphans(spark, table, cutoff_ms)
    keep = {_file_key(p) for p in side_files(table.snapshots()) | rollups.side_files(table)}
    orphans = sorted(p for p in found if _file_key(p) not in keep)
    report = OrphanReport(files_seen=None, orphans=len(orphans), sample=orphans[:5])
    if orphans and not dry_run:
        report.files_deleted, report.bytes_deleted = delete_quietly(table.io, orphans)
    return {"engine": ENGINE, "method": "iceberg", **report.as_dict()}


class _Collect:
    """java.util.function.Consumer the action hands each orphan to, instead of deleting it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def accept(self, path):
        self.paths.append(str(path))

    class Java:
        implements = ["java.util.function.Consumer"]


def find_orphans(spark: "SparkSession", table: "Table", older_than_ms: int) -> list[str]:
    """Files under the table's location that its metadata does not reference, older than `older_than_ms`:
    Iceberg's DeleteOrphanFiles action, with a delete function that only collects (as its procedure's
    dry run). The action API, not the remove_orphan_files procedure: the procedure refuses ages under 24 h."""
    from pyspark.java_gateway import ensure_callback_server_started
    ensure_callback_server_started(spark.sparkContext._gateway)
    jvm = spark.sparkContext._jvm
    name = f"{CATALOG_NAME}.{'.'.join(table.name()[-2:])}"
    jtable = jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, name)
    collect = _Collect()
    started = time.monotonic()
    (jvm.org.apache.iceberg.spark.actions.SparkActions.get(spark._jsparkSession).deleteOrphanFiles(jtable)
     .olderThan(older_than_ms).deleteWith(collect).execute())
    log.debug("orphans of %s found in %.1f s", name, time.monotonic() - started)
    return collect.paths


def _file_key(uri: str) -> str:
    """One spelling per file: `file:///p`, `file:/p` and `/p` alike; s3a:// and s3n:// as s3://."""
    if uri.startswith(("file:", "/")):
        return local_path(uri)
    for scheme in ("s3a://", "s3n://"):
        if uri.startswith(scheme):
            return "s3://" + uri[len(scheme):]
    return uri


# -- Spark SQL ------------------------------------------------------------------------------------
def _name(target: Target) -> str:
    """The procedure's `table` argument: `namespace.table` in the lean-ops catalog (names are \\w+)."""
    return f"'{target.ident}'"


def _map(options: dict) -> str:
    return "map(" + ", ".join(f"'{k}', '{v}'" for k, v in options.items()) + ")"


def _call(spark: "SparkSession", procedure: str, arguments: str) -> list[dict]:
    """CALL one of Iceberg's procedures in the lean-ops catalog; its output rows as dicts."""
    rows = spark.sql(f"CALL {CATALOG_NAME}.system.{procedure}({arguments})").collect()
    return [row.asDict() for row in rows]


def _head_id(table: "Table") -> int | None:
    snapshot = table.current_snapshot()
    return snapshot.snapshot_id if snapshot else None


__all__ = ["commit_rollup", "compaction_blocked", "find_orphans", "orphan_method", "spark_actions"]
