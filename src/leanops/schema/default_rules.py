"""Whether a schema file's default (or a semantic min/max bound) is a valid value of its type.

A default is checked by the very rules Curated values follow (leanops.stages.casting, DuckDB SQL), so a
file whose default would not cast is refused when it is read, not on the first row that needs it.
The schema-file model calls `default_problem` from its validators, at validation time only: importing
leanops.schema_file pulls neither DuckDB nor the stages, and the stages import the model, never the
other way round (no import loop between leanops.schema_file and leanops.stages.casting).
"""
from __future__ import annotations

import dataclasses
import functools


@dataclasses.dataclass(frozen=True)
class _Column:
    """The fields of a curated column the casting rules read (leanops.schema_file.CuratedColumn has them)."""

    type: str
    default: str | None = None
    cde: bool = False


CDE_DEFAULT = "a critical data element (cde: true) cannot have a default: drop the default or the cde"


def default_problem(type_name: str, default: str | None, cde: bool = False, cast: bool = True) -> str | None:
    """Why a column's default is refused, in words that stand alone (the schema file names the column), or
    None. `cast=False`: the CDE rule only (no DuckDB)."""
    if cde and default is not None:
        return CDE_DEFAULT
    reason = None if default is None or not cast else default_failure(type_name, default)
    return f"default {default!r} is not a valid {type_name}: {reason}" if reason else None


def check_default(name: str, type_name: str, default: str | None, cde: bool = False, cast: bool = True) -> None:
    """Reject a default that would not cast, or a critical data element's default (ValueError naming the
    column). `cast=False`: the CDE rule only (no DuckDB)."""
    problem = default_problem(type_name, default, cde, cast)
    if problem:
        raise ValueError(f"column {name!r}: {problem}")


@functools.lru_cache(maxsize=256)
def default_failure(type_name: str, default: str) -> str | None:
    """Why `default` fails its type's rule, or None. Cached: schema files are loaded on every run."""
    from leanops import duck
    from leanops.stages.casting import projection

    con = duck.connect()
    try:  # the column is absent from the relation, so every row takes the default
        rules = projection(con, {"c": _Column(type=type_name, default=default)}, set())
        [(ok, failures)] = con.execute(f"SELECT ({rules.typed[0][1]}) IS NOT NULL, {rules.errors}").fetchall()
    finally:
        con.close()
    return None if ok else failures[0]["reason"] if failures else "blank, which is missing"
