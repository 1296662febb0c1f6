"""Which files a table's snapshots reach, and deleting files that nothing reaches any more.

    paths = reachable(table, table.snapshots())   # manifest lists, manifests, live data and delete files
    count, size = delete_quietly(table.io, sorted(unreferenced))
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

from pyiceberg.io import FileIO
from pyiceberg.manifest import ManifestFile
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from leanops.catalog.inventory import read_entries

log = logging.getLogger(__name__)


def reachable(table: Table, snapshots: Iterable[Snapshot]) -> set[str]:
    """Every file the snapshots need: their manifest lists, manifests, and the files live in each.

    Each distinct manifest is read once, however many snapshots share it."""
    found: set[str] = set()
    manifests: dict[str, ManifestFile] = {}
    for snapshot in snapshots:
        found.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            manifests.setdefault(manifest.manifest_path, manifest)
    found.update(manifests)
    for entries in read_entries(table, list(manifests.values())):
        found.update(entry.data_file.file_path for entry in entries)
    return found


def delete_quietly(io: FileIO, paths: list[str]) -> tuple[int, int]:
    """Delete files (gone already is fine); returns (files deleted, bytes). Failures are logged, not raised:
    whatever is left is found again by the next orphan sweep."""
    def one(path: str) -> int:
        try:
            size = len(io.new_input(path))
        except (FileNotFoundError, OSError):
            return -1
        try:
            io.delete(path)
        except FileNotFoundError:
            return -1
        except OSError as exc:
            log.warning("could not delete %s: %s", path, exc)
            return -1
        return size

    if not paths:
        return 0, 0
    with ThreadPoolExecutor(8) as pool:
        sizes = [s for s in pool.map(one, paths) if s >= 0]
    return len(sizes), sum(sizes)


__all__ = ["delete_quietly", "reachable"]
