"""Partitioned writes through StagedAppend (leanops.catalog.partitioned_write) hold exactly the rows, the
partition values and the in-partition row order that PyIceberg's own append writes, for every transform
lean-ops' `partition_by` offers, with nulls in the partition columns."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import AlwaysTrue, And, EqualTo, GreaterThanOrEqual, IsNull, LessThan
from pyiceberg.io.pyarrow import ArrowScan, _determine_partitions
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import DateType, DecimalType, LongType, NestedField, StringType, TimestamptzType

from leanops.catalog.commit import StagedAppend
from leanops.catalog.partitioned_write import split_by_partition
from leanops.catalog.partitioning import partition_spec

SCHEMA = Schema(
    NestedField(1, "seq", LongType(), required=False),  # the input row number: checks row order
    NestedField(2, "key", StringType(), required=False),
    NestedField(3, "event_ts", TimestamptzType(), required=False),
    NestedField(4, "amount", DecimalType(18, 2), required=False),
    NestedField(5, "day", DateType(), required=False),
    NestedField(6, "n", LongType(), required=False),
)
ARROW = SCHEMA.as_arrow()

SPECS = {
    "day": ["day(event_ts)"],
    "bucket": ["bucket(16, key)"],
    "day_x_bucket": ["day(event_ts)", "bucket(16, key)"],
    "identity_string": ["key"],
    "identity_date": ["day"],
    "truncate_string": ["truncate(2, key)"],
    "truncate_long": ["truncate(10, n)"],
    "truncate_decimal_x_month": ["truncate(10000, amount)", "month(event_ts)"],
}


def _rows(count: int, days: int = 4, keys: int = 40, null_every: int = 7) -> pa.Table:
    """Rows whose partition columns cycle through values out of order, with a null every `null_every` rows."""
    start = datetime(2026, 1, 19, 22, tzinfo=timezone.utc)
    out = {name: [] for name in ARROW.names}
    for i in range(count):
        null = null_every and i % null_every == 3
        out["seq"].append(i)
        out["key"].append(None if null else f"k{(i * 7919) % keys:03d}")
        out["event_ts"].append(None if null and i % 2 else start + timedelta(hours=(i * 13) % (24 * days)))
        out["amount"].append(None if null else Decimal(f"{(i * 37) % 1000 - 500}.25"))
        out["day"].append(None if null else date(2026, 1, 1) + timedelta(days=(i * 3) % days))
        out["n"].append(None if null else (i * 31) % 97 - 40)
    return pa.table(out, schema=ARROW)


def _catalog(tmp_path) -> SqlCatalog:
    catalog = SqlCatalog("t", uri=f"sqlite:///{tmp_path}/catalog.db", warehouse=f"file://{tmp_path}/wh")
    catalog.create_namespace("ns")
    return catalog


def _table(catalog: SqlCatalog, name: str, entries: list[str]) -> Table:
    return catalog.create_table(f"ns.{name}", schema=SCHEMA, partition_spec=partition_spec(entries, SCHEMA))


def _files(table: Table) -> list:
    return [task.file for task in table.scan().plan_files()]


def _by_partition(table: Table) -> dict[tuple, list[dict]]:
    """Each data file's rows (in file order), grouped by the file's partition record."""
    out: dict[tuple, list[dict]] = {}
    for task in table.scan().plan_files():
        rows = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue()).to_table([task])
        out.setdefault(tuple(task.file.partition), []).extend(rows.to_pylist())
    return out


def _write_both(tmp_path, name: str, rows: pa.Table) -> tuple[Table, Table]:
    catalog = _catalog(tmp_path)
    ours, theirs = _table(catalog, f"{name}_ours", SPECS[name]), _table(catalog, f"{name}_pyiceberg", SPECS[name])
    staged = StagedAppend(ours)
    staged.write(rows)
    staged.commit({"test": "1"})
    theirs.append(rows)
    return ours, theirs


@pytest.mark.parametrize("name", sorted(SPECS))
def test_rows_partitions_and_order_match_pyiceberg_append(tmp_path, name):
    rows = _rows(600)
    ours, theirs = _write_both(tmp_path, name, rows)

    mine, reference = _by_partition(ours), _by_partition(theirs)
    assert mine.keys() == reference.keys()
    assert len(mine) > 1
    for partition, expected in reference.items():
        assert mine[partition] == expected, partition  # same rows, same order within the partition
        seqs = [r["seq"] for r in mine[partition]]
        assert seqs == sorted(seqs)  # input order kept
    assert sorted(r["seq"] for part in mine.values() for r in part) == list(range(600))
    # the manifests carry PyIceberg's partition records, and one file per partition
    assert Counter(tuple(f.partition) for f in _files(ours)) == Counter(tuple(f.partition) for f in _files(theirs))
    assert sum(f.record_count for f in _files(ours)) == 600


@pytest.mark.parametrize("name", sorted(SPECS))
def test_split_matches_pyiceberg_partition_keys(tmp_path, name):
    """Same partition keys (the PartitionKey records and paths PyIceberg builds) and the same rows per key."""
    table = _table(_catalog(tmp_path), name, SPECS[name])
    rows = _rows(300)
    mine = {key.partition: part for key, part in split_by_partition(table.metadata, rows)}
    theirs = {p.partition_key.partition: p.arrow_table_partition
              for p in _determine_partitions(table.spec(), table.schema(), rows)}
    assert mine.keys() == theirs.keys()
    for partition, part in theirs.items():
        assert mine[partition].to_pylist() == part.to_pylist()


def test_partitions_come_in_order_of_first_appearance(tmp_path):
    table = _table(_catalog(tmp_path), "day", SPECS["day"])
    ts = [datetime(2026, 1, d, tzinfo=timezone.utc) for d in (5, 3, 5, 9, 3, 1)]
    rows = pa.table({"seq": list(range(6)), "event_ts": ts}).cast(
        pa.schema([ARROW.field("seq"), ARROW.field("event_ts")]))
    rows = pa.table({name: rows[name] if name in rows.column_names else pa.nulls(6, ARROW.field(name).type)
                     for name in ARROW.names}, schema=ARROW)
    parts = split_by_partition(table.metadata, rows)
    assert [part["seq"].to_pylist() for _, part in parts] == [[0, 2], [1, 4], [3], [5]]


def test_scan_with_a_partition_filter_reads_back_the_partition(tmp_path):
    rows = _rows(500)
    ours, _ = _write_both(tmp_path, "day_x_bucket", rows)
    day = datetime(2026, 1, 20, tzinfo=timezone.utc)
    wanted = [r["seq"] for r in rows.to_pylist()
              if r["event_ts"] is not None and day <= r["event_ts"] < day + timedelta(days=1)]
    next_day = day + timedelta(days=1)
    scan = ours.scan(row_filter=And(GreaterThanOrEqual("event_ts", day.isoformat()),
                                    LessThan("event_ts", next_day.isoformat())))
    assert len(list(scan.plan_files())) < len(_files(ours))  # pruned by the partition values
    assert sorted(scan.to_arrow()["seq"].to_pylist()) == sorted(wanted) and wanted
    nulls = ours.scan(row_filter=IsNull("event_ts"))
    assert sorted(nulls.to_arrow()["seq"].to_pylist()) == [r["seq"] for r in rows.to_pylist() if r["event_ts"] is None]
    key = "k007"
    assert sorted(ours.scan(row_filter=EqualTo("key", key)).to_arrow()["seq"].to_pylist()) == [
        r["seq"] for r in rows.to_pylist() if r["key"] == key]


def test_no_rows_one_partition_and_many_partitions(tmp_path):
    catalog = _catalog(tmp_path)
    empty = _table(catalog, "empty", SPECS["day_x_bucket"])
    staged = StagedAppend(empty)
    staged.write(ARROW.empty_table())
    assert staged.files == [] and staged.rows == 0

    one = _table(catalog, "one", SPECS["day_x_bucket"])
    rows = _rows(50, keys=1, null_every=0)
    same_day = pa.array([datetime(2026, 1, 20, 5, tzinfo=timezone.utc)] * 50, ARROW.field("event_ts").type)
    rows = rows.set_column(rows.schema.get_field_index("event_ts"), ARROW.field("event_ts"), same_day)
    staged = StagedAppend(one)
    staged.write(rows)
    staged.commit({"test": "1"})
    assert len(_files(one)) == 1
    assert one.scan().to_arrow()["seq"].to_pylist() == list(range(50))

    many = _table(catalog, "many", ["n"])
    rows = _rows(2000, null_every=0)
    staged = StagedAppend(many)
    staged.write(rows.slice(0, 1000))
    staged.write(rows.slice(1000))  # two writes of one commit: files of each, task ids continue
    staged.commit({"test": "1"})
    files = _files(many)
    assert len(files) == 2 * 97 and len({f.file_path for f in files}) == len(files)
    assert sorted(many.scan().to_arrow()["seq"].to_pylist()) == list(range(2000))
    for f in files:
        assert f.partition[0] is not None and f.record_count > 0


def test_chunked_input_groups_across_chunks(tmp_path):
    """A table of many chunks (as concatenated batches arrive) still gives one file per partition."""
    table = _table(_catalog(tmp_path), "day_x_bucket", SPECS["day_x_bucket"])
    rows = _rows(400)
    chunked = pa.concat_tables([rows.slice(i, 50) for i in range(0, 400, 50)])
    assert chunked["key"].num_chunks == 8
    parts = split_by_partition(table.metadata, chunked)
    assert len({key.partition for key, _ in parts}) == len(parts)
    assert sorted(s for _, part in parts for s in part["seq"].to_pylist()) == list(range(400))


def test_commit_lists_partition_files_in_order_of_first_row(tmp_path):
    """What Standardized reads as ingestion order (commit, file, row: `stages.incremental.added_files`)
    keeps each partition's rows in input order and ranks partitions by their first row."""
    import pyarrow.parquet as pq

    from leanops.stages.incremental import added_files
    table = _table(_catalog(tmp_path), "day", SPECS["day"])
    days = [5, 3, 5, 9, 3, 1, 9, 5]
    rows = pa.table({name: pa.nulls(len(days), ARROW.field(name).type) for name in ARROW.names}, schema=ARROW)
    rows = rows.set_column(0, ARROW.field("seq"), pa.array(range(len(days)), pa.int64()))
    rows = rows.set_column(2, ARROW.field("event_ts"), pa.array(
        [datetime(2026, 1, d, 12, tzinfo=timezone.utc) for d in days], ARROW.field("event_ts").type))
    staged = StagedAppend(table)
    staged.write(rows.slice(0, 6))
    staged.write(rows.slice(6))  # a second batch of the same commit: its files follow the first batch's
    snapshot = staged.commit({"test": "1"})
    files = added_files(table, [snapshot])
    assert [pq.read_table(f)["seq"].to_pylist() for f in files] == [[0, 2], [1, 4], [3], [5], [6], [7]]
