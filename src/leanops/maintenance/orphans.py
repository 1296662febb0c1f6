"""The orphan sweep: files under a table's location that no table metadata references any more.

    report = sweep(lake, table, older_than_hours=24)

Where they come from: runs killed before their commit (their data files), expired snapshots whose
files were not deleted (a crash after the expiry commit, or snapshots expired by another tool),
metadata.json files older than the kept versions. Only files older than the safety age are removed:
a run in flight writes its files before it commits them.

A table's directory can hold another table's files: a rebuild renames `curated.<t>` to an archive,
which keeps its location, and the new `curated.<t>` gets the same default location. So the files
referenced by every table of the namespace whose location overlaps are kept.
"""
from __future__ import annotations

import dataclasses
import time
from urllib.parse import urlparse

from pyiceberg.table import Table

from leanops.catalog import rollups
from leanops.catalog.side_lists import PREFIX
from leanops.catalog.tables import local_path
from leanops.maintenance.reach import delete_quietly, reachable


@dataclasses.dataclass
class OrphanReport:
    files_seen: int = 0
    orphans: int = 0
    files_deleted: int = 0
    bytes_deleted: int = 0
    skipped: str = ""  # why the sweep did not run
    sample: list[str] = dataclasses.field(default_factory=list)  # a few of the orphans, for people

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def sweep(catalog, table: Table, older_than_hours: float, dry_run: bool = False) -> OrphanReport:
    report = OrphanReport()
    listed = _list(table)
    if listed is None:
        report.skipped = f"cannot list {table.location()} with this FileIO"
        return report
    report.files_seen = len(listed)
    keep = set()
    for other in sharing_location(catalog, table):
        keep |= {_norm(p) for p in referenced(other)}
    cutoff = time.time() - older_than_hours * 3600
    orphans = sorted(uri for path, (uri, mtime) in listed.items() if path not in keep and mtime < cutoff)
    report.orphans, report.sample = len(orphans), orphans[:5]
    if orphans and not dry_run:
        report.files_deleted, report.bytes_deleted = delete_quietly(table.io, orphans)
    return report


def referenced(table: Table) -> set[str]:
    """Every file the table's metadata names: snapshots' files, metadata.json versions, side lists."""
    table.refresh()
    found = reachable(table, table.snapshots())
    found.add(table.metadata_location)
    found.update(entry.metadata_file for entry in table.metadata.metadata_log)
    for snapshot in table.snapshots():
        for value in (snapshot.summary.additional_properties if snapshot.summary else {}).values():
            if isinstance(value, str) and value.startswith(PREFIX):
                found.add(value[len(PREFIX):])
    found |= rollups.side_files(table)
    for stats in list(table.metadata.statistics) + list(getattr(table.metadata, "partition_statistics", []) or []):
        found.add(stats.statistics_path)
    return found


def sharing_location(catalog, table: Table) -> list[Table]:
    """The table and every table of its namespace whose location is, contains or sits inside its own."""
    mine = table.location().rstrip("/")
    namespace = table.name()[:-1]
    tables = [table]
    for ident in catalog.list_tables(namespace):
        if tuple(ident) == tuple(table.name()):
            continue
        other = catalog.load_table(ident)
        theirs = other.location().rstrip("/")
        if theirs == mine or theirs.startswith(mine + "/") or mine.startswith(theirs + "/"):
            tables.append(other)
    return tables


def _norm(uri: str) -> str:
    """One spelling per file: `file:///p`, `file:/p` and `/p` are the same local file."""
    return local_path(uri) if uri.startswith("file:") or uri.startswith("/") else uri


def _list(table: Table) -> dict[str, tuple[str, float]] | None:
    """normalised path -> (URI to delete, modification time in epoch seconds) under the table location."""
    from pyarrow import fs as pafs
    location = table.location()
    parsed = urlparse(location)
    scheme = parsed.scheme or "file"
    io = table.io
    if not hasattr(io, "fs_by_scheme"):
        return None
    filesystem = io.fs_by_scheme(scheme, parsed.netloc)
    base = local_path(location) if scheme == "file" else f"{parsed.netloc}{parsed.path}"
    try:
        infos = filesystem.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    except OSError:
        return None
    found = {}
    for info in infos:
        if info.type != pafs.FileType.File:
            continue
        uri = info.path if scheme == "file" else f"{scheme}://{info.path}"
        mtime = info.mtime.timestamp() if info.mtime is not None else time.time()
        found[_norm(uri)] = (uri, mtime)
    return found


__all__ = ["OrphanReport", "referenced", "sharing_location", "sweep"]
