"""What a snapshot holds: its live data files and delete files, each with its sequence numbers.

    inv = inventory(table)                     # the current snapshot
    for f in inv.data: f.data_file, f.sequence_number, f.snapshot_id
    inv.deletes_by_partition()                 # delete files grouped like the data they may apply to

PyIceberg's `plan_files()` also evaluates filters, residuals and matches every delete file to every
data file; maintenance, the MERGE's file pruning and the layout counts only need the manifest entries,
read once (manifests in parallel: each is one Avro file).
"""
from __future__ import annotations

import dataclasses
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from pyiceberg.manifest import DataFile, DataFileContent, ManifestContent, ManifestFile
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

READERS = 8  # manifests read at once (object stores answer in parallel)


@dataclasses.dataclass(frozen=True)
class LiveFile:
    """One live manifest entry: the file, the snapshot that added it and its sequence numbers."""

    data_file: DataFile
    snapshot_id: int | None  # the snapshot that added the file
    sequence_number: int  # data sequence number: position deletes with a greater-or-equal one apply
    manifest_path: str

    @property
    def path(self) -> str:
        return self.data_file.file_path

    @property
    def partition_key(self) -> tuple:
        """(spec id, partition values): files of one key share a partition."""
        return (self.data_file.spec_id, tuple(self.data_file.partition))


@dataclasses.dataclass(frozen=True)
class Inventory:
    snapshot: Snapshot | None
    manifests: tuple[ManifestFile, ...]
    data: tuple[LiveFile, ...]
    deletes: tuple[LiveFile, ...]  # position (and equality) delete files

    def deletes_by_partition(self) -> dict[tuple, list[LiveFile]]:
        grouped: dict[tuple, list[LiveFile]] = defaultdict(list)
        for f in self.deletes:
            grouped[f.partition_key].append(f)
        return grouped

    def data_by_partition(self) -> dict[tuple, list[LiveFile]]:
        grouped: dict[tuple, list[LiveFile]] = defaultdict(list)
        for f in self.data:
            grouped[f.partition_key].append(f)
        return grouped

    @property
    def partitions(self) -> int:
        return len({f.partition_key for f in self.data})


def inventory(table: Table, snapshot: Snapshot | None = None) -> Inventory:
    """The live files of `snapshot` (default: the table's current one), in manifest order."""
    snapshot = snapshot if snapshot is not None else table.current_snapshot()
    if snapshot is None:
        return Inventory(None, (), (), ())
    manifests = tuple(snapshot.manifests(table.io))
    entries = read_entries(table, manifests)
    data, deletes = [], []
    for manifest, found in zip(manifests, entries):
        for entry in found:
            item = LiveFile(entry.data_file, entry.snapshot_id, entry.sequence_number or 0, manifest.manifest_path)
            (data if entry.data_file.content == DataFileContent.DATA else deletes).append(item)
    return Inventory(snapshot, manifests, tuple(data), tuple(deletes))


CACHED_MANIFESTS = 1024  # manifests are immutable: their entries are read once per process


def read_entries(table: Table, manifests: tuple[ManifestFile, ...] | list[ManifestFile]) -> list[list]:
    """The live entries of each manifest (same order), read in parallel, cached by manifest path.

    Callers must not change the entries (they are shared)."""
    missing = [m for m in dict.fromkeys(manifests) if m.manifest_path not in _ENTRIES]
    if len(missing) == 1:
        _remember(missing[0], missing[0].fetch_manifest_entry(table.io, discard_deleted=True))
    elif missing:
        with ThreadPoolExecutor(min(READERS, len(missing))) as pool:
            for manifest, found in zip(missing, pool.map(
                    lambda m: m.fetch_manifest_entry(table.io, discard_deleted=True), missing)):
                _remember(manifest, found)
    return [_ENTRIES[m.manifest_path] if m.manifest_path in _ENTRIES
            else m.fetch_manifest_entry(table.io, discard_deleted=True) for m in manifests]


_ENTRIES: dict[str, list] = {}
_LOCK = threading.Lock()


def _remember(manifest: ManifestFile, entries: list) -> None:
    with _LOCK:
        if len(_ENTRIES) >= CACHED_MANIFESTS:
            _ENTRIES.pop(next(iter(_ENTRIES)))  # the oldest read goes first
        _ENTRIES[manifest.manifest_path] = entries


def is_delete_manifest(manifest: ManifestFile) -> bool:
    return manifest.content == ManifestContent.DELETES


__all__ = ["Inventory", "LiveFile", "inventory", "read_entries"]
