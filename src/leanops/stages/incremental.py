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
  - A batch may end inside a snapshot, even inside one of its files (`leanops.stages.position`): a RAW
    commit holds a whole ingest, and a run takes at most `max_batch_rows` rows. A snapshot's rows count
    in commit order of its files (its manifests' order, then their entries': the order they were written
    in), then row order, so the next batch goes on exactly where the last one stopped.
"""
from __future__ import annotations

import dataclasses

from pyiceberg.manifest import ManifestContent, ManifestEntryStatus
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Operation, Snapshot

from leanops.catalog.inventory import inventory
from leanops.catalog.tables import ancestors, local_path
from leanops.errors import CheckpointLostError
from leanops.stages.position import Position


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


@dataclasses.dataclass(frozen=True)
class SourceFile:
    """One upstream data file of a range, with the rows it holds (its manifest entry's record count)."""

    path: str
    records: int


def _added(table: Table, snapshot_id: int) -> list[SourceFile]:
    """The data files a snapshot added, in commit order, read from its own manifests (status ADDED, its id):
    the cost follows the snapshots read, not the table's history; maintenance snapshots add nothing."""
    snapshot = table.snapshot_by_id(snapshot_id)
    if snapshot is None or is_maintenance(snapshot):
        return []
    found: list[SourceFile] = []
    for manifest in snapshot.manifests(table.io):
        if manifest.added_snapshot_id != snapshot_id or manifest.content != ManifestContent.DATA:
            continue  # delete files (Curated's row deltas) are not rows
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            if entry.status == ManifestEntryStatus.ADDED and entry.snapshot_id == snapshot_id:
                found.append(SourceFile(local_path(entry.data_file.file_path), entry.data_file.record_count))
    return found


def _content(table: Table, snapshot_id: int) -> list[SourceFile]:
    """Every live data file of a snapshot, oldest data first (data sequence number, then manifest order)."""
    files = inventory(table, table.snapshot_by_id(snapshot_id)).data
    order = sorted(range(len(files)), key=lambda i: (files[i].sequence_number, i))
    return [SourceFile(local_path(files[i].path), files[i].data_file.record_count) for i in order]


def added_files(table: Table, snapshot_ids: list[int]) -> list[str]:
    """Paths of the data files the given snapshots added, in commit order (ingestion order)."""
    return [f.path for sid in snapshot_ids for f in _added(table, sid)]


def base_files(table: Table, snapshot_id: int) -> list[str]:
    """Every live data file of a snapshot, oldest data first (data sequence number, then manifest order)."""
    return [f.path for f in _content(table, snapshot_id)]


def _files_of(table: Table, snapshot_id: int, base: bool) -> list[SourceFile]:
    """A snapshot's files as a range counts them: its whole content for a first range's base, else what it added."""
    return _content(table, snapshot_id) if base else _added(table, snapshot_id)


def _added_rows(snapshot: Snapshot) -> int:
    if is_maintenance(snapshot) or snapshot.summary is None:
        return 0
    return int(snapshot.summary.additional_properties.get("added-records", 0))


def _total_rows(snapshot: Snapshot) -> int:
    return int(snapshot.summary.additional_properties.get("total-records", 0)) if snapshot.summary else 0


@dataclasses.dataclass(frozen=True)
class FileSlice:
    """Rows [first, end) of one upstream data file: what a batch reads of it (all of it, or a part at
    the start or the end of a batch that begins or stops inside the file)."""

    path: str
    first: int
    end: int
    records: int  # the file's rows

    @property
    def whole(self) -> bool:
        return self.first == 0 and self.end >= self.records


def _slices(files: list[SourceFile], skip: int, count: int | None) -> list[FileSlice]:
    """The rows [skip, skip + count) of a snapshot's files taken as one sequence (count None: to the end)."""
    out, offset = [], 0
    stop = None if count is None else skip + count
    for f in files:
        first, end = max(skip - offset, 0), f.records if stop is None else min(f.records, stop - offset)
        if end > first:
            out.append(FileSlice(f.path, first, end, f.records))
        offset += f.records
        if stop is not None and offset >= stop:
            break
    return out


@dataclasses.dataclass(frozen=True)
class _Piece:
    """One snapshot's part of a range: its rows (its content's when `base`) after the first `skip`."""

    snapshot_id: int
    base: bool = False
    skip: int = 0

    def files(self, table: Table) -> list[SourceFile]:
        return _files_of(table, self.snapshot_id, self.base)


def _pieces(table: Table, topic: str, start: Position, to_id: int) -> list[_Piece]:
    """The snapshots of (start, to_id], oldest first, as the pieces a range reads.

    With no checkpoint the first piece is the oldest retained snapshot's content, and the range ends before
    the first maintenance snapshot after it; a checkpoint inside such a base continues it under the same
    rule. A checkpoint inside any other snapshot continues with that snapshot's remaining rows."""
    ids = snapshots_after(table, topic, start.snapshot_id, to_id)
    if start.snapshot_id is None:
        if not ids:
            return []
        pieces, rest, stop_at_maintenance = [_Piece(ids[0], base=True)], ids[1:], True
    else:
        pieces = [] if start.whole else [_Piece(start.snapshot_id, start.base, start.rows or 0)]
        rest, stop_at_maintenance = ids, start.base
    for sid in rest:
        if stop_at_maintenance and is_maintenance(table.snapshot_by_id(sid)):
            break
        pieces.append(_Piece(sid))
    return pieces


def next_range(table: Table, topic: str, start: Position, head: int, max_rows: int | None,
               within_snapshots: bool = False) -> tuple[Position, list[FileSlice]]:
    """The next batch after the checkpoint `start`: (where it ends, what it reads of each file, in
    ingestion order).

    Oldest first, as many rows as fit in `max_rows`. With `within_snapshots` the batch stops after exactly
    `max_rows` rows, inside a snapshot and inside a file if need be (a RAW commit holds a whole ingest);
    else it takes whole snapshots, at least one however big. What is left is the backlog of the next batch.
    A range of maintenance snapshots only is no new data: (start, []).
    """
    pieces = _pieces(table, topic, start, head)
    if start.snapshot_id is not None and start.whole and \
            all(is_maintenance(table.snapshot_by_id(p.snapshot_id)) for p in pieces):
        return start, []
    end, slices, rows = start, [], 0
    for piece in pieces:
        files = piece.files(table)
        left = sum(f.records for f in files) - piece.skip
        room = None if max_rows is None else max_rows - rows
        if room is None or left <= room:
            take = left
        elif within_snapshots:
            take = room
        else:  # whole snapshots: this one waits, unless the batch is empty
            take = 0 if slices else left
        slices.extend(_slices(files, piece.skip, take))
        rows += take
        if take < left:  # the batch is full
            if take:  # it ends inside this snapshot
                end = Position(piece.snapshot_id, piece.skip + take, piece.base)
            return end, slices
        end = Position(piece.snapshot_id)
    return end, slices


def range_slices(table: Table, topic: str, start: Position, end: Position) -> list[FileSlice]:
    """What exactly the range (start, end] reads of each file: what an interrupted run covered, redone."""
    if end.snapshot_id is None:
        return []
    pieces = _pieces(table, topic, start, end.snapshot_id)
    slices: list[FileSlice] = []
    for piece in pieces:
        count = None
        if piece is pieces[-1] and not end.whole:
            if piece.snapshot_id != end.snapshot_id:
                raise CheckpointLostError(topic, end.snapshot_id)
            count = (end.rows or 0) - piece.skip
        slices.extend(_slices(piece.files(table), piece.skip, count))
    return slices


def range_files(table: Table, topic: str, start: Position, end: Position) -> list[str]:
    """The data files the range (start, end] reads, whole or in part, in ingestion order."""
    return [s.path for s in range_slices(table, topic, start, end)]


def scan_windows(table: Table, start: Position, end: Position) -> tuple[tuple[int | None, int], ...]:
    """Snapshot scans that together cover the files of (start, end], for an engine that reads through
    Iceberg's own scans (Spark) and keeps the range's files (and rows) out of them: (after, up_to) is the
    incremental scan of the appends in (after, up_to]; (None, up_to) the table's content as of up_to.

    A first range (and the rest of its base) is read as of its end (no maintenance snapshot lies between).
    A range that starts inside a snapshot reads from that snapshot's parent (table maintenance keeps it);
    were the parent gone, that snapshot's content is read as of itself, then the appends after it."""
    if start.snapshot_id is None or start.base:
        return ((None, end.snapshot_id),)
    if start.whole:
        return ((start.snapshot_id, end.snapshot_id),)
    snapshot = table.snapshot_by_id(start.snapshot_id)
    parent = snapshot.parent_snapshot_id if snapshot is not None else None
    if parent is not None and table.snapshot_by_id(parent) is not None:
        return ((parent, end.snapshot_id),)
    windows: tuple[tuple[int | None, int], ...] = ((None, start.snapshot_id),)
    if end.snapshot_id != start.snapshot_id:
        windows += ((start.snapshot_id, end.snapshot_id),)
    return windows


def consumed_through(table: Table | None, position: Position) -> int | None:
    """The newest snapshot of `table` a position has consumed entirely: the snapshot itself when whole,
    else its parent (None inside a first range's base). What "is there new data" compares with the head."""
    if position.whole or position.base or table is None:
        return position.snapshot_id if position.whole else None
    snapshot = table.snapshot_by_id(position.snapshot_id)
    return snapshot.parent_snapshot_id if snapshot is not None else None


def _unit_rows(snapshot: Snapshot, base: bool) -> int:
    """The rows a position's count refers to: the snapshot's whole content for a base, else what it added."""
    return _total_rows(snapshot) if base else _added_rows(snapshot)


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


def records_up_to(table: Table, position: Position) -> int:
    """Rows of an append-only table a reader has consumed up to `position`: the table's records as of the
    position's snapshot, less the rows of that snapshot it has not read yet."""
    if position.snapshot_id is None:
        return 0
    snapshot = table.snapshot_by_id(position.snapshot_id)
    if snapshot is None:
        return 0
    unread = 0 if position.whole else _unit_rows(snapshot, position.base) - (position.rows or 0)
    return _total_rows(snapshot) - unread


def rows_added_after(table: Table, position: Position) -> int:
    """Rows a table's snapshots added after `position` (its changes a downstream has not read), the unread
    rows of the position's own snapshot included; maintenance snapshots add none."""
    total = 0
    for snapshot in ancestors(table):
        if snapshot.snapshot_id == position.snapshot_id:
            return total + (0 if position.whole else _unit_rows(snapshot, position.base) - (position.rows or 0))
        total += _added_rows(snapshot)
    return total


__all__ = ["FileSlice", "SourceFile", "added_files", "ancestors", "base_files", "consumed_through",
           "current_snapshot_id", "data_head_id", "is_maintenance", "next_range", "range_files", "range_slices",
           "records_up_to", "rows_added_after", "scan_windows", "snapshots_after"]
