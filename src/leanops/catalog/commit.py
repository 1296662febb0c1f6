"""Commits: staged multi-batch appends with a checkpoint summary, and retried appends to shared tables."""
from __future__ import annotations

import itertools
import uuid
import warnings

import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.expressions import EqualTo
from pyiceberg.table import Table
from pyiceberg.types import StringType
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from leanops.catalog.partitioned_write import data_files
from leanops.catalog.rolling_write import RollingWriter
from leanops.errors import CommitConflictError
from leanops.faults import fault_point

# Curated tables carry the bloom-filter property for the engines that honour it (Spark); PyIceberg's
# writer does not, and says so on every file it writes (from worker threads, so catch_warnings around
# the call cannot silence it). docs/curated.md records the limitation once.
warnings.filterwarnings("ignore", message=r"Parquet writer option\(s\) .*bloom-filter.* not implemented",
                        category=UserWarning)


@retry(retry=retry_if_exception_type(CommitFailedException), wait=wait_random_exponential(0.05, 2),
       stop=stop_after_attempt(8), reraise=True)
def _append(table: Table, rows: pa.Table | pa.RecordBatchReader, summary: dict[str, str]) -> None:
    table.refresh()
    table.append(rows, snapshot_properties=summary)


def append_with_retry(table: Table, rows: pa.Table, summary: dict[str, str]) -> None:
    """Append to a table other topics also write (DLQ, error tables): a lost race is retried.

    Appends never conflict logically, so re-applying on the refreshed table is always correct.
    """
    try:
        _append(table, rows, summary)
    except CommitFailedException as exc:
        raise CommitConflictError(str(table.name()), str(exc)) from exc


@retry(retry=retry_if_exception_type((CommitFailedException, ValidationException)),
       wait=wait_random_exponential(0.05, 2), stop=stop_after_attempt(8), reraise=True)
def _remove(table: Table, topic: str, keys: pa.Table, summary: dict[str, str]) -> int:
    table.refresh()
    topic_filter = EqualTo("topic_name", topic)
    rows = table.scan(row_filter=topic_filter).to_arrow()
    keep = rows.join(keys.cast(rows.select(keys.column_names).schema), keys.column_names, join_type="left anti")
    if keep.num_rows == rows.num_rows:
        return 0
    if keep.num_rows == 0:
        table.delete(topic_filter, snapshot_properties=summary)
    else:
        table.overwrite(keep.select(rows.column_names), overwrite_filter=topic_filter, snapshot_properties=summary)
    return rows.num_rows - keep.num_rows


def remove_rows(table: Table, topic: str, keys: pa.Table, summary: dict[str, str]) -> int:
    """Delete a topic's rows of a shared table (an error table) whose `keys` columns match a row of `keys`.

    The topic's rows are rewritten without the matching ones, under a plain topic filter: PyIceberg
    binds an `In` filter once per manifest, which costs seconds for a few thousand keys. A lost race
    (another writer committed meanwhile; PyIceberg's conflict validation names the files it added) is
    retried from a fresh scan, so their rows are kept. Returns the rows removed.
    """
    if keys.num_rows == 0:
        return 0
    try:
        return _remove(table, topic, keys, summary)
    except (CommitFailedException, ValidationException) as exc:
        raise CommitConflictError(str(table.name()), str(exc)) from exc


class StagedAppend:
    """Data files written batch by batch, committed as ONE snapshot carrying a summary (the checkpoint).

    Memory stays bounded by one batch; nothing is visible until `commit`, so a crash leaves the table
    as it was (the written files are unreferenced and removed by orphan-file cleanup).

        staged = StagedAppend(table)
        for batch in batches:
            staged.add_string_columns(new_names)
            staged.write(batch)
        staged.commit({"leanops.source-snapshot-id": "123"})

    With `roll_at_bytes` the writes go to one open file per partition, rolled at about that size
    (`rolling_write.RollingWriter`): many small batches make files of the target size instead of a
    file per batch per partition. Without it, each `write` writes its own files (`partitioned_write`).
    """

    def __init__(self, table: Table, roll_at_bytes: int | None = None) -> None:
        self.table = table
        self.txn = table.transaction()
        self.files: list = []
        self.rows = 0
        self._uuid = uuid.uuid4()
        self._counter = itertools.count(0)
        self._rolling = RollingWriter(table.io, roll_at_bytes) if roll_at_bytes else None

    @property
    def arrow_schema(self) -> pa.Schema:
        return self.txn.table_metadata.schema().as_arrow()

    def missing_columns(self, names: list[str]) -> list[str]:
        existing = {f.name for f in self.txn.table_metadata.schema().fields}
        return [n for n in names if n not in existing]

    def add_string_columns(self, names: list[str]) -> list[str]:
        """Add the columns the table lacks (optional strings, sorted by name); returns those added."""
        new = sorted(self.missing_columns(names))
        if new:
            with self.txn.update_schema() as update:
                for name in new:
                    update.add_column(name, StringType())
        return new

    def write(self, rows: pa.Table) -> None:
        """Write `rows` as data files of the transaction's table (one pass over the rows per write,
        `partitioned_write`); within a partition the rows keep their order."""
        if rows.num_rows == 0:
            return
        if self._rolling is not None:
            self._rolling.write(self.txn.table_metadata, rows)
            self.rows += rows.num_rows
            return
        self.files.extend(data_files(table_metadata=self.txn.table_metadata, rows=rows, io=self.table.io,
                                     write_uuid=self._uuid, counter=self._counter))
        self.rows += rows.num_rows

    def add_data_files(self, files: list) -> None:
        """Files written by another writer (e.g. DuckDB COPY) against this transaction's schema."""
        self.files.extend(files)
        self.rows += sum(f.record_count for f in files)

    def commit(self, summary: dict[str, str], delete_files: list | None = None) -> int:
        """Commit every written file (and position-delete files) in one snapshot; returns its id."""
        from leanops.catalog.row_delta import commit_row_delta
        if self._rolling is not None:  # its files first: they hold the rows written through `write`
            self.files[:0] = self._rolling.finish(self.txn.table_metadata)
        commit_row_delta(self.txn, self.table.io, self.files, delete_files or [], summary)
        fault_point("before-commit")  # the data files are written, nothing refers to them yet
        try:
            self.txn.commit_transaction()
        except CommitFailedException as exc:
            raise CommitConflictError(str(self.table.name()), str(exc)) from exc
        return self.table.current_snapshot().snapshot_id


def conform(rows: pa.Table, target: pa.Schema) -> pa.Table:
    """Arrow rows in the target's column order and types; columns the rows lack are null."""
    arrays = []
    for field in target:
        if field.name in rows.column_names:
            arrays.append(rows.column(field.name).cast(field.type))
        else:
            arrays.append(pa.nulls(rows.num_rows, field.type))
    return pa.Table.from_arrays(arrays, schema=target)
