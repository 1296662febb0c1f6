"""Helpers the rules share: walking the sections both versions have."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from leanops.schema_file import TopicSchema

SECTIONS = ("standardized", "curated", "semantic")
COLUMN_SECTIONS = ("curated", "semantic")  # sections with typed `columns`
KEYED_SECTIONS = ("curated", "semantic")  # sections with merge_key / order_by


def common_sections(old: TopicSchema | None, new: TopicSchema | None,
                    names: tuple[str, ...]) -> Iterator[tuple[str, Any, Any]]:
    """(name, old section, new section) for each of `names` present in both versions."""
    if old is None or new is None:
        return
    for name in names:
        before, after = getattr(old, name), getattr(new, name)
        if before is not None and after is not None:
            yield name, before, after


def common_columns(old: TopicSchema | None, new: TopicSchema | None) -> Iterator[tuple[str, str, Any, Any]]:
    """(field prefix, column name, old column, new column) for columns both versions declare."""
    for section, before, after in common_sections(old, new, COLUMN_SECTIONS):
        for name, column in after.columns.items():
            if name in before.columns:
                yield f"{section}.columns.{name}", name, before.columns[name], column


def column_dict(column: Any) -> dict:
    """A column as the schema file writes it (`from`, not `source`), without unset defaults."""
    return column.model_dump(by_alias=True, exclude_none=True)
