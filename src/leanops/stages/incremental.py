"""Snapshot-incremental reads of a table (RAW, Standardized; Curated for Semantic): the files added after
a checkpoint.

Rules that keep these reads exact under table maintenance (docs/maintenance.md):
  - A snapshot's added files are read from that snapshot's own manifests, not from the head's: a file
    a later compaction rewrote is still read where it was added (a retained snapshot's files are never
    deleted), and the rewritten copy is never read again.
  - Maintenance snapshots (operation `replace`: compaction, manifest rewrites, by either engine) add
    no rows: they are skipped, and a range holding only those is no new data.
  - With no checkpoint, the first batch is the oldest retained snapshot's whole content (its live data
    files: history before it may have been expired), then the snapshots after it, up to the first
    maintenance snapshot (an engine reading "as of" the batch's last snapshot then still finds every
    base file live).
"""
from __future__ import annotations

from pyiceberg.manifest import ManifestContent, ManifestEntryStatus
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Operation, Snapshot

from leanops.catalog.inventory import inventory
from leanops.catalog.tables import ancestors, local_path
from leanops.errors import CheckpointLostError


def is_maintenance(snapshot: Snapshot | None) -> bool:
    """A snapshot that only rearranges files (compaction, manifest rewrite): no rows added or removed."""
    return bool(snapshot and snapshot.summary and snapshot.summary.operation == Operation.REPLACE)


def snapshots_after(table: Table, topic: str, from_id: int | None, to_id: int) -> list[int]:
    """Snapshot ids in (from_id, to_id], oldest first, following the lineage of to_id.

    With no checkpoint the walk ends at the oldest retained snapshot (earlier ones may be expired)."""
    by_id = {s.snapshot_id: s for s in table.snapshots()}
    chain, snapshot = [], by_id.get(to_id)
    while snapshot is not None and snapshot.snapshot_id != from_id:
        chain.append(snapshot.snapshot_id)
        snapshot = by_id.get(snapshot.parent_snapshot_id) if snapshot.parent_snapshot_id else None
    if from_id is not None and snapshot is None:
        raise CheckpointLostError(topic, from_id)
    return list(reversed(chain))


def added_files(table: Table, snapshot_ids: list[int]) -> list[str]:
    """Paths of the data files the given snapshots added, in commit order (ingestion order).

    Each snapshot's own manifests name what it added (status ADDED, its id), so the cost follows
    the snapshots read, not the table's history; maintenance snapshots add nothing."""
    paths: list[str] = []
    for sid in snapshot_ids:
        snapshot = table.snapshot_by_id(sid)
        if snapshot is None or is_maintenance(snapshot):
            continue
        for manifest in snapshot.manifests(table.io):
            if manifest.added_snapshot_id != sid or manifest.content != ManifestContent.DATA:
                continue  # delete files (Curated's row deltas) are not rows
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                if entry.status == ManifestEntryStatus.ADDED and entry.snapshot_id == sid:
                    paths.append(local_path(entry.data_file.file_path))
    return paths


def base_files(table: Table, snapshot_id: int) -> list[str]:
    """Every live data file of a snapshot, oldest data first (data sequence number, then manifest order)."""
    files = inventory(table, table.snapshot_by_id(snapshot_id)).data
    order = sorted(range(len(files)), key=lambda i: (files[i].sequence_number, i))
    return [local_path(files[i].path) for i in order]


def _added_rows(snapshot: Snapshot) -> int:
    if is_maintenance(snapshot) or snapshot.summary is None:
        return 0
    return int(snapshot.summary.additional_properties.get("added-records", 0))


def _total_rows(snapshot: Snapshot) -> int:
    return int(snapshot.summary.additional_properties.get("total-records", 0)) if snapshot.summary else 0


def next_range(table: Table, topic: str, from_id: int | None, head: int,
               max_rows: int | None) -> tuple[int | None, list[str]]:
    """The next batch after the checkpoint: (last snapshot it covers, its data files).

    Whole snapshots only (the checkpoint is a snapshot id), oldest first, as many as fit in
    `max_rows` — but at least one, however big. What is left is the backlog of the next batch.
    A range of maintenance snapshots only is no new data: (from_id, []).
    """
    snapshots = [table.snapshot_by_id(sid) for sid in snapshots_after(table, topic, from_id, head)]
    if from_id is None and snapshots:
        return _base_range(table, snapshots, max_rows)
    if all(is_maintenance(s) for s in snapshots):
        return from_id, []
    chosen, rows = [], 0
    for snapshot in snapshots:
        added = _added_rows(snapshot)
        if chosen and max_rows is not None and added and rows + added > max_rows:
            break
        chosen.append(snapshot.snapshot_id)
        rows += added
    return chosen[-1], added_files(table, chosen)


def range_files(table: Table, topic: str, from_id: int | None, to_id: int) -> list[str]:
    """The data files of exactly the range (from_id, to_id] (a first range starts with its base snapshot's
    content): what an interrupted run covered, redone."""
    ids = snapshots_after(table, topic, from_id, to_id)
    if from_id is None and ids:
        return base_files(table, ids[0]) + added_files(table, ids[1:])
    return added_files(table, ids)


def _base_range(table: Table, snapshots: list[Snapshot], max_rows: int | None) -> tuple[int, list[str]]:
    """A first batch: the oldest retained snapshot's content, then appends up to a maintenance snapshot."""
    base, rest = snapshots[0], []
    rows = _total_rows(base)
    for snapshot in snapshots[1:]:
        added = _added_rows(snapshot)
        if is_maintenance(snapshot) or (max_rows is not None and added and rows + added > max_rows):
            break
        rest.append(snapshot.snapshot_id)
        rows += added
    return (rest[-1] if rest else base.snapshot_id), base_files(table, base.snapshot_id) + added_files(table, rest)


def current_snapshot_id(table: Table | None) -> int | None:
    if table is None:
        return None
    snapshot = table.current_snapshot()
    return snapshot.snapshot_id if snapshot else None


def data_head_id(table: Table | None) -> int | None:
    """The newest snapshot that changed rows: the head, past any maintenance snapshots on top of it.

    What "new data" compares against: a compaction of RAW is not new data for Standardized."""
    if table is None:
        return None
    for snapshot in ancestors(table):
        if not is_maintenance(snapshot):
            return snapshot.snapshot_id
    return current_snapshot_id(table)


def records_up_to(table: Table, snapshot_id: int | None) -> int:
    """Total records in the table as of a snapshot (append-only tables: rows consumed so far)."""
    if snapshot_id is None:
        return 0
    snapshot = table.snapshot_by_id(snapshot_id)
    return int(snapshot.summary.additional_properties.get("total-records", 0)) if snapshot else 0


def rows_added_after(table: Table, snapshot_id: int | None) -> int:
    """Rows a table's snapshots added after `snapshot_id` (its changes a downstream has not read);
    maintenance snapshots add none."""
    total = 0
    for snapshot in ancestors(table):
        if snapshot.snapshot_id == snapshot_id:
            break
        total += _added_rows(snapshot)
    return total


__all__ = ["added_files", "ancestors", "base_files", "current_snapshot_id", "data_head_id", "is_maintenance",
           "next_range", "range_files", "records_up_to", "rows_added_after", "snapshots_after"]
