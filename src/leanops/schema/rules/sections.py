"""A `standardized`, `curated` or `semantic` section is added (NEW_TABLE) or removed (NUCLEAR_RESET)."""
from __future__ import annotations

from collections.abc import Iterator

from leanops.schema.changes import AddSection, Change, RemoveSection
from leanops.schema.rules._common import SECTIONS
from leanops.schema_file import TopicSchema


def added_or_removed_section(old: TopicSchema | None, new: TopicSchema | None) -> Iterator[Change]:
    """Sections are the schema gate. Adding one opens the next layer: its table is created and
    filled from the layer below (NEW_TABLE). Removing one stops a table that consumers read from
    being updated (NUCLEAR_RESET)."""
    if old is None or new is None:
        return
    for name in SECTIONS:
        before, after = getattr(old, name), getattr(new, name)
        if before is None and after is not None:
            yield AddSection(name, None, after.model_dump(by_alias=True))
        elif before is not None and after is None:
            yield RemoveSection(name, before.model_dump(by_alias=True), None)
