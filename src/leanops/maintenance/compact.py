"""Compaction: bin-pack a table's small data files, apply position deletes, tidy the delete files.

    plans = plan_compaction(table, inv, policy, horizon=None)
    report = compact(table, plans, order=("idempotency_key",), summary={...})

Per partition:
  - data files below the small-file size (`policy.small_bytes`) and files a delete removes rows from
    (a small one, or one that lost at least DELETE_RATIO of its rows) are rewritten, in bins of about
    `policy.target_bytes`, one new file per bin, deleted rows left out;
  - the partition's delete files are replaced by at most one, holding only rows that still apply to a
    live file that was not rewritten (Iceberg's rewrite_position_delete_files), whenever one of them
    named a rewritten or vanished file or the partition holds more than one;
  - only files with a data sequence number up to `horizon` are touched (None: all) — the files every
    downstream reader has consumed (docs/maintenance.md, "Incremental reads").
Everything lands in ONE `replace` commit (leanops.catalog.rewrite): a crash before it leaves the table
as it was (the new files are orphans for the sweep), and readers see the same rows before and after.
Rows keep their order (ingestion order: file sequence, then position) unless `order` names columns
(Curated and Semantic sort by the merge key, so a lookup by key reads few row groups).
"""
from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from typing import Iterable

import pyarrow as pa
from pyiceberg.io.pyarrow import ParquetFormatWriter
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.table import Table

from leanops import duck
from leanops.catalog.files import is_local, read_arrow, read_by_field_id_sql
from leanops.catalog.inventory import Inventory, LiveFile
from leanops.catalog.rewrite import commit_rewrite
from leanops.catalog.row_delta import _write_delete_file
from leanops.catalog.tables import local_path
from leanops.helper_columns import FILE, POS
from leanops.maintenance.policy import MaintenancePolicy
from leanops.stages.checkpoint import fault_point

DELETE_RATIO = 0.1  # a big file is rewritten for its deletes once they remove this share of its rows
SORTED_ROW_GROUP_ROWS = 131_072  # key-sorted files: row groups small enough for a lookup to skip most


@dataclasses.dataclass
class PartitionPlan:
    key: tuple
    bins: list[list[LiveFile]]  # each bin becomes one new data file
    deletes: list[LiveFile]  # the partition's delete files, replaced by at most one (empty: untouched)


@dataclasses.dataclass
class CompactionReport:
    partitions: int = 0
    data_files_removed: int = 0
    data_files_added: int = 0
    delete_files_removed: int = 0
    delete_files_added: int = 0
    rows_written: int = 0
    deleted_rows_applied: int = 0
    bytes_removed: int = 0
    bytes_added: int = 0
    snapshot_id: int | None = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def plan_compaction(table: Table, inv: Inventory, policy: MaintenancePolicy,
                    horizon: int | None) -> list[PartitionPlan]:
    """What to rewrite, partition by partition (nothing when the layout is already tidy)."""
    deleted = deleted_rows_per_file(table, inv.deletes)
    live = {f.path for f in inv.data}
    deletes_by = inv.deletes_by_partition()
    plans = []
    for key, files in sorted(inv.data_by_partition().items(), key=lambda kv: repr(kv[0])):
        eligible = sorted((f for f in files if horizon is None or f.sequence_number <= horizon),
                          key=lambda f: (f.sequence_number, f.path))
        bins = _tiered_bins(eligible, policy, deleted)
        rewritten = {f.path for b in bins for f in b}
        part_deletes = deletes_by.get(key, [])
        stale = any(path in rewritten or path not in live for path in _named_files(table, part_deletes))
        tidy_deletes = part_deletes if part_deletes and (stale or len(part_deletes) > 1) else []
        if bins or tidy_deletes:
            plans.append(PartitionPlan(key, bins, tidy_deletes))
    return plans


SMALLEST_TIER = 256 * 1024  # no tier below this: merging files smaller than a few hundred KB is cheap


def size_tiers(policy: MaintenancePolicy) -> list[int]:
    """Upper bounds of the small-file tiers: ..., target/F^2, target/F, the small-file size (F =
    max_files_per_partition), from the first bound of at least SMALLEST_TIER. A file at or above the
    last bound is not small."""
    fan = max(2, policy.max_files_per_partition)
    bounds, bound = {policy.small_bytes}, policy.target_bytes // fan
    while bound >= SMALLEST_TIER:
        bounds.add(bound)
        bound //= fan
    return sorted(b for b in bounds if b <= policy.small_bytes)


