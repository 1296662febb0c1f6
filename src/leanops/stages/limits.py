"""Shape limits: how deep and how wide a payload may be, and how many columns a topic may grow to.

Some shapes cost far more than their bytes. Discovery walks objects one level at a time, so a payload
nested 10,000 levels deep cost a minute (quadratic in the depth); a payload with 5,000 keys added 5,000
columns that every later run of the topic carried. The limits (`schema_file.ShapeLimits`, set per topic
in the schema file's `standardized.limits`; docs/standardized.md, "Limits") bound both:

  - depth: a key path of more than `max_depth` keys (objects nested in objects; an array is a value,
    stored as JSON text and never walked, so what is inside it does not count);
  - width: more than `max_keys` keys that become columns (keys outside arrays whose value is not a
    non-empty object: the payload's leaf paths);
  - columns: `standardized.<topic>` holds at most `max_columns` columns, metadata included.

`payload_errors` finds the payloads over the first two before discovery sees them, without walking
them: a text test picks the few rows that could be over (more `{` than `max_depth`; more than 5 bytes
and more `:` than `max_keys` allows), and only those are measured, by DuckDB's JSON reader with `$.*`
wildcard paths (one parse per level, at most `max_depth` levels, whatever the payload's own depth).
`refuse_over_column_cap` decides which rows of a batch would take the topic past its column cap; the
engines ask `filled_columns` which new columns each row fills.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

import duckdb

from leanops.helper_columns import ORD
from leanops.schema_file import ShapeLimits
from leanops.stages.flatten import IS_OBJECT

BYTES_PER_KEY = 5  # the shortest key that makes a column: `"":0` and a comma
_SAFE_NAME = re.compile(r"^\w+$")


def too_deep(limits: ShapeLimits) -> str:
    return f"payload nested deeper than {limits.max_depth} levels"


def too_wide(keys: int, limits: ShapeLimits) -> str:
    return f"payload has {keys} keys, more than {limits.max_keys}"


def over_column_cap(new_columns: int, cap: int) -> str:
    return f"payload adds {new_columns} new columns, past the topic's cap of {cap} columns"


def payload_errors(con: duckdb.DuckDBPyConnection, relation: str, limits: ShapeLimits) -> dict[int, str]:
    """ord -> reason for the JSON objects of `relation` (ORD, json_payload) nested too deep or with too many keys.

    Rows that are not valid JSON objects are left to the parse-error rules (their reason is that).
    """
    # more `{` than levels allowed, or more bytes and more `:` than keys allowed (text in strings counts
    # too: an upper bound). LIKE '%{%{%...' is one forward search without a copy (twice as fast as
    # counting with replace); literals built from ints, as DuckDB plans a constant pattern best.
    braces, colons = "%" + "{%" * (limits.max_depth + 1), "%" + ":%" * (limits.max_keys + 1)
    con.execute(f"CREATE OR REPLACE TEMP TABLE __leanops_big AS SELECT {ORD}, json_payload FROM {relation} "
                f"WHERE json_payload LIKE '{braces}' OR (strlen(json_payload) > $1 AND json_payload LIKE '{colons}')",
                [BYTES_PER_KEY * limits.max_keys]).fetchall()
    try:
        con.execute(f"DELETE FROM __leanops_big WHERE NOT coalesce(json_valid(json_payload) AND {IS_OBJECT}, false)"
                    ).fetchall()
        # a value at a key path one key longer than allowed: `$.*` wildcards walk objects only
        deep = con.execute(f"SELECT {ORD} FROM __leanops_big WHERE len(json_exists(json_payload, $1)) > 0",
                           [_level(limits.max_depth + 1)]).fetchall()
        found = {ord_: too_deep(limits) for (ord_,) in deep}
        wide = _key_counts(con, [o for (o,) in deep], limits)
        found.update({ord_: too_wide(keys, limits) for ord_, keys in wide.items() if keys > limits.max_keys})
    finally:
        con.execute("DROP TABLE IF EXISTS __leanops_big").fetchall()
    return dict(sorted(found.items()))


def _level(depth: int) -> str:
    """JSON path of every value `depth` keys down (through objects only)."""
    return "$" + ".*" * depth


def _key_counts(con: duckdb.DuckDBPyConnection, deep: list[int], limits: ShapeLimits) -> dict[int, int]:
    """ord -> leaf keys, for the rows of `__leanops_big` long enough to hold more than `max_keys` (not `deep`).

    Level k's `json_keys` lists every value k keys down: an empty list is a leaf (scalar, array, null or
    `{}`), a non-empty one an object whose keys make level k + 1. At most `max_depth` levels, as the
    deeper rows are already out.
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE __leanops_wide AS SELECT {ORD}, json_payload, 0 AS leaves, true AS more "
                f"FROM __leanops_big WHERE strlen(json_payload) > $1 AND {ORD} NOT IN (SELECT unnest($2::BIGINT[]))",
                [BYTES_PER_KEY * limits.max_keys, deep]).fetchall()
    counts: dict[int, int] = {}
    try:
        for depth in range(1, limits.max_depth + 1):
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE __leanops_wide AS SELECT {ORD}, json_payload, "
                "leaves + len(list_filter(ks, lambda k: len(k) = 0)) AS leaves, "
                "len(list_filter(ks, lambda k: len(k) > 0)) > 0 AS more "
                "FROM (SELECT *, json_keys(json_payload, $1) AS ks FROM __leanops_wide)", [_level(depth)]).fetchall()
            counts.update(con.execute(f"SELECT {ORD}, leaves FROM __leanops_wide WHERE NOT more").fetchall())
            con.execute("DELETE FROM __leanops_wide WHERE NOT more").fetchall()
            if not con.execute("SELECT count(*) FROM __leanops_wide").fetchall()[0][0]:
                break
    finally:
        con.execute("DROP TABLE IF EXISTS __leanops_wide").fetchall()
    return counts


