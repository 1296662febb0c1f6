"""A curated column's `default` is added, changed or removed."""
from __future__ import annotations

from collections.abc import Iterator

from leanops.schema.changes import Change, ChangeDefault
from leanops.schema.rules._common import common_columns
from leanops.schema_file import TopicSchema


def column_defaults(old: TopicSchema | None, new: TopicSchema | None) -> Iterator[Change]:
    """A changed default is PURE_REMAP: the columns and types stay, but a missing field now gets
    another value, so stored rows and new rows disagree unless the history is derived again."""
    for field, _, before, after in common_columns(old, new):
        was, now = getattr(before, "default", None), getattr(after, "default", None)
        if was != now:
            yield ChangeDefault(f"{field}.default", was, now)