def _tier(size: int, bounds: list[int]) -> int | None:
    for i, bound in enumerate(bounds):
        if size < bound:
            return i
    return None


def _tiered_bins(files: list[LiveFile], policy: MaintenancePolicy, deleted: dict[str, int]) -> list[list[LiveFile]]:
    """Size-tiered merging: files are rewritten with others of their size, not with bigger ones.

    A tier holding two files (a merge from below landing in it counts) is merged, from the smallest
    tier up; tiers are `max_files_per_partition` times apart. So a file is rewritten about once per tier
    it climbs, a compacted file is not rewritten every time a few rows arrive (the cost follows the new
    data, not the partition), and a partition keeps about one file per tier. Files with deletes are
    rewritten too (in their tier's merge, or alone once the deletes remove DELETE_RATIO of their rows).
    Simulated, a partition fed 30 KB per cycle, compacted every third cycle for 400 cycles, holds at
    most 7 files (5 at the end) and writes each byte about 6 times.
    """
    bounds = size_tiers(policy)
    tiers: dict[int, list[LiveFile]] = {}
    for f in files:
        tier = _tier(f.data_file.file_size_in_bytes, bounds)
        if tier is not None:
            tiers.setdefault(tier, []).append(f)
    merges: list[list[LiveFile]] = []
    pending: list[LiveFile] = []  # files merged below, landing in a higher tier
    for tier in range(len(bounds)):
        members = tiers.get(tier, [])
        landing = pending and _tier(sum(f.data_file.file_size_in_bytes for f in pending), bounds) == tier
        count = len(members) + (1 if landing else 0)
        if count >= 2:
            pending = sorted(pending + members, key=lambda f: (f.sequence_number, f.path))
            continue
        if pending:
            merges.append(pending)
            pending = []
    if pending:
        merges.append(pending)
    chosen = {f.path for m in merges for f in m}
    for f in files:  # a file losing many rows to deletes is rewritten alone
        if f.path not in chosen and deleted.get(f.path, 0) >= max(1, DELETE_RATIO * f.data_file.record_count):
            merges.append([f])
    bins = [b for m in merges for b in _bins(m, policy.target_bytes, deleted)]
    return bins


def _bins(files: list[LiveFile], target: int, deleted: dict[str, int]) -> list[list[LiveFile]]:
    """Consecutive files (in data order) packed up to `target` bytes; a lone clean file is left alone."""
    bins, current, size = [], [], 0
    for f in files:
        if current and size + f.data_file.file_size_in_bytes > target:
            bins.append(current)
            current, size = [], 0
        current.append(f)
        size += f.data_file.file_size_in_bytes
    if current:
        bins.append(current)
    return [b for b in bins if len(b) > 1 or deleted.get(b[0].path)]


def deleted_rows_per_file(table: Table, deletes: Iterable[LiveFile]) -> dict[str, int]:
    """Data-file path (as the manifests spell it) -> rows the live position deletes remove from it."""
    rows = _delete_rows(table, list(deletes))
    return dict(Counter(rows["file_path"].to_pylist())) if rows.num_rows else {}


def _named_files(table: Table, deletes: list[LiveFile]) -> set[str]:
    rows = _delete_rows(table, deletes)
    return set(rows["file_path"].to_pylist()) if rows.num_rows else set()


def _delete_rows(table: Table, deletes: list[LiveFile]) -> pa.Table:
    """(file_path, pos, delete_seq) of position-delete files; equality deletes are never written here."""
    parts = []
    for f in deletes:
        if f.data_file.content != DataFileContent.POSITION_DELETES:
            raise ValueError(f"{table.name()}: equality delete file {f.path}: lean-ops compacts position "
                             "deletes only; compact this table with Spark's rewrite_data_files")
        got = _read_delete_file(table, f.path)
        parts.append(got.append_column("delete_seq", pa.repeat(pa.scalar(f.sequence_number, pa.int64()),
                                                                got.num_rows)))
    if not parts:
        return pa.table({"file_path": pa.array([], pa.string()), "pos": pa.array([], pa.int64()),
                         "delete_seq": pa.array([], pa.int64())})
    return pa.concat_tables(parts)


