"""Schema changes as values: what changed between two versions of a topic's schema file, classified.

Every change is a frozen dataclass with the field it touches (`curated.columns.amount.type`), the
old and new value, a `kind` (how the deployment must handle it) and a human `reason`. The lint
rules (`leanops.schema.rules`) produce them; `leanops.schema.diff.diff` applies every rule.

>>> WidenType("curated.columns.n.type", "int", "long").reason
'curated.columns.n.type: int -> long widens in place'
>>> NarrowType("curated.columns.amount.type", "decimal(18,2)", "decimal(10,2)").kind
<ChangeKind.NUCLEAR_RESET: 'NUCLEAR_RESET'>
"""
from __future__ import annotations

import dataclasses
import enum
from typing import Any, ClassVar


class ChangeKind(str, enum.Enum):
    """How a change is deployed (docs/schema-lifecycle.md). Declarable kinds match `change.kind`."""

    NEW_TABLE = "NEW_TABLE"  # create the table(s); nothing existing is touched
    SCHEMA_EVOLVE = "SCHEMA_EVOLVE"  # evolve the table in place (add columns, widen types)
    PURE_REMAP = "PURE_REMAP"  # same columns and types, values derived differently
    NUCLEAR_RESET = "NUCLEAR_RESET"  # archive the tables, rebuild the history from RAW
    REMOVED = "REMOVED"  # the schema file is gone: the topic's data waits in RAW again

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @property
    def needs_declaration(self) -> bool:
        """Breaking kinds must be declared in the file's `change.kind` (REMOVED via --allow-removed)."""
        return self in (ChangeKind.PURE_REMAP, ChangeKind.NUCLEAR_RESET)


_SEVERITY = {ChangeKind.NEW_TABLE: 0, ChangeKind.SCHEMA_EVOLVE: 1, ChangeKind.PURE_REMAP: 2,
             ChangeKind.NUCLEAR_RESET: 3, ChangeKind.REMOVED: 4}


@dataclasses.dataclass(frozen=True)
class Change:
    """One classified difference. `field` is a dotted path into the schema file."""

    field: str
    old: Any = None
    new: Any = None
    rule: str = ""  # the rule that found it; set by diff()

    kind: ClassVar[ChangeKind]
    what: ClassVar[str] = "changed"

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def reason(self) -> str:
        return f"{self.field}: {self.describe()}"

    def describe(self) -> str:
        return f"{_show(self.old)} -> {_show(self.new)} {self.what}"

    def as_dict(self) -> dict:
        return {"rule": self.rule, "change": self.name, "kind": self.kind.value, "field": self.field,
                "old": self.old, "new": self.new, "reason": self.reason}


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "{}"
    return str(value)


# --- whole files and sections -------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class NewTopic(Change):
    kind = ChangeKind.NEW_TABLE

    def describe(self) -> str:
        return f"new schema file ({', '.join(self.new) or 'no sections'})"


@dataclasses.dataclass(frozen=True)
class RemoveTopic(Change):
    kind = ChangeKind.REMOVED

    def describe(self) -> str:
        return "schema file removed: the topic's data waits in RAW again, its tables stay as they are"


@dataclasses.dataclass(frozen=True)
class AddSection(Change):
    kind = ChangeKind.NEW_TABLE

    def describe(self) -> str:
        return "section added: its table is created and filled from the layer below"


@dataclasses.dataclass(frozen=True)
class RemoveSection(Change):
    kind = ChangeKind.NUCLEAR_RESET

    def describe(self) -> str:
        return "section removed: its table stops being updated"


@dataclasses.dataclass(frozen=True)
class BaseInvalid(Change):
    """The base version does not validate, so nothing can be compared: treat it as a reset."""

    kind = ChangeKind.NUCLEAR_RESET

    def describe(self) -> str:
        return f"the base version is invalid ({self.old}), so the change cannot be classified"


# --- columns ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class AddColumn(Change):
    kind = ChangeKind.SCHEMA_EVOLVE

    def describe(self) -> str:
        return f"added ({self.new['type']})"


