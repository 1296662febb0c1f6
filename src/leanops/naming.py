"""JSON key paths -> Standardized column names. One convention, defined here and nowhere else.

Rule (documented in docs/standardized.md):
  1. Each key is lower-cased; every character that is not a letter, a digit or `_` becomes `_`
     (letters and digits of any script are kept, so `名前` stays `名前`).
  2. Nested keys are joined with `_`: `event.userId` -> `event_userid`. An empty key becomes `_`.
  3. A name that starts with a digit gets a leading `_`.
  4. Names are identifiers, never SQL text: every query quotes them or passes them as parameters.
  5. Iceberg's metadata column names (`_file`, `_pos`, ...) are never table columns: Iceberg engines
     (Spark, Trino) refuse to read a table that has one. The Standardized stage treats them as
     reserved (a payload key `_file` lands in `_file__2`), schema files may not declare them.

>>> column_name(("event", "metadata", "ipAddress"))
'event_metadata_ipaddress'
>>> column_name(("a b", "x.y", "SELECT"))
'a_b_x_y_select'
>>> column_name(("9lives",))
'_9lives'
>>> json_pointer(("a/b", "c~d"))
'/a~1b/c~0d'
"""
from __future__ import annotations

import re

_VALID_COLUMN = re.compile(r"^(?!\d)\w+$")
# org.apache.iceberg.MetadataColumns.isMetadataColumn (Iceberg 1.10): a table column of one of these
# names makes Spark's Iceberg reader refuse the table ("Table column names conflict with names reserved
# for Iceberg metadata columns")
ICEBERG_METADATA_COLUMNS = frozenset({"_file", "_pos", "_deleted", "_spec_id", "_partition", "_row_id",
                                      "_last_updated_sequence_number"})


def normalize_key(key: str) -> str:
    """One JSON key -> one name segment."""
    if key == "":
        return "_"
    return "".join(ch if (ch.isalnum() or ch == "_") else "_" for ch in key.lower())


def column_name(path: tuple[str, ...]) -> str:
    """A key path -> its column name (before collision handling)."""
    name = "_".join(normalize_key(k) for k in path)
    return "_" + name if name[:1].isdigit() else name


def json_pointer(path: tuple[str, ...]) -> str:
    """RFC 6901 pointer of a key path: the form DuckDB (and others) take as a path parameter."""
    return "".join("/" + k.replace("~", "~0").replace("/", "~1") for k in path)


def overflow_name(name: str, rank: int) -> str:
    """Name of the rank-th (2, 3, ...) value that collided on `name` in one row."""
    return f"{name}__{rank}"


def is_valid_column_name(name: str) -> bool:
    """Names users may write in schema files: lower-case letters, digits, `_`; no leading digit."""
    return bool(_VALID_COLUMN.match(name)) and name == name.lower()