_DELETE_CACHE: dict[str, pa.Table] = {}


def _read_delete_file(table: Table, path: str) -> pa.Table:
    """A delete file's (file_path, pos); files never change, so one read per process is enough."""
    if path not in _DELETE_CACHE:
        if len(_DELETE_CACHE) > 4096:
            _DELETE_CACHE.clear()
        rows = read_arrow([path], table.io, ["file_path", "pos"])
        _DELETE_CACHE[path] = rows.select(["file_path", "pos"]).cast(pa.schema([("file_path", pa.string()),
                                                                                ("pos", pa.int64())]))
    return _DELETE_CACHE[path]


# -- execution ----------------------------------------------------------------------------------
def compact(table: Table, plans: list[PartitionPlan], order: tuple[str, ...], summary: dict[str, str],
            spill_dir=None) -> CompactionReport:
    """Carry out `plans` in one replace commit (see the module docstring)."""
    report = CompactionReport(partitions=len(plans))
    removed: list[DataFile] = []
    added: list[DataFile] = []
    with duck.connect(spill_dir) as con:
        for plan in plans:
            deletes = _delete_rows(table, plan.deletes)
            rewritten: set[str] = set()
            for files in plan.bins:
                new_file, applied = _rewrite_bin(con, table, files, deletes, order)
                expected = sum(f.data_file.record_count for f in files) - applied
                if new_file is not None and new_file.record_count != expected:
                    raise AssertionError(f"{table.name()}: compaction wrote {new_file.record_count} rows, "
                                         f"expected {expected}; nothing committed")
                removed += [f.data_file for f in files]
                added += [new_file] if new_file is not None else []
                rewritten |= {f.path for f in files}
                report.deleted_rows_applied += applied
                report.rows_written += expected
            if plan.deletes:
                removed += [f.data_file for f in plan.deletes]
                kept = _kept_delete_rows(table, deletes, rewritten)
                if kept:
                    added.append(_write_delete_file(table, kept))
    report.data_files_removed = sum(1 for f in removed if f.content == DataFileContent.DATA)
    report.delete_files_removed = len(removed) - report.data_files_removed
    report.data_files_added = sum(1 for f in added if f.content == DataFileContent.DATA)
    report.delete_files_added = len(added) - report.data_files_added
    report.bytes_removed = sum(f.file_size_in_bytes for f in removed)
    report.bytes_added = sum(f.file_size_in_bytes for f in added)
    if removed:
        fault_point("before-compaction-commit")
        report.snapshot_id = commit_rewrite(table, removed, added, summary)
        fault_point("after-compaction-commit")
    return report


def _kept_delete_rows(table: Table, deletes: pa.Table, rewritten: set[str]) -> list:
    """Delete rows that still apply: to a live data file not rewritten now. Grouped for the writer."""
    live = {f.data_file.file_path: f.data_file for f in _live_data(table)}
    groups: dict[str, tuple[DataFile, set[int]]] = {}
    for path, pos in zip(deletes["file_path"].to_pylist(), deletes["pos"].to_pylist()):
        if path in rewritten or path not in live:
            continue
        groups.setdefault(path, (live[path], set()))[1].add(pos)
    return [(path, data_file, sorted(positions)) for path, (data_file, positions) in sorted(groups.items())]


def _live_data(table: Table) -> list[LiveFile]:
    from leanops.catalog.inventory import inventory
    return list(inventory(table).data)