@dataclasses.dataclass(frozen=True)
class AddCdeColumn(Change):
    kind = ChangeKind.NUCLEAR_RESET

    def describe(self) -> str:
        return (f"added as a critical data element ({self.new['type']}, cde: true): "
                "every stored row lacks it")


@dataclasses.dataclass(frozen=True)
class DropColumn(Change):
    kind = ChangeKind.NUCLEAR_RESET

    def describe(self) -> str:
        return f"removed (was {self.old['type']}); a rename is a removal plus an addition"


@dataclasses.dataclass(frozen=True)
class WidenType(Change):
    kind = ChangeKind.SCHEMA_EVOLVE
    what = "widens in place"


@dataclasses.dataclass(frozen=True)
class NarrowType(Change):
    kind = ChangeKind.NUCLEAR_RESET
    what = "narrows: stored values may not fit"


@dataclasses.dataclass(frozen=True)
class ChangeType(Change):
    kind = ChangeKind.NUCLEAR_RESET
    what = "is not a type Iceberg can promote in place"


@dataclasses.dataclass(frozen=True)
class MakeCde(Change):
    kind = ChangeKind.NUCLEAR_RESET

    def describe(self) -> str:
        return "made a critical data element (cde: true): stored rows without it would now be rejected"


@dataclasses.dataclass(frozen=True)
class DropCde(Change):
    kind = ChangeKind.SCHEMA_EVOLVE

    def describe(self) -> str:
        return ("no longer a critical data element: rows without it are accepted from now on "
                "(rows already rejected stay in curated.errors)")


@dataclasses.dataclass(frozen=True)
class ChangeDefault(Change):
    kind = ChangeKind.PURE_REMAP
    what = "changes the value of missing fields"


# --- keys and layout ----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ChangeMergeKey(Change):
    kind = ChangeKind.NUCLEAR_RESET
    what = "changes which rows are versions of one another"


@dataclasses.dataclass(frozen=True)
class ChangeOrderBy(Change):
    kind = ChangeKind.NUCLEAR_RESET
    what = "changes which version is the latest"


@dataclasses.dataclass(frozen=True)
class ChangePartition(Change):
    kind = ChangeKind.NUCLEAR_RESET
    what = "changes the table layout"


# --- mappings -----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ChangeColumnMap(Change):
    """Same output column, filled from another flattened field."""

    kind = ChangeKind.PURE_REMAP

    def describe(self) -> str:
        [(target, source)] = self.new.items()
        return f"{target} now from {source} (was {self.old[target]})"


@dataclasses.dataclass(frozen=True)
class AddColumnMap(Change):
    kind = ChangeKind.NUCLEAR_RESET

    def describe(self) -> str:
        [(source, target)] = self.new.items()
        return f"{source} now lands as {target}: the Standardized column {source} is renamed"


@dataclasses.dataclass(frozen=True)
class RemoveColumnMap(Change):
    kind = ChangeKind.NUCLEAR_RESET

    def describe(self) -> str:
        [(source, target)] = self.old.items()
        return f"{target} is no longer produced ({source} lands under its own name again)"


@dataclasses.dataclass(frozen=True)
class RenameMappedColumn(Change):
    kind = ChangeKind.NUCLEAR_RESET

    def describe(self) -> str:
        [(source, old_target)] = self.old.items()
        return f"output column {old_target} renamed to {self.new[source]} (from {source})"


@dataclasses.dataclass(frozen=True)
class ChangeSemanticFrom(Change):
    kind = ChangeKind.PURE_REMAP
    what = "now derived from another curated column"


CHANGE_TYPES: tuple[type[Change], ...] = (
    NewTopic, RemoveTopic, AddSection, RemoveSection, BaseInvalid, AddColumn, AddCdeColumn, DropColumn,
    WidenType, NarrowType, ChangeType, MakeCde, DropCde, ChangeDefault, ChangeMergeKey, ChangeOrderBy,
    ChangePartition, ChangeColumnMap, AddColumnMap, RemoveColumnMap, RenameMappedColumn, ChangeSemanticFrom,
)
