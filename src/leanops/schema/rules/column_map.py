"""`standardized.column_map` (flattened field -> output column) changes."""
from __future__ import annotations

from collections.abc import Iterator

from leanops.schema.changes import AddColumnMap, Change, ChangeColumnMap, RemoveColumnMap, RenameMappedColumn
from leanops.schema.rules._common import common_sections
from leanops.schema_file import TopicSchema

FIELD = "standardized.column_map"


def column_map(old: TopicSchema | None, new: TopicSchema | None) -> Iterator[Change]:
    """An output column filled from another flattened field (same output columns) is PURE_REMAP.
    Every other column_map change renames a Standardized column and is NUCLEAR_RESET: a new
    entry (the field lands under a new name), a removed entry (the output column is no longer
    produced) or a new output name for the same field."""
    for _, before, after in common_sections(old, new, ("standardized",)):
        was, now = before.column_map, after.column_map
        was_by_target = {t: s for s, t in was.items()}
        now_by_target = {t: s for s, t in now.items()}
        for target in sorted(was_by_target.keys() | now_by_target.keys()):
            source_was, source_now = was_by_target.get(target), now_by_target.get(target)
            if source_was is not None and source_now is not None:
                if source_was != source_now:
                    yield ChangeColumnMap(FIELD, {target: source_was}, {target: source_now})
            elif source_was is not None:
                if now.get(source_was) is not None and now[source_was] not in was_by_target:
                    yield RenameMappedColumn(FIELD, {source_was: target}, {source_was: now[source_was]})
                else:
                    yield RemoveColumnMap(FIELD, {source_was: target}, None)
            elif not (was.get(source_now) is not None and was[source_now] not in now_by_target):
                yield AddColumnMap(FIELD, None, {source_now: target})  # (else: reported as a rename)
