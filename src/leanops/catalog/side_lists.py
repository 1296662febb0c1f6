"""Lists too long for a snapshot summary, kept in a file the summary names.

Iceberg copies every snapshot's summary into each later metadata.json, so a commit that names thousands
of keys inline (the rows a replay fixed) would make every following commit of the table rewrite them:
one 20,000-row DLQ replay grew RAW's metadata.json from 2 KB to 1.3 MB. Such a commit writes the list
to `<table location>/metadata/leanops-<uuid>.json` first and its summary names that file; a commit that
fails leaves an unreferenced file behind, like its data files.

    summary[SUMMARY_REPLAYED_IDS] = side_list(table, ids)
    ids = read_side_list(table, props[SUMMARY_REPLAYED_IDS])
"""
from __future__ import annotations

import functools
import json
import uuid

import orjson
from pyiceberg.table import Table

from leanops.catalog.tables import SUMMARY_REPLAYED_IDS

PREFIX = "file:"  # a summary value naming a file; anything else is the list itself, inline (earlier commits)


def side_list(table: Table, items: list) -> str:
    """Write `items` as JSON next to the table's metadata; the summary value that names the file."""
    path = f"{table.metadata.location.rstrip('/')}/metadata/leanops-{uuid.uuid4().hex}.json"
    with table.io.new_output(path).create(overwrite=True) as out:
        out.write(orjson.dumps(items))
    return PREFIX + path


def read_side_list(table: Table, value: str) -> list:
    """The list a summary value holds: inline JSON, or the file it names (files never change: cached)."""
    if not value.startswith(PREFIX):
        return json.loads(value)
    return list(_read(table.io, value[len(PREFIX):]))


def replayed_ids(table: Table) -> set[str]:
    """Message ids the table's replay commits took from its error table (what a resumed replay skips),
    including those of expired commits whose errors are still open (the table's roll-up)."""
    from leanops.catalog.rollups import counted, read_rollups  # rollups keeps its sets in side lists
    ids: set[str] = set()
    for rollup in read_rollups(table).values():
        ids.update(rollup.sets.get("replayed", ()))
    for snapshot in counted(table):
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        if SUMMARY_REPLAYED_IDS in props:
            ids.update(read_side_list(table, props[SUMMARY_REPLAYED_IDS]))
    return ids


@functools.lru_cache(maxsize=256)
def _read(io, path: str) -> tuple:
    with io.new_input(path).open() as stream:
        return tuple(tuple(x) if isinstance(x, list) else x for x in orjson.loads(stream.read()))


__all__ = ["read_side_list", "replayed_ids", "side_list"]
