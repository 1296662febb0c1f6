"""Data files of about a target size from many small writes: one open Parquet file per partition,
rolled to a new file when the next write would take it past the target.

Why: an ingest writes RAW batch by batch (memory stays bounded by a batch); a file per batch made ten
~20 MB files per day out of a million lines, and the next run compacted them straight away. Here each
batch's partition slices are appended as row groups to their partition's open file, so a load writes
files of about the maintenance target (`MaintenancePolicy.target_bytes`, the size compaction packs
towards) and holds no more than the batch being written.

Rolling: before a slice is written, its compressed size is estimated from the open file's own ratio of
Parquet bytes to Arrow bytes; if the file already holds rows and the slice would take it past the
target, the file is closed and the slice starts the next one. A file is therefore at most the target
plus one slice's misestimate, and every file of a partition but its last is within one slice of the
target: with slices of one batch (~20 MB for 100,000 RAW lines) and the 128 MiB target, above the
96 MiB below which maintenance calls a file small. A slice is never split. At most
`MAX_OPEN_FILES` files are open at once (file handles; an object store buffers a part per open
upload): a write to yet another partition first closes the least recently written file, so a backfill
over many days costs more files for the days it returns to, never unbounded handles or memory.

Everything about a file is PyIceberg's: the names (`WriteTask`), the location provider (partitioned
paths), the Arrow schema with Iceberg field ids (`_to_requested_schema`), the Parquet writer with the
table's compression and row-group properties and the statistics read from the writer's own footer
metadata (`ParquetFormatModel`'s writer, as `write_file` uses), and the table's FileIO, so object
stores work too. The partition record is the `PartitionKey` the rows were grouped by
(`partitioned_write.split_by_partition`), as in PyIceberg's write.

Order: within a partition the rows keep their input order across writes. `finish` lists the files in
the order of their first row in the input (write number, then the partition's first appearance in that
write), so a partition's rolled files stay in sequence and, as with `partitioned_write`, readers
that take ingestion order as (file, row) order see each partition exactly in input order.
"""
from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.io import FileIO, OutputFile, OutputStream
from pyiceberg.io.fileformat import FileFormatFactory, FileFormatWriter
from pyiceberg.io.pyarrow import _to_requested_schema, pyarrow_to_schema
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.partitioning import PartitionKey
from pyiceberg.schema import sanitize_column_names
from pyiceberg.table import DOWNCAST_NS_TIMESTAMP_TO_US_ON_WRITE, WriteTask
from pyiceberg.table.locations import load_location_provider
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.typedef import Record
from pyiceberg.utils.config import Config

from leanops.catalog.partitioned_write import split_by_partition


MAX_OPEN_FILES = 32


class _MeasuredOutput(OutputFile):
    """An OutputFile that keeps the stream it creates, so the bytes written so far can be read."""

    def __init__(self, inner: OutputFile) -> None:
        super().__init__(inner.location)
        self._inner = inner
        self.stream: OutputStream | None = None

    def __len__(self) -> int:
        return len(self._inner)

    def exists(self) -> bool:
        return self._inner.exists()

    def to_input_file(self):
        return self._inner.to_input_file()

    def create(self, overwrite: bool = False) -> OutputStream:
        self.stream = self._inner.create(overwrite=overwrite)
        return self.stream


@dataclass
class _OpenFile:
    """A data file being written: where, for which partition, and how much it holds."""

    path: str
    output: _MeasuredOutput
    writer: FileFormatWriter
    partition_key: PartitionKey | None
    schema_id: int
    first_row: tuple[int, int]  # (write number, partition's place in that write): the file order
    arrow_bytes: int = 0
    rows: int = 0

    @property
    def file_bytes(self) -> int:
        return self.output.stream.tell() if self.output.stream is not None else 0


