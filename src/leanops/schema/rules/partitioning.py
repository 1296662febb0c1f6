"""`curated.partition_by` changes (spacing and spelling that give the same spec are no change)."""
from __future__ import annotations

from collections.abc import Iterator

from leanops.catalog.partitioning import read_partition
from leanops.schema.changes import Change, ChangePartition
from leanops.schema.rules._common import common_sections
from leanops.schema_file import TopicSchema


def _spec(entries: list[str]) -> list[tuple[str, str, int | None]]:
    return [(e.column, e.transform, e.width) for e in map(read_partition, entries)]


def partition_layout(old: TopicSchema | None, new: TopicSchema | None) -> Iterator[Change]:
    """A different `partition_by` (another column, transform, bucket count or order) is
    NUCLEAR_RESET: the stored files are laid out by the old spec."""
    for section, before, after in common_sections(old, new, ("curated",)):
        # the partitioning in force: an unset partition_by follows the merge key
        if _spec(before.partitions) != _spec(after.partitions):
            yield ChangePartition(f"{section}.partition_by", list(before.partitions), list(after.partitions))
