"""One Iceberg commit that adds data files AND position-delete files: a merge-on-read row delta.

This is how the Curated MERGE scales with the batch rather than the table: replaced rows are not
rewritten with their data files, they are marked deleted by (file, position) in small delete files,
and the new versions are appended — all in one snapshot that also carries the checkpoint. Readers
(PyIceberg, Spark, Trino, Snowflake, Athena) apply position deletes as the Iceberg v2 spec says.

PyIceberg writes position deletes for no public API yet, so this module adds the missing piece on
its snapshot producer: a manifest of content DELETES beside the data manifest.
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.conversions import to_bytes
from pyiceberg.manifest import (
    DataFile, DataFileContent, FileFormat, ManifestContent, ManifestEntry, ManifestEntryStatus, ManifestFile,
    ManifestWriterV2,
)
from pyiceberg.table import Table, Transaction
from pyiceberg.table.snapshots import Operation, Summary
from pyiceberg.table.update.snapshot import _FastAppendFiles
from pyiceberg.types import LongType, StringType

PATH_FIELD_ID = 2147483546  # reserved ids of the position-delete schema (Iceberg spec)
POS_FIELD_ID = 2147483545
_DELETE_SCHEMA = pa.schema([
    pa.field("file_path", pa.string(), nullable=False, metadata={b"PARQUET:field_id": str(PATH_FIELD_ID).encode()}),
    pa.field("pos", pa.int64(), nullable=False, metadata={b"PARQUET:field_id": str(POS_FIELD_ID).encode()}),
])


class _DeleteManifestWriter(ManifestWriterV2):
    def content(self) -> ManifestContent:
        return ManifestContent.DELETES

    @property
    def _meta(self) -> dict[str, str]:
        return {**super()._meta, "content": "deletes"}


class _RowDelta(_FastAppendFiles):
    """Fast append of data files plus a delete manifest for position-delete files."""

    def __init__(self, transaction: Transaction, io, snapshot_properties: dict[str, str], deletes: list[DataFile]):
        operation = Operation.OVERWRITE if deletes else Operation.APPEND
        super().__init__(operation, transaction, io, snapshot_properties=snapshot_properties)
        self._added_delete_files = deletes

    def _manifests(self) -> list[ManifestFile]:
        manifests = super()._manifests()
        if not self._added_delete_files:
            return manifests
        writer = _DeleteManifestWriter(self._transaction.table_metadata.spec(), self.schema(),
                                       self.new_manifest_output(), self._snapshot_id, self._compression)
        with writer:
            for delete_file in self._added_delete_files:
                writer.add(ManifestEntry.from_args(status=ManifestEntryStatus.ADDED, snapshot_id=self._snapshot_id,
                                                   sequence_number=None, file_sequence_number=None,
                                                   data_file=delete_file))
        return [writer.to_manifest_file(), *manifests]

    def _summary(self, snapshot_properties: dict[str, str]) -> Summary:
        data_files = self._added_data_files
        self._added_data_files = data_files + self._added_delete_files  # the collector counts both kinds
        try:
            return super()._summary(snapshot_properties)
        finally:
            self._added_data_files = data_files


def write_position_deletes(table: Table, targets: dict[str, tuple[DataFile, Sequence[int]]]) -> list[DataFile]:
    """One delete file per partition touched: `targets` maps data-file path -> (its DataFile, row positions).

    A v2 position-delete file may name many data files of its partition; rows are sorted by
    (file_path, pos) as the spec asks, and the path bounds span the files it names. One file per
    touched data file (the old layout) made a MERGE write ~100 tiny delete files per cycle.
    """
    by_partition: dict[tuple, list[tuple[str, DataFile, Sequence[int]]]] = {}
    for path, (data_file, positions) in targets.items():
        key = (data_file.spec_id, tuple(data_file.partition))
        by_partition.setdefault(key, []).append((path, data_file, positions))
    return [_write_delete_file(table, sorted(group, key=lambda g: g[0])) for _, group in sorted(
        by_partition.items(), key=lambda item: repr(item[0]))]


def _write_delete_file(table: Table, group: list[tuple[str, DataFile, Sequence[int]]]) -> DataFile:
    paths, positions = [], []
    for path, _, rows in group:
        ordered = sorted(rows)
        paths.extend([path] * len(ordered))
        positions.extend(ordered)
    rows = pa.Table.from_arrays([pa.array(paths, pa.string()), pa.array(positions, pa.int64())],
                                schema=_DELETE_SCHEMA)
    location = f"{table.location()}/data/leanops-deletes-{uuid.uuid4().hex}.parquet"
    output = table.io.new_output(location)
    with output.create(overwrite=True) as stream:
        pq.write_table(rows, stream)
    first = group[0][1]
    delete_file = DataFile.from_args(
        content=DataFileContent.POSITION_DELETES, file_path=location, file_format=FileFormat.PARQUET,
        partition=first.partition, record_count=len(positions),
        file_size_in_bytes=len(table.io.new_input(location)), spec_id=first.spec_id,
        lower_bounds={PATH_FIELD_ID: to_bytes(StringType(), paths[0]), POS_FIELD_ID: to_bytes(LongType(), min(positions))},
        upper_bounds={PATH_FIELD_ID: to_bytes(StringType(), paths[-1]), POS_FIELD_ID: to_bytes(LongType(), max(positions))},
        value_counts={PATH_FIELD_ID: len(positions), POS_FIELD_ID: len(positions)},
        null_value_counts={PATH_FIELD_ID: 0, POS_FIELD_ID: 0},
    )
    delete_file.spec_id = first.spec_id  # from_args does not bind it (it is not a manifest field)
    return delete_file


def commit_row_delta(txn: Transaction, io, data_files: list[DataFile], delete_files: list[DataFile],
                     summary: dict[str, str]) -> None:
    """Stage one snapshot with the new data files and the delete files on `txn` (commit it after)."""
    producer = _RowDelta(txn, io, summary, delete_files)
    for data_file in data_files:
        producer.append_data_file(data_file)
    producer.commit()
