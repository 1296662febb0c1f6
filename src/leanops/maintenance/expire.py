"""Snapshot expiry with the accountability roll-up, and what the expired snapshots alone referenced.

    report = expire(lake, target, policy, now)

Kept: every snapshot younger than `keep_snapshots_hours` (but no more than `max_snapshots`: past the
cap the oldest go down to half of it), at least `keep_min_snapshots`, and every snapshot from the oldest
protected one (leanops.maintenance.safety) to the head. Only a prefix of the lineage ever goes, so the
history readers walk stays connected.

One metadata commit removes the snapshots AND adds their counts to the table's roll-up
(leanops.catalog.rollups): a crash leaves both or neither. The files only the expired snapshots
referenced (manifest lists, manifests, data and delete files, side lists) are deleted after the
commit; a crash in between leaves them to the orphan sweep.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.table.update.snapshot import ExpireSnapshots

from leanops.catalog import rollups
from leanops.catalog.shared_rows import expiry_rows
from leanops.catalog.side_lists import PREFIX
from leanops.catalog.tables import ancestors
from leanops.errors import CommitConflictError
from leanops.maintenance.policy import MaintenancePolicy
from leanops.maintenance.reach import delete_quietly, reachable
from leanops.maintenance.safety import Target
from leanops.stages.accountability import expiry_rollups
from leanops.stages.checkpoint import fault_point

ROLLED_UP_KINDS = ("raw", "standardized", "curated", "semantic", "dlq")
# shared tables whose rows per topic accountability counts from summaries (leanops.catalog.shared_rows)
SHARED_ROW_KINDS = ("dlq", "parse_errors", "curated_errors", "semantic_errors")


@dataclasses.dataclass
class ExpiryReport:
    snapshots_before: int = 0
    snapshots_expired: int = 0
    files_deleted: int = 0
    bytes_deleted: int = 0
    oldest_kept: int | None = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def plan_expiry(table: Table, target: Target, policy: MaintenancePolicy, now: datetime) -> list[Snapshot]:
    """The snapshots to expire: those outside the retention window (beyond `max_snapshots` the oldest go
    down to half of it, whatever their age), never fewer than `keep_min_snapshots` kept, and never one
    that a protected snapshot follows."""
    lineage = list(ancestors(table))  # newest first
    cutoff_ms = (now - timedelta(hours=policy.keep_snapshots_hours)).timestamp() * 1000
    keep = sum(1 for s in lineage if s.timestamp_ms >= cutoff_ms)
    if keep > policy.max_snapshots:
        keep = policy.max_snapshots // 2
    keep = min(len(lineage), max(keep, policy.keep_min_snapshots))
    for i, snapshot in enumerate(lineage):
        if snapshot.snapshot_id in target.protected:
            keep = max(keep, i + 1)
    kept = {s.snapshot_id for s in lineage[:keep]}
    return [s for s in table.snapshots() if s.snapshot_id not in kept]


def expire(lake, target: Target, policy: MaintenancePolicy, now: datetime, dry_run: bool = False) -> ExpiryReport:
    table = target.table
    report = ExpiryReport(snapshots_before=len(table.snapshots()))
    expired = plan_expiry(table, target, policy, now)
    report.snapshots_expired = len(expired)
    if not expired or dry_run:
        return report
    gone = {s.snapshot_id for s in expired}
    retained = [s for s in table.snapshots() if s.snapshot_id not in gone]
    report.oldest_kept = min((s.sequence_number for s in retained), default=None)
    properties = rollup_properties(lake, target, expired)
    before = reachable(table, expired) | side_files(expired) | rollups.side_files(table)  # the old roll-up's
    fault_point("before-expiry-commit")
    txn = table.transaction()
    if properties:
        txn.set_properties(properties)
    ExpireSnapshots(txn).by_ids([s.snapshot_id for s in expired]).commit()
    try:
        txn.commit_transaction()
    except CommitFailedException as exc:
        raise CommitConflictError(str(table.name()), str(exc)) from exc
    fault_point("after-expiry-commit")
    still = reachable(table, retained) | side_files(retained) | rollups.side_files(table)
    report.files_deleted, report.bytes_deleted = delete_quietly(table.io, sorted(before - still))
    return report


def rollup_properties(lake, target: Target, expired: list[Snapshot]) -> dict[str, str]:
    """The table property that adds the expired snapshots' counts to the roll-up ({} for the tables
    accountability does not read): complete figures, through the greatest sequence number expired; for
    the shared error tables and the DLQ, each topic's rows as of the newest expired snapshot.
    Shared with the Spark engine, which commits it before its expire_snapshots call."""
    table = target.table
    if target.kind not in ROLLED_UP_KINDS + SHARED_ROW_KINDS:
        return {}
    rolled = rollups.rolled_through(table)  # counted already by an expiry that did not finish
    fresh = [s for s in expired if s.sequence_number > rolled]
    figures = (expiry_rollups(lake, target.kind, table, fresh, target.topic) if target.kind in ROLLED_UP_KINDS
               else rollups.read_rollups(table))
    if target.kind in SHARED_ROW_KINDS:  # each topic's rows, as of the newest expired snapshot
        figures = expiry_rows(table, expired, figures, with_ingests=target.kind == "dlq")
    through = max([rolled] + [s.sequence_number for s in expired])
    return {rollups.PROPERTY: rollups.property_value(table, figures, through)}


def side_files(snapshots: list[Snapshot]) -> set[str]:
    """Side lists (leanops.catalog.side_lists) the snapshots' summaries name."""
    found = set()
    for snapshot in snapshots:
        for value in (snapshot.summary.additional_properties if snapshot.summary else {}).values():
            if isinstance(value, str) and value.startswith(PREFIX):
                found.add(value[len(PREFIX):])
    return found


__all__ = ["ExpiryReport", "expire", "plan_expiry", "rollup_properties", "side_files"]
