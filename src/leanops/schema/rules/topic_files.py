"""A schema file appears (NEW_TABLE) or disappears (REMOVED)."""
from __future__ import annotations

from collections.abc import Iterator

from leanops.schema.changes import Change, NewTopic, RemoveTopic
from leanops.schema.rules._common import SECTIONS
from leanops.schema_file import TopicSchema


def new_or_removed_topic(old: TopicSchema | None, new: TopicSchema | None) -> Iterator[Change]:
    """A new schema file is NEW_TABLE: its tables are created and fill from RAW. A removed file is
    REMOVED: the topic's data waits in RAW again and its tables stop being updated; it cannot be
    declared in a file that is gone, so it fails unless `--allow-removed TOPIC` is given."""
    if old is None and new is not None:
        yield NewTopic("<file>", None, [s for s in SECTIONS if getattr(new, s) is not None])
    elif old is not None and new is None:
        yield RemoveTopic("<file>", [s for s in SECTIONS if getattr(old, s) is not None], None)
