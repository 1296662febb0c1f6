"""A curated column's `cde` flag changes."""
from __future__ import annotations

from collections.abc import Iterator

from leanops.schema.changes import Change, DropCde, MakeCde
from leanops.schema.rules._common import common_columns
from leanops.schema_file import TopicSchema


def critical_data_elements(old: TopicSchema | None, new: TopicSchema | None) -> Iterator[Change]:
    """Making an existing column a critical data element is NUCLEAR_RESET: stored rows without
    it are rows the new schema rejects. Dropping `cde` is SCHEMA_EVOLVE: more rows are accepted
    from now on (rows rejected before stay in curated.errors unless the topic is rebuilt)."""
    for field, _, before, after in common_columns(old, new):
        was, now = getattr(before, "cde", False), getattr(after, "cde", False)
        if now and not was:
            yield MakeCde(f"{field}.cde", was, now)
        elif was and not now:
            yield DropCde(f"{field}.cde", was, now)