def _rewrite_bin(con, table: Table, files: list[LiveFile], deletes: pa.Table,
                 order: tuple[str, ...]) -> tuple[DataFile | None, int]:
    """The bin's live rows in one new data file; returns it (None when every row was deleted) and the
    number of deleted rows left out."""
    schema = table.schema()
    names = [f.name for f in schema.fields]
    order_sql = ", ".join(f'"{c}"' for c in order if c in names) if order else ""
    con.execute("DROP TABLE IF EXISTS bin_files").fetchall()
    con.execute("CREATE TEMP TABLE bin_files (path VARCHAR, idx BIGINT, seq BIGINT, n BIGINT)").fetchall()
    uris = [f.path for f in files]
    paths = [local_path(u) if is_local(u) else u for u in uris]
    con.execute("INSERT INTO bin_files SELECT unnest($1::VARCHAR[]), unnest($2::BIGINT[]), unnest($3::BIGINT[]), "
                "unnest($4::BIGINT[])", [paths, list(range(len(files))), [f.sequence_number for f in files],
                                         [f.data_file.record_count for f in files]]).fetchall()
    wanted = set(uris)
    mask = pa.compute.is_in(deletes["file_path"], pa.array(sorted(wanted), pa.string())) if deletes.num_rows else None
    bin_deletes = deletes.filter(mask) if mask is not None else deletes
    paths_of = dict(zip(uris, paths))
    bin_deletes = pa.table({"path": pa.array([paths_of[p] for p in bin_deletes["file_path"].to_pylist()], pa.string()),
                            "pos": bin_deletes["pos"], "delete_seq": bin_deletes["delete_seq"]})
    con.register("bin_deletes", bin_deletes)
    try:
        if all(is_local(u) for u in uris):
            source = read_by_field_id_sql(paths, schema)
        else:
            rows = read_arrow(uris, table.io, names)
            con.register("bin_remote", rows)
            source = "bin_remote"
        select = ", ".join(f'r."{n}"' for n in names)
        if bin_deletes.num_rows == 0 and not order_sql:
            # nothing to leave out, nothing to sort: the files' rows streamed in order (file list, then
            # row order: DuckDB keeps insertion order), so memory stays one batch whatever the bin's size
            query = f"SELECT {select} FROM {source} r"
        else:
            query = (f"SELECT {select} FROM {source} r JOIN bin_files f ON f.path = r.{FILE} "
                     f"WHERE NOT EXISTS (SELECT 1 FROM bin_deletes d WHERE d.path = r.{FILE} "
                     f"AND d.pos = r.{POS} AND d.delete_seq >= f.seq) "
                     f"ORDER BY {order_sql + ', ' if order_sql else ''}f.idx, r.{POS}")
        applied = _applied(con)
        new_file = _write(table, files[0].data_file, duck.arrow_batches(con, query, 65_536), bool(order_sql))
    finally:
        con.unregister("bin_deletes")
        if "bin_remote" in {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}:
            con.unregister("bin_remote")
    return new_file, applied


def _applied(con) -> int:
    """Rows the bin's deletes remove, from the delete rows alone: the rows written are then checked
    against the files' record counts minus this, before anything is committed."""
    return con.execute("SELECT count(DISTINCT (d.path, d.pos)) FROM bin_deletes d JOIN bin_files f "
                       "ON f.path = d.path WHERE d.delete_seq >= f.seq AND d.pos >= 0 AND d.pos < f.n"
                       ).fetchall()[0][0]


def _write(table: Table, like: DataFile, batches, sorted_rows: bool) -> DataFile | None:
    """Stream record batches into one Parquet data file of `like`'s partition, with Iceberg field ids."""
    schema = table.schema()
    target = schema.as_arrow()
    properties = dict(table.metadata.properties)
    if sorted_rows:
        properties.setdefault("write.parquet.row-group-limit", str(SORTED_ROW_GROUP_ROWS))
    location = f"{table.location()}/data/leanops-compact-{uuid.uuid4().hex}.parquet"
    output = table.io.new_output(location)
    writer = ParquetFormatWriter(output, schema, properties)
    rows = 0
    for batch in batches:
        if batch.num_rows:
            writer.write(pa.Table.from_batches([batch]).cast(target))
            rows += batch.num_rows
    if rows == 0:
        return None
    stats = writer.close()
    data_file = DataFile.from_args(content=DataFileContent.DATA, file_path=location, file_format=FileFormat.PARQUET,
                                   partition=like.partition, file_size_in_bytes=len(table.io.new_input(location)),
                                   sort_order_id=None, equality_ids=None, key_metadata=None,
                                   **stats.to_serialized_dict())
    data_file.spec_id = like.spec_id  # from_args does not bind it (it is not a manifest field)
    return data_file


__all__ = ["CompactionReport", "PartitionPlan", "compact", "deleted_rows_per_file", "plan_compaction"]
