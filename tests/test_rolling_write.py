"""The rolling writer (leanops.catalog.rolling_write through `StagedAppend(roll_at_bytes=...)`): rows written
in many small batches land in one file per partition (rolled at the size limit) holding exactly the rows,
row order, partition records and column statistics PyIceberg's own append writes; and an ingest writes
RAW in files of about the target size, so the next run finds no maintenance due."""
from __future__ import annotations

import io
import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan

from leanops.catalog import rolling_write
from leanops.catalog.commit import StagedAppend
from leanops.ingest import ingest_stream
from leanops.maintenance.run import due_reasons
from leanops.stages.incremental import added_files
from test_partitioned_write import SPECS, _by_partition, _catalog, _files, _rows, _table

BIG = 1 << 40  # never rolls


def _staged_in_batches(table, rows: pa.Table, batch: int, roll_at_bytes: int) -> StagedAppend:
    staged = StagedAppend(table, roll_at_bytes=roll_at_bytes)
    for start in range(0, rows.num_rows, batch):
        staged.write(rows.slice(start, batch))
    return staged


def _stats(data_file) -> tuple:
    return (data_file.record_count, data_file.lower_bounds, data_file.upper_bounds, data_file.null_value_counts,
            data_file.value_counts, data_file.nan_value_counts)


@pytest.mark.parametrize("name", ["day", "day_x_bucket", "identity_string", "truncate_decimal_x_month"])
def test_many_batches_make_what_one_pyiceberg_append_makes(tmp_path, monkeypatch, name):
    monkeypatch.setattr(rolling_write, "MAX_OPEN_FILES", 1000)  # one open file for each of ~80 partitions
    catalog = _catalog(tmp_path)
    ours, theirs = _table(catalog, f"{name}_ours", SPECS[name]), _table(catalog, f"{name}_pyiceberg", SPECS[name])
    rows = _rows(1200)  # 4 days, nulls in the partition columns
    _staged_in_batches(ours, rows, batch=100, roll_at_bytes=BIG).commit({"test": "1"})
    theirs.append(rows)

    mine, reference = _by_partition(ours), _by_partition(theirs)
    assert mine.keys() == reference.keys() and len(mine) > 1
    for partition, expected in reference.items():
        assert mine[partition] == expected, partition  # same rows, same order within the partition
    # one file per partition, as PyIceberg's single append, with its partition records and statistics
    by_partition = {tuple(f.partition): f for f in _files(ours)}
    assert len(by_partition) == len(_files(ours))
    for theirs_file in _files(theirs):
        assert _stats(by_partition[tuple(theirs_file.partition)]) == _stats(theirs_file)
        assert by_partition[tuple(theirs_file.partition)].spec_id == theirs_file.spec_id


def test_files_roll_at_the_size_limit_and_keep_the_order(tmp_path):
    table = _table(_catalog(tmp_path), "day", SPECS["day"])
    rows = _rows(2000, null_every=0)
    limit = 6_000
    staged = _staged_in_batches(table, rows, batch=100, roll_at_bytes=limit)
    snapshot_id = staged.commit({"test": "1"})

    files = _files(table)
    days = Counter(tuple(f.partition) for f in files)
    assert len(days) == 5 and all(count > 1 for count in days.values())  # each day rolled
    # a file is closed before the next slice would pass the limit: all but the last of a day stay
    # within one batch's misestimate of it, and none is near a file per batch (20 per day)
    assert all(count < 20 for count in days.values())
    assert all(f.file_size_in_bytes < 2 * limit for f in files)
    assert sum(f.record_count for f in files) == 2000
    # ingestion order (commit, file, row): each day's rows in input order across its rolled files
    tasks = {task.file.file_path.removeprefix("file://"): task for task in table.scan().plan_files()}
    scan = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue())
    seq_by_file = [(tuple(tasks[path].file.partition), scan.to_table([tasks[path]])["seq"].to_pylist())
                   for path in (p.removeprefix("file://") for p in added_files(table, [snapshot_id]))]
    assert len(seq_by_file) == len(files)
    assert sorted(s for _, seqs in seq_by_file for s in seqs) == list(range(2000))
    for day in days:
        day_seqs = [s for partition, seqs in seq_by_file if partition == day for s in seqs]
        assert day_seqs == sorted(day_seqs)
    firsts = [seqs[0] for _, seqs in seq_by_file]
    assert firsts == sorted(firsts)  # files listed in the order of their first row


