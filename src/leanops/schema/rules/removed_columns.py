"""Columns removed from `curated.columns` or `semantic.columns` (a rename is a removal plus an addition)."""
from __future__ import annotations

from collections.abc import Iterator

from leanops.schema.changes import Change, DropColumn
from leanops.schema.rules._common import COLUMN_SECTIONS, column_dict, common_sections
from leanops.schema_file import TopicSchema


def removed_columns(old: TopicSchema | None, new: TopicSchema | None) -> Iterator[Change]:
    """A removed or renamed column is NUCLEAR_RESET: the table keeps the column and its stored
    values, but the schema no longer types or fills it, and readers of the old name break."""
    for section, before, after in common_sections(old, new, COLUMN_SECTIONS):
        for name, column in before.columns.items():
            if name not in after.columns:
                yield DropColumn(f"{section}.columns.{name}", column_dict(column), None)
