"""Accountability figures of expired snapshots, kept in the table's properties.

Accountability is counted from commit summaries (duplicates dropped, versions superseded, lines read,
ingests sealed, ids replayed...). Snapshot expiry removes summaries, so it first adds what it removes
into the table property `leanops.rollup`, with `through`: the greatest sequence number rolled up (the
expired snapshots are always a prefix of the lineage). Readers add the roll-up to what the snapshots
after `through` say (`counted`), so a snapshot is counted once whether or not its expiry has landed
yet: the embedded engine commits both in one metadata commit, Spark's expire_snapshots procedure
commits after the property (a crash in between leaves rolled-up snapshots that are simply skipped).

    value = rolled_up_sum(table, "events", "leanops.duplicates")      # 0 when nothing was rolled up
    ids = rolled_up_set(table, "events", "replayed")
    for snapshot in counted(table): ...                               # the lineage not rolled up

Per topic the property holds sums of summary keys and sets (ids, keys) that accountability still
needs; a set is kept in a side file (leanops.catalog.side_lists) the property names, so the property
stays small. The sets are bounded by what is still open (the caller intersects them with the open
errors), never by history.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Iterator

from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from leanops.catalog.side_lists import PREFIX, read_side_list, side_list
from leanops.catalog.tables import ancestors

PROPERTY = "leanops.rollup"


@dataclasses.dataclass
class TopicRollup:
    sums: dict[str, int] = dataclasses.field(default_factory=dict)
    sets: dict[str, list] = dataclasses.field(default_factory=dict)  # name -> items (JSON-able)

    def add(self, other: "TopicRollup") -> "TopicRollup":
        """Sums added up; sets taken from `other` where it has them (the caller built them complete)."""
        sums = dict(self.sums)
        for key, value in other.sums.items():
            sums[key] = sums.get(key, 0) + value
        return TopicRollup(sums, {**self.sets, **other.sets})


def _property(table: Table) -> dict:
    text = table.metadata.properties.get(PROPERTY)
    return json.loads(text) if text else {}


def _document(table: Table) -> dict:
    """Topic -> its figures."""
    return _property(table).get("topics", {})


def rolled_through(table: Table | None) -> int:
    """The greatest sequence number of the snapshots rolled up (0: none)."""
    return int(_property(table).get("through", 0)) if table is not None else 0


def counted(table: Table | None) -> Iterator[Snapshot]:
    """The current lineage, newest first, without the snapshots the roll-up already counts."""
    if table is None:
        return
    through = rolled_through(table)
    for snapshot in ancestors(table):
        if snapshot.sequence_number <= through:
            return
        yield snapshot


def read_rollups(table: Table | None) -> dict[str, TopicRollup]:
    """Topic ("" for table-wide figures) -> its roll-up, sets read from their side files."""
    if table is None:
        return {}
    found = {}
    for topic, doc in _document(table).items():
        sets = {name: read_side_list(table, ref) for name, ref in (doc.get("sets") or {}).items()}
        found[topic] = TopicRollup({k: int(v) for k, v in (doc.get("sums") or {}).items()}, sets)
    return found


def rolled_up_sum(table: Table | None, topic: str, key: str) -> int:
    if table is None:
        return 0
    return int((_document(table).get(topic) or {}).get("sums", {}).get(key, 0))


def rolled_up_topics(table: Table | None) -> list[str]:
    """The topics the roll-up holds figures of ("" for the table-wide ones)."""
    return sorted(_document(table)) if table is not None else []


def rolled_up_set(table: Table | None, topic: str, name: str) -> set:
    if table is None:
        return set()
    ref = ((_document(table).get(topic) or {}).get("sets") or {}).get(name)
    return {tuple(x) if isinstance(x, list) else x for x in read_side_list(table, ref)} if ref else set()


def property_value(table: Table, rollups: dict[str, TopicRollup], through: int) -> str:
    """The property value holding `rollups` (complete, not a delta) of the snapshots up to sequence number
    `through`; sets are written to side files."""
    doc = {}
    for topic, rollup in sorted(rollups.items()):
        entry: dict = {}
        if rollup.sums:
            entry["sums"] = {k: int(v) for k, v in sorted(rollup.sums.items())}
        sets = {name: side_list(table, sorted(items, key=repr)) for name, items in sorted(rollup.sets.items())
                if items}
        if sets:
            entry["sets"] = sets
        if entry:
            doc[topic] = entry
    return json.dumps({"through": int(through), "topics": doc}, separators=(",", ":"), sort_keys=True)


def side_files(table: Table) -> set[str]:
    """Paths of the side files the roll-up names (the orphan sweep keeps them)."""
    paths = set()
    for doc in _document(table).values():
        for ref in (doc.get("sets") or {}).values():
            if isinstance(ref, str) and ref.startswith(PREFIX):
                paths.add(ref[len(PREFIX):])
    return paths


__all__ = ["PROPERTY", "TopicRollup", "counted", "property_value", "read_rollups", "rolled_through",
           "rolled_up_set", "rolled_up_sum", "rolled_up_topics", "side_files"]
