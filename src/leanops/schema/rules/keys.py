"""`merge_key` or `order_by` of the curated or semantic section changes."""
from __future__ import annotations

from collections.abc import Iterator

from leanops.schema.changes import Change, ChangeMergeKey, ChangeOrderBy
from leanops.schema.rules._common import KEYED_SECTIONS, common_sections
from leanops.schema_file import TopicSchema


def merge_key_and_order_by(old: TopicSchema | None, new: TopicSchema | None) -> Iterator[Change]:
    """A new `merge_key` (which rows are versions of one record) or `order_by` (which version is
    the latest) is NUCLEAR_RESET: the stored table was deduplicated by the old one."""
    for section, before, after in common_sections(old, new, KEYED_SECTIONS):
        if before.merge_key != after.merge_key:
            yield ChangeMergeKey(f"{section}.merge_key", before.merge_key, after.merge_key)
        if before.order_by != after.order_by:
            yield ChangeOrderBy(f"{section}.order_by", before.order_by, after.order_by)
