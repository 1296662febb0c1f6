"""Flatten JSON payloads into string columns, vectorised in DuckDB (the embedded engine's hot path).

Two passes over the batch:
  1. discovery, one level of nesting at a time: `json_keys(payload, [pointers])` grouped by its
     value, so a million rows with a handful of shapes cost one scan per level;
  2. extraction: one `json_extract_string(payload, [leaf pointers])` per chunk of rows.

Paths are passed as query parameters (JSON pointers), never spliced into SQL. Naming, collisions and
reserved names follow `leanops.naming` and the rules in docs/standardized.md:
  - objects are walked; scalars and arrays are leaves (arrays as JSON text, booleans `true`/`false`,
    numbers as DuckDB prints them, JSON null is a missing value); an empty object is the leaf `{}`;
  - a key that holds an object in some rows and a scalar in others: the scalar rows fill the column
    of the key itself, the object rows fill its children;
  - several paths that give one name (`userId` and `userid`, `a.b` and `a`->`b`) share the column;
    when one row has values for more than one of them, the values go, in path order, to `name`,
    `name__2`, `name__3`, ...; a reserved name (metadata column, column_map target) is never filled
    from the payload, so such a payload value starts at `name__2`;
  - an object with the same key twice is ambiguous JSON: the row goes to parse_errors.
"""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Iterable

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from leanops import duck
from leanops.naming import column_name, json_pointer, overflow_name

Path = tuple[str, ...]
MAX_LIST_CELLS_PER_CHUNK = 40_000_000  # rows x paths extracted at once; bounds memory for wide data


@dataclasses.dataclass
class Shape:
    """What discovery found: the leaf paths, which of them are also objects, duplicate-key rows."""

    leaf_paths: list[Path]
    mixed_paths: set[Path]
    duplicate_key_pointers: list[str]


def discover(con: duckdb.DuckDBPyConnection, relation: str) -> Shape:
    """Walk every object path present in `relation.json_payload`, one nesting level per scan."""
    level: list[Path] = [()]
    leaves: set[Path] = set()
    objects: set[Path] = set()
    duplicate_pointers: list[str] = []
    while level:
        pointers = ["$" if not p else json_pointer(p) for p in level]
        rows = con.execute(
            f"SELECT ks FROM (SELECT json_keys(json_payload, $1::VARCHAR[]) AS ks FROM {relation}) GROUP BY ks",
            [pointers],
        ).fetchall()
        children: dict[Path, None] = {}
        for (key_lists,) in rows:
            for path, pointer, keys in zip(level, pointers, key_lists):
                if keys is None:
                    continue
                if not keys:
                    if path:  # an empty root object is just an event with no fields
                        leaves.add(path)
                    continue
                objects.add(path)
                if len(set(keys)) != len(keys) and pointer not in duplicate_pointers:
                    duplicate_pointers.append(pointer)
                for key in keys:
                    children[path + (key,)] = None
        # a child is a leaf unless the next scan finds keys under it
        level = list(children)
        leaves.update(level)
    leaf_paths = sorted((p for p in leaves if p), key=json_pointer)
    # paths found only as objects hold no value of their own
    leaf_paths = [p for p in leaf_paths if p not in objects or _also_scalar(con, relation, p)]
    mixed = {p for p in leaf_paths if p in objects}
    return Shape(leaf_paths, mixed, duplicate_pointers)


def _also_scalar(con: duckdb.DuckDBPyConnection, relation: str, path: Path) -> bool:
    """Whether some row holds a non-object (or an empty object) at a path other rows hold an object at."""
    row = con.execute(
        f"SELECT count(*) FROM {relation} WHERE json_type(json_payload, $1) IS NOT NULL "
        f"AND (json_type(json_payload, $1) <> 'OBJECT' OR json_extract(json_payload, $1)::VARCHAR = '{{}}')",
        [json_pointer(path)],
    ).fetchall()[0]
    return bool(row[0])


def duplicate_key_rows(con: duckdb.DuckDBPyConnection, relation: str, pointers: list[str]) -> dict[int, str]:
    """ord -> reason for rows holding an object with the same key twice."""
    found: dict[int, str] = {}
    for pointer in pointers:
        for ord_, keys in con.execute(
            f"SELECT ord, json_keys(json_payload, $1) ks FROM {relation} "
            "WHERE len(list_distinct(json_keys(json_payload, $1))) < len(json_keys(json_payload, $1))",
            [pointer],
        ).fetchall():
            seen, dup = set(), None
            for key in keys:
                if key in seen:
                    dup = key
                    break
                seen.add(key)
            where = "the top level" if pointer == "$" else pointer
            found.setdefault(ord_, f"duplicate key {dup!r} in the object at {where}")
    return found


@dataclasses.dataclass
class ColumnPlan:
    """How extracted paths become columns: plain 1:1 columns and collision groups."""

    plain: dict[Path, str]
    groups: dict[str, tuple[bool, list[Path]]]  # name -> (reserved, paths in order)
    overflow_taken: set[str]


