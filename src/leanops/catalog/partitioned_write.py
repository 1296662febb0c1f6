"""Data files of a partitioned table in one pass over the rows: each partition transform computed once,
rows grouped by one stable sort, each partition written from a zero-copy slice.

PyIceberg's own writer (`pyiceberg.io.pyarrow._determine_partitions`) filters the whole Arrow table
once per partition: a Curated batch over 16 day x bucket partitions paid 16 full-table filters, most
of its write time. Here the partition tuple of every row becomes one dense group id (dictionary
encoding of each transformed column), the rows are taken once in group order and each group is a
slice. Everything else is PyIceberg's: the transforms (`Transform.pyarrow_transform`, bucket and the
time transforms from pyiceberg-core), `PartitionKey`, `WriteTask`, the bin-packing to the target file
size and `write_file` (file names, field ids, column statistics), so the files are those PyIceberg
would write, holding the same rows.

Order: within a partition the rows keep their input order (stable sort), so a file's row positions
follow the input. Partitions are written in the order their first row appears in the input, so the
files of a write list the earliest rows' partition first (the readers' ingestion order across
partitions is file order: docs/standardized.md).
"""
from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.io import FileIO
from pyiceberg.io.pyarrow import (
    _dataframe_to_data_files, _get_field_from_arrow_table, bin_pack_arrow_table, pyarrow_to_schema, write_file,
)
from pyiceberg.manifest import DataFile
from pyiceberg.partitioning import PartitionFieldValue, PartitionKey
from pyiceberg.table import DOWNCAST_NS_TIMESTAMP_TO_US_ON_WRITE, TableProperties, WriteTask
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.utils.config import Config
from pyiceberg.utils.properties import property_as_int


def data_files(table_metadata: TableMetadata, rows: pa.Table, io: FileIO, write_uuid: uuid.UUID,
               counter: itertools.count) -> Iterator[DataFile]:
    """Write `rows` as data files of the table's current spec (PyIceberg's writer for an unpartitioned one)."""
    spec = table_metadata.spec()
    if spec.is_unpartitioned() or rows.num_rows == 0:
        yield from _dataframe_to_data_files(table_metadata=table_metadata, df=rows, io=io,
                                            write_uuid=write_uuid, counter=counter)
        return
    partitions = split_by_partition(table_metadata, rows)
    task_schema = pyarrow_to_schema(rows.schema, name_mapping=table_metadata.schema().name_mapping,
                                    downcast_ns_timestamp_to_us=Config().get_bool(DOWNCAST_NS_TIMESTAMP_TO_US_ON_WRITE)
                                    or False, format_version=table_metadata.format_version)
    target_file_size = property_as_int(table_metadata.properties, TableProperties.WRITE_TARGET_FILE_SIZE_BYTES,
                                       TableProperties.WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT)
    yield from write_file(io=io, table_metadata=table_metadata, tasks=(
        WriteTask(write_uuid=write_uuid, task_id=next(counter), record_batches=batches, partition_key=key,
                  schema=task_schema)
        for key, part in partitions
        for batches in bin_pack_arrow_table(part, target_file_size)))


def split_by_partition(table_metadata: TableMetadata, rows: pa.Table) -> list[tuple[PartitionKey, pa.Table]]:
    """(partition key, its rows) of every partition `rows` touch, in order of first appearance.

    Each partition's rows are a slice of one reordered copy of `rows`, in their input order."""
    spec, schema = table_metadata.spec(), table_metadata.schema()
    values = []  # each partition field's transformed column
    for field in spec.fields:
        name = schema.find_column_name(field.source_id)
        if name is None:
            raise ValueError(f"Could not find column name for field ID: {field.source_id}")
        source = _get_field_from_arrow_table(rows, name)
        values.append(field.transform.pyarrow_transform(schema.find_field(field.source_id).field_type)(source))
    groups = _group_ids(values)
    order = pc.sort_indices(groups)  # stable: a partition's rows stay in input order
    tally = pc.value_counts(groups)
    counts = tally.field("counts").take(pc.sort_indices(tally.field("values")))  # by group id
    starts = pc.subtract(pc.cumulative_sum(counts), counts)
    first_rows = order.take(starts)
    firsts = [column.take(first_rows).to_pylist() for column in values]
    keys = [_partition_key(table_metadata, list(key)) for key in zip(*firsts, strict=True)]
    if len(keys) == 1:
        return [(keys[0], rows)]
    ordered = rows.take(order)
    return [(key, ordered.slice(start, count))
            for key, start, count in zip(keys, starts.to_pylist(), counts.to_pylist(), strict=True)]


def _group_ids(columns: list[pa.ChunkedArray | pa.Array]) -> pa.Array:
    """A dense id per row for its tuple of values (nulls included), numbered by first appearance."""
    ids = None
    for column in columns:
        if isinstance(column, pa.ChunkedArray):  # one array, so one dictionary for all rows
            column = column.combine_chunks()
        encoded = pc.dictionary_encode(column, null_encoding="encode")
        codes = encoded.indices.cast(pa.int64())
        ids = codes if ids is None else pc.add(pc.multiply(ids, len(encoded.dictionary)), codes)
        # renumber after each column, so the combined code stays below the row count
        ids = pc.dictionary_encode(ids).indices.cast(pa.int64())
    return ids


def _partition_key(table_metadata: TableMetadata, values: list) -> PartitionKey:
    spec = table_metadata.spec()
    return PartitionKey(field_values=[PartitionFieldValue(field=field, value=value)
                                      for field, value in zip(spec.fields, values, strict=True)],
                        partition_spec=spec, schema=table_metadata.schema())
