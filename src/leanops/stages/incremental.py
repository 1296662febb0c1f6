"""Snapshot-incremental reads of an append-only table (RAW, Standardized): the files added after a checkpoint."""
from __future__ import annotations

from pyiceberg.manifest import ManifestContent, ManifestEntryStatus
from pyiceberg.table import Table

from leanops.catalog.tables import ancestors, local_path
from leanops.errors import CheckpointLostError


def snapshots_after(table: Table, topic: str, from_id: int | None, to_id: int) -> list[int]:
    """Snapshot ids in (from_id, to_id], oldest first, following the lineage of to_id."""
    by_id = {s.snapshot_id: s for s in table.snapshots()}
    chain, snapshot = [], by_id.get(to_id)
    while snapshot is not None and snapshot.snapshot_id != from_id:
        chain.append(snapshot.snapshot_id)
        snapshot = by_id.get(snapshot.parent_snapshot_id) if snapshot.parent_snapshot_id else None
    if from_id is not None and snapshot is None:
        raise CheckpointLostError(topic, from_id)
    return list(reversed(chain))


def added_files(table: Table, snapshot_ids: list[int]) -> list[str]:
    """Paths of the data files the given snapshots added, in commit order (ingestion order)."""
    if not snapshot_ids:
        return []
    wanted = set(snapshot_ids)
    order = {sid: i for i, sid in enumerate(snapshot_ids)}
    head = table.snapshot_by_id(snapshot_ids[-1])
    found: list[tuple[int, int, str]] = []
    for manifest in head.manifests(table.io):
        if manifest.added_snapshot_id not in wanted or manifest.content != ManifestContent.DATA:
            continue  # delete files (Curated's row deltas) are not rows
        for position, entry in enumerate(manifest.fetch_manifest_entry(table.io, discard_deleted=True)):
            if entry.status == ManifestEntryStatus.ADDED and entry.snapshot_id in wanted:
                found.append((order[entry.snapshot_id], position, local_path(entry.data_file.file_path)))
    found.sort()
    return [path for _, _, path in found]


def next_range(table: Table, topic: str, from_id: int | None, head: int,
               max_rows: int | None) -> tuple[int | None, list[str]]:
    """The next batch after the checkpoint: (last snapshot it covers, its data files).

    Whole snapshots only (the checkpoint is a snapshot id), oldest first, as many as fit in
    `max_rows` — but at least one, however big. What is left is the backlog of the next batch.
    """
    ids = snapshots_after(table, topic, from_id, head)
    if max_rows is not None:
        chosen, rows = [], 0
        for sid in ids:
            added = int(table.snapshot_by_id(sid).summary.additional_properties.get("added-records", 0))
            if chosen and rows + added > max_rows:
                break
            chosen.append(sid)
            rows += added
        ids = chosen
    return (ids[-1] if ids else from_id), added_files(table, ids)


def current_snapshot_id(table: Table | None) -> int | None:
    if table is None:
        return None
    snapshot = table.current_snapshot()
    return snapshot.snapshot_id if snapshot else None


def records_up_to(table: Table, snapshot_id: int | None) -> int:
    """Total records in the table as of a snapshot (append-only tables: rows consumed so far)."""
    if snapshot_id is None:
        return 0
    snapshot = table.snapshot_by_id(snapshot_id)
    return int(snapshot.summary.additional_properties.get("total-records", 0)) if snapshot else 0


__all__ = ["added_files", "ancestors", "current_snapshot_id", "next_range", "records_up_to", "snapshots_after"]
