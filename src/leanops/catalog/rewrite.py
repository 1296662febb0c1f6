"""One `replace` snapshot that swaps files for equivalent ones: compaction and manifest rewrites.

    commit_rewrite(table, removed=[...], added=[...], summary={...})             # compaction
    commit_rewrite(table, removed=[], added=[], summary={...}, regroup=True)     # manifests only

PyIceberg has no rewrite operation (its overwrite removes data files only, never delete files, and
writes `overwrite` snapshots that incremental readers treat as changes). This producer:
  - removes the given data AND delete files (manifest entries DELETED), adds the new files;
  - keeps every other live entry with its sequence numbers, rewriting only the manifests that lost an
    entry — or all of them into a few (`regroup`: the "rewrite manifests" action);
  - commits with operation `replace`, which every reader of lean-ops skips (no rows added or removed:
    leanops.stages.incremental), with the totals carried over so accountability's live counts hold;
  - on a lost race (another writer committed first) is rebuilt on the new head by PyIceberg's retry,
    after `_validate_concurrency` checks that no file it removes was removed meanwhile and that no
    delete file landed in a partition it rewrites (a row deleted meanwhile must stay deleted).
"""
from __future__ import annotations

from collections import defaultdict

from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.manifest import DataFile, DataFileContent, ManifestContent, ManifestEntry, ManifestEntryStatus, \
    ManifestFile
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Operation, SnapshotSummaryCollector, Summary, update_snapshot_summaries
from pyiceberg.table.update.snapshot import _SnapshotProducer

from leanops.catalog.row_delta import _DeleteManifestWriter
from leanops.errors import CommitConflictError

MAX_ENTRIES_PER_MANIFEST = 20_000  # ~8 MB of Avro: the size Iceberg's manifest target aims at


