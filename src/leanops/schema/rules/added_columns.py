"""Columns added to `curated.columns` or `semantic.columns`."""
from __future__ import annotations

from collections.abc import Iterator

from leanops.schema.changes import AddCdeColumn, AddColumn, Change
from leanops.schema.rules._common import COLUMN_SECTIONS, column_dict, common_sections
from leanops.schema_file import TopicSchema


def added_columns(old: TopicSchema | None, new: TopicSchema | None) -> Iterator[Change]:
    """An added column is SCHEMA_EVOLVE: the table gains a column, stored rows read it as NULL.
    An added critical data element (`cde: true`) is NUCLEAR_RESET: every stored row lacks it, so
    the table would hold rows the new schema rejects."""
    for section, before, after in common_sections(old, new, COLUMN_SECTIONS):
        for name, column in after.columns.items():
            if name not in before.columns:
                change = AddCdeColumn if getattr(column, "cde", False) else AddColumn
                yield change(f"{section}.columns.{name}", None, column_dict(column))
