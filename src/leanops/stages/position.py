"""Where a reader stands in its upstream table: a checkpoint that may end inside a snapshot.

    Position()                    nothing read yet
    Position(s)                   everything up to snapshot s, s included (the whole snapshot)
    Position(s, rows=n)           everything before s, and the first n rows s added
    Position(s, rows=n, base=True)  the first n rows of s's whole content: a reader with no checkpoint starts
                                  with the oldest retained snapshot's content (docs/maintenance.md)

Why inside a snapshot: an ingest is one RAW commit whatever its size (4M lines = one commit of two
~128 MiB files of ~2M rows each), and a stage run takes at most `max_batch_rows` rows, so a batch may
have to stop inside a snapshot, even inside a file. A snapshot's rows count in ingestion order: its data
files in commit order (`leanops.stages.incremental`), then each file's rows in order.

The position lives in the summary of the commit that consumed up to it, next to the snapshot id:
`leanops.source-snapshot-id` with `leanops.source-rows` (and `leanops.source-base`); the start of the
range the same way (`leanops.source-from-snapshot-id`, `-from-rows`, `-from-base`). A position that ends
on a whole snapshot writes no rows key, so every commit written before this existed reads as whole
snapshots.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from leanops.catalog.tables import (
    SUMMARY_SOURCE_BASE, SUMMARY_SOURCE_FROM, SUMMARY_SOURCE_FROM_BASE, SUMMARY_SOURCE_FROM_ROWS, SUMMARY_SOURCE_ROWS,
    SUMMARY_SOURCE_SNAPSHOT,
)

END_KEYS = (SUMMARY_SOURCE_SNAPSHOT, SUMMARY_SOURCE_ROWS, SUMMARY_SOURCE_BASE)
START_KEYS = (SUMMARY_SOURCE_FROM, SUMMARY_SOURCE_FROM_ROWS, SUMMARY_SOURCE_FROM_BASE)


@dataclasses.dataclass(frozen=True)
class Position:
    """A reader's place in its upstream table (see the module doc)."""

    snapshot_id: int | None = None
    rows: int | None = None  # rows of that snapshot consumed, when not all of them
    base: bool = False  # `rows` counts the snapshot's whole content, not only what it added

    @property
    def whole(self) -> bool:
        """The snapshot is consumed entirely (or nothing was read yet)."""
        return self.rows is None

    def keys(self, names: tuple[str, str, str]) -> dict[str, str]:
        """The summary properties of this position under `names` (END_KEYS or START_KEYS)."""
        snapshot, rows, base = names
        out = {snapshot: "" if self.snapshot_id is None else str(self.snapshot_id)}
        if self.rows is not None:
            out[rows] = str(self.rows)
            if self.base:
                out[base] = "true"
        return out

    @classmethod
    def read(cls, props: Mapping[str, str], names: tuple[str, str, str] = END_KEYS) -> "Position":
        """The position a commit's summary holds under `names` (END_KEYS: where its range ended)."""
        snapshot, rows, base = names
        value, count = props.get(snapshot) or "", props.get(rows)
        return cls(int(value) if value else None, int(count) if count else None, props.get(base) == "true")


def stored_keys(props: Mapping[str, str], names: tuple[str, str, str] = END_KEYS) -> dict[str, str | None]:
    """The raw summary values of a position (absent keys as None): compared as text, so a marker that is
    no snapshot id (the rebuilder's "rebuild") never equals a position."""
    return {name: props.get(name) for name in names}


@dataclasses.dataclass(frozen=True)
class Span:
    """A range of upstream data: after `start` (exclusive) up to `end` (inclusive)."""

    start: Position
    end: Position

    @classmethod
    def at(cls, position: Position) -> "Span":
        """The empty range at a position: what a commit that keeps the checkpoint (a replay) carries."""
        return cls(position, position)

    def summary(self) -> dict[str, str]:
        """The range's summary properties: the new checkpoint and the previous one."""
        return {**self.end.keys(END_KEYS), **self.start.keys(START_KEYS)}


__all__ = ["END_KEYS", "START_KEYS", "Position", "Span", "stored_keys"]
