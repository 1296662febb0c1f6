"""A column's `type` changes: widened in place (SCHEMA_EVOLVE) or not (NUCLEAR_RESET).

>>> promotion("int", "long"), promotion("decimal(10,2)", "decimal(18,2)")
('widen', 'widen')
>>> promotion("long", "int"), promotion("decimal(18,2)", "decimal(18,4)"), promotion("int", "double")
('narrow', 'incompatible', 'incompatible')
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

from leanops.schema.changes import Change, ChangeType, NarrowType, WidenType
from leanops.schema.rules._common import common_columns
from leanops.schema_file import TopicSchema

_DECIMAL = re.compile(r"^decimal\((\d+),(\d+)\)$")  # schema_file normalises types: lower case, no spaces
_INTEGERS = ("int", "long")


def promotion(old: str, new: str) -> Literal["same", "widen", "narrow", "incompatible"]:
    """How `old` -> `new` relates, by Iceberg's in-place promotions (int -> long,
    decimal(P,S) -> decimal(P',S) with P' > P). float -> double is Iceberg's third; schema files
    have no float."""
    if old == new:
        return "same"
    if old in _INTEGERS and new in _INTEGERS:
        return "widen" if (old, new) == ("int", "long") else "narrow"
    before, after = _DECIMAL.match(old), _DECIMAL.match(new)
    if before and after and before[2] == after[2]:
        return "widen" if int(after[1]) > int(before[1]) else "narrow"
    return "incompatible"


def column_types(old: TopicSchema | None, new: TopicSchema | None) -> Iterator[Change]:
    """Only what Iceberg can evolve in place is SCHEMA_EVOLVE: int -> long, and decimal(P,S) ->
    decimal(P',S) with a larger P and the same scale. Everything else is NUCLEAR_RESET: narrowing
    (long -> int, a smaller precision) and any other change (int -> double, a new decimal scale,
    anything -> string)."""
    for field, _, before, after in common_columns(old, new):
        relation = promotion(before.type, after.type)
        if relation != "same":
            change = {"widen": WidenType, "narrow": NarrowType, "incompatible": ChangeType}[relation]
            yield change(f"{field}.type", before.type, after.type)