class _Rewrite(_SnapshotProducer["_Rewrite"]):
    def __init__(self, table: Table, txn, removed: list[DataFile], added: list[DataFile],
                 snapshot_properties: dict[str, str], regroup: bool) -> None:
        super().__init__(Operation.REPLACE, txn, table.io, snapshot_properties=snapshot_properties)
        self._removed_paths = {f.file_path for f in removed}
        self._removed_files = list(removed)
        self._added_files = list(added)
        self._regroup = regroup
        self._rewritten_partitions = {(f.spec_id, tuple(f.partition)) for f in removed}

    # -- manifests ------------------------------------------------------------------------
    def _parent(self):
        if self._parent_snapshot_id is None:
            return None
        return self._transaction.table_metadata.snapshot_by_id(self._parent_snapshot_id)

    def _deleted_entries(self) -> list[ManifestEntry]:
        return []  # written by _manifests itself

    def _existing_manifests(self) -> list[ManifestFile]:
        return []

    def _manifests(self) -> list[ManifestFile]:
        parent = self._parent()
        kept: list[ManifestFile] = []
        carried: dict[tuple[ManifestContent, int], list[ManifestEntry]] = defaultdict(list)
        found = set()
        for manifest in parent.manifests(self._io) if parent else []:
            entries = manifest.fetch_manifest_entry(self._io, discard_deleted=True)
            hit = [e for e in entries if e.data_file.file_path in self._removed_paths]
            if not hit and not self._regroup:
                kept.append(manifest)
                continue
            for entry in entries:
                removed = entry.data_file.file_path in self._removed_paths
                if removed:
                    found.add(entry.data_file.file_path)
                status = ManifestEntryStatus.DELETED if removed else ManifestEntryStatus.EXISTING
                carried[(manifest.content, manifest.partition_spec_id)].append(ManifestEntry.from_args(
                    status=status, snapshot_id=self._snapshot_id if removed else entry.snapshot_id,
                    sequence_number=entry.sequence_number, file_sequence_number=entry.file_sequence_number,
                    data_file=entry.data_file))
        missing = self._removed_paths - found
        if missing:
            raise ValidationException(f"files to replace are no longer live: {sorted(missing)[:3]}")
        written = self._write_added()
        for (content, spec_id), entries in sorted(carried.items(), key=lambda kv: (kv[0][0].value, kv[0][1])):
            for start in range(0, len(entries), MAX_ENTRIES_PER_MANIFEST):
                written.append(self._write(content, spec_id, entries[start:start + MAX_ENTRIES_PER_MANIFEST]))
        return written + kept

    def _write_added(self) -> list[ManifestFile]:
        by_kind: dict[tuple[ManifestContent, int], list[ManifestEntry]] = defaultdict(list)
        for data_file in self._added_files:
            content = ManifestContent.DATA if data_file.content == DataFileContent.DATA else ManifestContent.DELETES
            by_kind[(content, data_file.spec_id)].append(ManifestEntry.from_args(
                status=ManifestEntryStatus.ADDED, snapshot_id=self._snapshot_id, sequence_number=None,
                file_sequence_number=None, data_file=data_file))
        return [self._write(content, spec_id, entries) for (content, spec_id), entries in by_kind.items()]

    def _write(self, content: ManifestContent, spec_id: int, entries: list[ManifestEntry]) -> ManifestFile:
        spec = self.spec(spec_id)
        if content == ManifestContent.DELETES:
            writer = _DeleteManifestWriter(spec, self.schema(), self.new_manifest_output(), self._snapshot_id,
                                           self._compression)
        else:
            writer = self.new_manifest_writer(spec)
        with writer:
            for entry in entries:
                writer.add_entry(entry)
        return writer.to_manifest_file()

    # -- summary --------------------------------------------------------------------------
    def _summary(self, snapshot_properties: dict[str, str] | None = None) -> Summary:
        metadata = self._transaction.table_metadata
        schema, specs = metadata.schema(), metadata.specs()
        collector = SnapshotSummaryCollector()
        for data_file in self._added_files:
            collector.add_file(data_file, schema, specs[data_file.spec_id])
        for data_file in self._removed_files:
            collector.remove_file(data_file, schema, specs[data_file.spec_id])
        parent = self._parent()
        totals = update_snapshot_summaries(Summary(Operation.OVERWRITE, **collector.build()),
                                           previous_summary=parent.summary if parent else None)
        props = {k: v for k, v in totals.additional_properties.items()}
        props.update(snapshot_properties or self.snapshot_properties)
        return Summary(Operation.REPLACE, **props)

    # -- concurrency ----------------------------------------------------------------------
    def _validate_concurrency(self) -> None:
        """Refuse to rebuild on a head where a removed file is gone or a delete landed in our partitions."""
        window = self._commit_window
        if window is None or window.is_empty():
            return
        metadata = self._transaction.table_metadata
        snapshot, stop = window.head, window.base.snapshot_id if window.base else None
        while snapshot is not None and snapshot.snapshot_id != stop:
            for manifest in snapshot.manifests(self._io):
                if manifest.added_snapshot_id != snapshot.snapshot_id:
                    continue
                for entry in manifest.fetch_manifest_entry(self._io, discard_deleted=False):
                    path = entry.data_file.file_path
                    if entry.status == ManifestEntryStatus.DELETED and path in self._removed_paths:
                        raise ValidationException(f"{path} was removed by a concurrent commit")
                    if (entry.status == ManifestEntryStatus.ADDED and entry.data_file.content != DataFileContent.DATA
                            and (entry.data_file.spec_id, tuple(entry.data_file.partition)) in self._rewritten_partitions):
                        raise ValidationException(f"a concurrent commit added delete file {path} to a rewritten "
                                                  "partition")
            parent_id = snapshot.parent_snapshot_id
            snapshot = metadata.snapshot_by_id(parent_id) if parent_id is not None else None


def commit_rewrite(table: Table, removed: list[DataFile], added: list[DataFile], summary: dict[str, str],
                   regroup: bool = False) -> int:
    """Commit one `replace` snapshot; returns its id. A conflict that cannot be rebuilt raises
    CommitConflictError (nothing committed; the written files are left for the orphan sweep)."""
    txn = table.transaction()
    producer = _Rewrite(table, txn, removed, added, summary, regroup)
    try:
        producer.commit()
        txn.commit_transaction()
    except (CommitFailedException, ValidationException) as exc:
        raise CommitConflictError(str(table.name()), str(exc)) from exc
    return producer.snapshot_id


__all__ = ["commit_rewrite"]
