"""The diff of two versions of a topic's schema file: every rule applied, one list of changes.

    changes = diff(old, new)  # old/new: TopicSchema, or None when the file does not exist
    [c.reason for c in changes]  # ['curated.columns.amount.type: decimal(10,2) -> decimal(18,2) widens in place']

Pure: no I/O, the same two versions always give the same changes in the same order (rule order,
then the order each rule finds them in). `description` and `change` (the declaration) are not
schema: they never produce a change.
"""
from __future__ import annotations

import dataclasses

from leanops.schema.changes import (  # re-exported: the change vocabulary
    CHANGE_TYPES, AddCdeColumn, AddColumn, AddColumnMap, AddSection, BaseInvalid, Change, ChangeColumnMap,
    ChangeDefault, ChangeKind, ChangeMergeKey, ChangeOrderBy, ChangePartition, ChangeSemanticFrom, ChangeType,
    DropCde, DropColumn, MakeCde, NarrowType, NewTopic, RemoveColumnMap, RemoveSection, RemoveTopic,
    RenameMappedColumn, WidenType,
)
from leanops.schema.rules import RULES
from leanops.schema_file import TopicSchema

__all__ = [
    "CHANGE_TYPES", "AddCdeColumn", "AddColumn", "AddColumnMap", "AddSection", "BaseInvalid", "Change",
    "ChangeColumnMap", "ChangeDefault", "ChangeKind", "ChangeMergeKey", "ChangeOrderBy", "ChangePartition",
    "ChangeSemanticFrom", "ChangeType", "DropCde", "DropColumn", "MakeCde", "NarrowType", "NewTopic",
    "RemoveColumnMap", "RemoveSection", "RemoveTopic", "RenameMappedColumn", "WidenType", "diff", "overall_kind",
]


def diff(old: TopicSchema | None, new: TopicSchema | None) -> list[Change]:
    """Every change from `old` to `new`, each tagged with the rule that found it."""
    return [dataclasses.replace(change, rule=rule.__name__) for rule in RULES for change in rule(old, new)]


def overall_kind(changes: list[Change]) -> ChangeKind | None:
    """The most severe kind: REMOVED > NUCLEAR_RESET > PURE_REMAP > SCHEMA_EVOLVE > NEW_TABLE."""
    return max((c.kind for c in changes), key=lambda k: k.severity, default=None)