class RollingWriter:
    """Appends rows to one open data file per partition, rolling at `target_file_bytes`.

    `write` may be called many times; `finish` closes every file and returns the DataFiles in input
    order. Not thread-safe: one thread writes (the ingest's writer thread)."""

    def __init__(self, io: FileIO, target_file_bytes: int) -> None:
        self.io = io
        self.target_file_bytes = target_file_bytes
        self.max_open_files = MAX_OPEN_FILES
        self._uuid = uuid.uuid4()
        self._counter = itertools.count(0)
        self._writes = itertools.count(0)
        self._open: dict[tuple, _OpenFile] = {}  # by partition record, least recently written first
        self._done: list[tuple[tuple[int, int], DataFile]] = []
        self._format = FileFormatFactory.get(FileFormat.PARQUET)

    def write(self, table_metadata: TableMetadata, rows: pa.Table) -> None:
        """Append `rows` (Arrow, the table's columns) to their partitions' open files."""
        if rows.num_rows == 0:
            return
        write_number = next(self._writes)
        schema = table_metadata.schema()
        if any(f.schema_id != schema.schema_id for f in self._open.values()):  # evolved: new files
            for key in list(self._open):
                self._close(self._open.pop(key), table_metadata)
        partitions = ([(None, rows)] if table_metadata.spec().is_unpartitioned()
                      else split_by_partition(table_metadata, rows))
        downcast = self._downcast()
        rows_schema = pyarrow_to_schema(rows.schema, name_mapping=schema.name_mapping,
                                        downcast_ns_timestamp_to_us=downcast,
                                        format_version=table_metadata.format_version)
        file_schema = self._file_schema(table_metadata)
        for place, (partition_key, part) in enumerate(partitions):
            slot = tuple(partition_key.partition) if partition_key is not None else ()
            current = self._open.pop(slot, None)  # re-inserted below: most recently written last
            if current is not None and self._would_overflow(current, part.nbytes):
                self._close(current, table_metadata)
                current = None
            if current is None:
                while len(self._open) >= self.max_open_files:
                    self._close(self._open.pop(next(iter(self._open))), table_metadata)
                current = self._new_file(table_metadata, partition_key, (write_number, place))
            self._open[slot] = current
            batches = [_to_requested_schema(requested_schema=file_schema, file_schema=rows_schema, batch=batch,
                                            downcast_ns_timestamp_to_us=downcast, include_field_ids=True,
                                            format_model=self._format)
                       for batch in part.to_batches()]
            current.writer.write(pa.Table.from_batches(batches))
            current.arrow_bytes += part.nbytes
            current.rows += part.num_rows

    def finish(self, table_metadata: TableMetadata) -> list[DataFile]:
        """Close every open file; all files written, in the order of their first input row."""
        for key in list(self._open):
            self._close(self._open.pop(key), table_metadata)
        files = [data_file for _, data_file in sorted(self._done, key=lambda done: done[0])]
        self._done.clear()
        return files

    def _would_overflow(self, current: _OpenFile, arrow_bytes: int) -> bool:
        if current.rows == 0:
            return False
        ratio = current.file_bytes / current.arrow_bytes if current.arrow_bytes else 1.0
        return current.file_bytes + arrow_bytes * ratio > self.target_file_bytes

    def _new_file(self, table_metadata: TableMetadata, partition_key: PartitionKey | None,
                  first_row: tuple[int, int]) -> _OpenFile:
        schema = table_metadata.schema()
        task = WriteTask(write_uuid=self._uuid, task_id=next(self._counter), record_batches=[],
                         partition_key=partition_key, schema=schema)
        locations = load_location_provider(table_location=table_metadata.location,
                                           table_properties=table_metadata.properties)
        path = locations.new_data_location(data_file_name=task.generate_data_file_filename(
            self._format.file_extension()), partition_key=partition_key)
        output = _MeasuredOutput(self.io.new_output(path))
        writer = self._format.create_writer(output, self._file_schema(table_metadata), table_metadata.properties)
        return _OpenFile(path=path, output=output, writer=writer, partition_key=partition_key,
                         schema_id=schema.schema_id, first_row=first_row)

    def _close(self, current: _OpenFile, table_metadata: TableMetadata) -> None:
        statistics = current.writer.close()
        self._done.append((current.first_row, DataFile.from_args(
            content=DataFileContent.DATA,
            file_path=current.path,
            file_format=FileFormat.PARQUET,
            partition=current.partition_key.partition if current.partition_key else Record(),
            file_size_in_bytes=len(current.output),
            sort_order_id=None,
            spec_id=table_metadata.default_spec_id,
            equality_ids=None,
            key_metadata=None,
            **statistics.to_serialized_dict())))

    @staticmethod
    def _file_schema(table_metadata: TableMetadata):
        return sanitize_column_names(table_metadata.schema())

    @staticmethod
    def _downcast() -> bool:
        return Config().get_bool(DOWNCAST_NS_TIMESTAMP_TO_US_ON_WRITE) or False


__all__ = ["RollingWriter"]
