"""Parsed Iceberg metadata kept by file location, for the embedded SQL catalog.

A metadata.json file (and a manifest list) never changes once written: a new commit writes a new file
and moves the catalog's pointer. So a table whose pointer has not moved since it was last loaded or
committed in this process needs no read and no parse of its metadata again: loading it costs one
catalog query. An idle scheduled cycle loads every topic's four tables and checks their maintenance
state; without this each load re-parsed its metadata.json (about 3 ms) and each check re-read manifest
lists from disk.

    catalog = CachingSqlCatalog("leanops", uri=..., warehouse=...)   # a drop-in SqlCatalog
    manifest_count(table, snapshot)                                     # read once per manifest list
"""
from __future__ import annotations

import collections
import threading
from typing import Any, Callable, Generic, Hashable, TypeVar

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import CommitTableResponse, Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.snapshots import Snapshot

MAX_ENTRIES = 2048  # tables (and manifest lists) remembered: 4 tables x 500 topics

V = TypeVar("V")


class LruCache(Generic[V]):
    """A thread-safe, bounded map from an immutable file's location to what was read from it."""

    def __init__(self, size: int = MAX_ENTRIES) -> None:
        self._entries: collections.OrderedDict[Hashable, V] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def get_or_read(self, key: Hashable, read: Callable[[], V]) -> V:
        value = self.get(key)
        if value is None:
            value = read()
            self.put(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


METADATA: LruCache[TableMetadata] = LruCache()
MANIFEST_COUNTS: LruCache[int] = LruCache()


class CachingSqlCatalog(SqlCatalog):
    """PyIceberg's SQL catalog, remembering parsed metadata by location (what it loads and what it commits)."""

    def _convert_orm_to_iceberg(self, orm_table: Any) -> Table:
        location = orm_table.metadata_location
        metadata = METADATA.get(location) if location else None
        if metadata is None:
            table = super()._convert_orm_to_iceberg(orm_table)
            METADATA.put(table.metadata_location, table.metadata)
            return table
        return Table(identifier=(*self.identifier_to_tuple(orm_table.table_namespace), orm_table.table_name),
                     metadata=metadata, metadata_location=location,
                     io=self._load_file_io(metadata.properties, location), catalog=self)

    def commit_table(self, table: Table, requirements: tuple, updates: tuple) -> CommitTableResponse:
        response = super().commit_table(table, requirements, updates)
        METADATA.put(response.metadata_location, response.metadata)
        return response


def manifest_count(table: Table, snapshot: Snapshot) -> int:
    """How many manifests the snapshot's manifest list names (read once per list, which never changes)."""
    return MANIFEST_COUNTS.get_or_read(snapshot.manifest_list, lambda: len(snapshot.manifests(table.io)))
