"""A semantic column's `from` (the curated column it is derived from) changes."""
from __future__ import annotations

from collections.abc import Iterator

from leanops.schema.changes import Change, ChangeSemanticFrom
from leanops.schema.rules._common import common_sections
from leanops.schema_file import TopicSchema


def semantic_sources(old: TopicSchema | None, new: TopicSchema | None) -> Iterator[Change]:
    """A semantic column derived from another curated column is PURE_REMAP (its name and type
    stay; its values change). A missing `from` means the column of the same name, so adding or
    removing a `from` that names the column itself is no change."""
    for _, before, after in common_sections(old, new, ("semantic",)):
        for name, column in after.columns.items():
            if name in before.columns:
                was, now = before.columns[name].source or name, column.source or name
                if was != now:
                    yield ChangeSemanticFrom(f"semantic.columns.{name}.from", was, now)