def test_no_commit_leaves_the_table_unchanged(tmp_path):
    table = _table(_catalog(tmp_path), "day", SPECS["day"])
    table.append(_rows(10))
    before = table.current_snapshot().snapshot_id
    staged = _staged_in_batches(table, _rows(500), batch=100, roll_at_bytes=3_000)
    del staged  # the process dies before commit: files were written, nothing refers to them
    table.refresh()
    assert table.current_snapshot().snapshot_id == before
    assert table.scan().to_arrow().num_rows == 10


def test_a_schema_change_between_writes_starts_new_files(tmp_path):
    table = _table(_catalog(tmp_path), "day", SPECS["day"])
    rows = _rows(400, null_every=0)
    staged = StagedAppend(table, roll_at_bytes=BIG)
    staged.write(rows.slice(0, 200))
    staged.add_string_columns(["extra"])
    later = rows.slice(200).append_column("extra", pa.array(["x"] * 200))
    staged.write(later)
    staged.commit({"test": "1"})
    table.refresh()
    out = table.scan().to_arrow().sort_by("seq")
    assert out["seq"].to_pylist() == list(range(400))
    assert out["extra"].to_pylist() == [None] * 200 + ["x"] * 200


def _envelopes(count: int, days: int) -> bytes:
    start = datetime(2026, 1, 19, tzinfo=timezone.utc)
    return b"".join(json.dumps({
        "message_id": f"m{i}", "payload": {"id": i, "note": "x" * (i % 50)},
        "publish_time": (start + timedelta(days=i % days, seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }).encode() + b"\n" for i in range(count))


def test_an_ingest_writes_one_file_per_day_and_no_maintenance_is_due(ctx):
    settings = ctx.settings.model_copy(update={"ingest_batch_lines": 5_000})
    report = ingest_stream(ctx.lake, ctx.state, settings, "orders", io.BytesIO(_envelopes(50_000, days=2)),
                           "in.ndjson")
    assert report.accepted == 50_000 and report.rejected == 0
    raw = ctx.lake.raw_table("orders")
    files = _files(raw)
    assert len(files) == 2  # one per day, not one per 5,000-line batch per day
    assert sorted(f.record_count for f in files) == [25_000, 25_000]
    assert raw.scan().to_arrow().num_rows == 50_000
    assert len(raw.metadata.snapshots) == 1  # one commit per ingest
    assert not [reason for reason in due_reasons(ctx, "orders", ctx.settings.maintenance)
                if reason.startswith("raw.")]


def test_open_files_stay_bounded_over_many_partitions(tmp_path, monkeypatch):
    """Past `MAX_OPEN_FILES` partitions the least recently written file is closed: more files, same rows
    in the same order per partition."""
    monkeypatch.setattr(rolling_write, "MAX_OPEN_FILES", 2)
    catalog = _catalog(tmp_path)
    table, reference = _table(catalog, "day", SPECS["day"]), _table(catalog, "day_ref", SPECS["day"])
    rows = _rows(1000, days=5, null_every=0)  # 6 days with the 22:00 start
    staged = StagedAppend(table, roll_at_bytes=BIG)
    for start in range(0, rows.num_rows, 100):
        staged.write(rows.slice(start, 100))
        assert len(staged._rolling._open) <= 2
    staged.commit({"test": "1"})
    reference.append(rows)
    assert _by_partition(table) == _by_partition(reference)
    assert len(_files(table)) > len(_files(reference))
