"""The lint rules, one per module. Each is a pure function `(old, new) -> Iterator[Change]` over two
versions of a topic's schema file (None when the file does not exist); its docstring is the
user-facing summary (docs/schema-lifecycle.md has them as a table).

    for rule in RULES:
        changes.extend(rule(old, new))
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

from leanops.schema.changes import Change
from leanops.schema.rules.added_columns import added_columns
from leanops.schema.rules.cde import critical_data_elements
from leanops.schema.rules.column_map import column_map
from leanops.schema.rules.column_types import column_types
from leanops.schema.rules.defaults import column_defaults
from leanops.schema.rules.keys import merge_key_and_order_by
from leanops.schema.rules.partitioning import partition_layout
from leanops.schema.rules.removed_columns import removed_columns
from leanops.schema.rules.sections import added_or_removed_section
from leanops.schema.rules.semantic_sources import semantic_sources
from leanops.schema.rules.topic_files import new_or_removed_topic
from leanops.schema_file import TopicSchema

Rule = Callable[[TopicSchema | None, TopicSchema | None], Iterator[Change]]

RULES: tuple[Rule, ...] = (
    new_or_removed_topic,
    added_or_removed_section,
    added_columns,
    removed_columns,
    column_types,
    critical_data_elements,
    column_defaults,
    merge_key_and_order_by,
    partition_layout,
    column_map,
    semantic_sources,
)

__all__ = ["RULES", "Rule"]