def filled_columns(con: duckdb.DuckDBPyConnection, extraction_sql: str,
                   names: list[str]) -> list[tuple[int, list[str]]]:
    """(ord, the `names` it fills) for every row of a flattening SELECT (with ORD) that fills any, in ord order.

    A column is filled when the row's value there is not NULL (a JSON null fills nothing).
    """
    if not names:
        return []
    flags = ", ".join(f"CASE WHEN {_quote(n)} IS NOT NULL THEN {i} END" for i, n in enumerate(names))
    rows = con.execute(f"SELECT {ORD}, filled FROM (SELECT {ORD}, list_filter([{flags}], lambda i: i IS NOT NULL) "
                       f"AS filled FROM ({extraction_sql})) WHERE len(filled) > 0 ORDER BY {ORD}").fetchall()
    return [(ord_, [names[i] for i in filled]) for ord_, filled in rows]


def refuse_over_column_cap(filled: Iterable[tuple[int, list[str]]], room: int,
                           cap: int) -> tuple[dict[int, str], set[str]]:
    """Which rows would take the topic past its cap: (ord -> reason, the new columns admitted).

    `filled`: each row's new columns (those the table lacks); `room`: how many the table can still take.
    Rows are taken in ingestion order: a row whose new columns (beyond those already admitted) fit in
    what is left is admitted with them; a row whose columns do not fit is refused whole.
    """
    admitted: set[str] = set()
    refused: dict[int, str] = {}
    for ord_, names in sorted(filled):
        extra = set(names) - admitted
        if len(admitted) + len(extra) <= room:
            admitted |= extra
        else:
            refused[ord_] = over_column_cap(len(extra), cap)
    return refused, admitted


def _quote(name: str) -> str:
    if not _SAFE_NAME.match(name):
        raise ValueError(f"unsafe column name {name!r}")
    return '"' + name + '"'


__all__ = ["ShapeLimits", "filled_columns", "payload_errors", "refuse_over_column_cap"]