def plan_columns(paths: Iterable[Path], reserved: set[str]) -> ColumnPlan:
    by_name: dict[str, list[Path]] = defaultdict(list)
    for path in paths:
        by_name[column_name(path)].append(path)
    plain, groups = {}, {}
    for name, members in by_name.items():
        members.sort(key=json_pointer)
        if len(members) == 1 and name not in reserved:
            plain[members[0]] = name
        else:
            groups[name] = (name in reserved, members)
    return ColumnPlan(plain, groups, set(by_name) | set(reserved))


def extract(con: duckdb.DuckDBPyConnection, relation: str, shape: Shape, plan: ColumnPlan,
            meta_columns: tuple[str, ...], lo: int, hi: int) -> pa.Table:
    """Rows with lo <= ord < hi of `relation` as an Arrow table: metadata + flattened string columns."""
    string_paths = [p for p in shape.leaf_paths if p not in shape.mixed_paths]
    json_paths = [p for p in shape.leaf_paths if p in shape.mixed_paths]
    meta_sql = ", ".join(f'"{c}"' for c in meta_columns)
    batch = duck.arrow(
        con,
        f"SELECT {meta_sql}, json_extract_string(json_payload, $1::VARCHAR[]) AS s, "
        f"json_extract(json_payload, $2::VARCHAR[])::VARCHAR[] AS j "
        f"FROM {relation} WHERE ord >= $3 AND ord < $4 ORDER BY ord",
        [[json_pointer(p) for p in string_paths], [json_pointer(p) for p in json_paths], lo, hi],
    )
    values: dict[Path, pa.Array] = {}
    s_col, j_col = batch.column("s"), batch.column("j")
    for i, path in enumerate(string_paths):
        values[path] = pc.list_element(s_col, i)
    for i, path in enumerate(json_paths):
        values[path] = _scalars_only(pc.list_element(j_col, i))
    columns: dict[str, pa.Array] = {c: batch.column(c) for c in meta_columns}
    for path, name in plan.plain.items():
        columns[name] = values[path]
    for name, (reserved, members) in plan.groups.items():
        columns.update(_spread(name, reserved, [values[p] for p in members], plan.overflow_taken))
    return pa.table({k: (v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v)
                     for k, v in columns.items()})


def _scalars_only(json_texts: pa.ChunkedArray) -> pa.Array:
    """JSON texts of a mixed path -> string values; non-empty objects are left to the child columns."""
    out = []
    for text in json_texts.to_pylist():
        if text is None or (text.startswith("{") and text != "{}"):
            out.append(None)
        elif text.startswith('"'):
            out.append(orjson.loads(text))
        else:
            out.append(text)
    return pa.array(out, pa.string())


def _spread(name: str, reserved: bool, arrays: list, taken: set[str]) -> dict[str, pa.Array]:
    """Per row, the k-th non-null value among colliding paths goes to the k-th slot of `name`."""
    lists = [a.to_pylist() for a in arrays]
    rows = len(lists[0])
    first_slot = 1 if reserved else 0
    slots: list[list] = [[None] * rows for _ in range(first_slot)]
    for i, row in enumerate(zip(*lists)):
        k = first_slot
        for value in row:
            if value is None:
                continue
            if len(slots) <= k:
                slots.append([None] * rows)
            slots[k][i] = value
            k += 1
    out: dict[str, pa.Array] = {}
    rank = 2
    for k in range(first_slot, len(slots)):
        if k == 0:
            label = name
        else:
            while overflow_name(name, rank) in taken:
                rank += 1
            label = overflow_name(name, rank)
            rank += 1
        out[label] = pa.array(slots[k], pa.string())
    if not reserved and not out:
        out[name] = pa.nulls(rows, pa.string())
    return out


def flatten_texts(payloads: list[str], reserved: frozenset[str] = frozenset()) -> tuple[list[dict], dict[int, str]]:
    """Flatten JSON object texts with the stage's rules; returns (rows without nulls, index -> error).

    For tests and exploration; the stage itself runs discover/extract on its batch in chunks.

    >>> flatten_texts(['{"event": {"userId": "u1"}, "tags": [1, 2]}'])[0]
    [{'event_userid': 'u1', 'tags': '[1,2]'}]
    """
    from leanops import duck
    with duck.connect() as con:
        con.register("texts", pa.table({"ord": pa.array(range(len(payloads)), pa.int64()),
                                        "json_payload": pa.array(payloads, pa.string())}))
        con.execute("CREATE TEMP TABLE objects AS SELECT * FROM texts").fetchall()
        shape = discover(con, "objects")
        errors = duplicate_key_rows(con, "objects", shape.duplicate_key_pointers)
        if errors:
            con.execute("DELETE FROM objects WHERE ord IN (SELECT unnest($1::BIGINT[]))", [list(errors)]).fetchall()
            shape = discover(con, "objects")
        plan = plan_columns(shape.leaf_paths, set(reserved))
        table = extract(con, "objects", shape, plan, ("ord",), 0, len(payloads) + 1)
    rows: list[dict] = [{} for _ in payloads]
    for record in table.to_pylist():
        index = record.pop("ord")
        rows[index] = {k: v for k, v in record.items() if v is not None}
    return rows, errors
