"""Flatten JSON payloads into string columns, vectorised in DuckDB (the embedded engine's hot path).

Two steps over a relation of JSON-object texts (`$ord`, `json_payload`, ...):
  1. `discover`: find every key path. Levels are walked on a sample first, then ONE verification
     scan over all rows asks `json_keys` of every known object path at once (grouped by the answer,
     so a million rows with a handful of shapes cost one scan); only keys the sample missed cost
     more. A path the sample saw only as a scalar is checked in the extracted values instead
     (`hidden_objects`): the Standardized stage rediscovers exactly before committing if needed.
  2. `select_sql`: one SELECT that extracts every leaf with `json_extract_string(payload, [paths])`
     and names the columns. The stage streams it into Parquet with COPY; tests read it as Arrow.

Paths reach DuckDB as JSON pointers in session variables, never spliced into SQL; column names are
normalised identifiers (letters, digits, `_`) and are quoted. Naming, collisions and reserved
names follow `leanops.naming` and docs/standardized.md:
  - objects are walked; scalars and arrays are leaves (arrays as JSON text, booleans `true`/`false`,
    numbers exactly as written in the payload (`leanops.stages.numbers`), JSON null is a missing
    value); an empty object is the leaf `{}`;
  - a key that holds an object in some rows and a scalar in others: the scalar rows fill the column
    of the key itself, the object rows fill its children;
  - several paths that give one name share the column; when one row has values for more than one
    of them, the values go, in path order, to `name`, `name__2`, `name__3`, ...; a reserved name
    (metadata column, column_map target) is never filled from the payload (payload values start at
    `name__2`);
  - an object with the same key twice is ambiguous JSON: the row goes to parse_errors.
"""
from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from typing import Iterable

import duckdb
import pyarrow as pa

from leanops import duck
from leanops.helper_columns import EXACT_NUMBERS, JSON_TEXTS, ORD, STRINGS, Helper
from leanops.naming import column_name, json_pointer, overflow_name
from leanops.stages import numbers

Path = tuple[str, ...]
SAMPLE_ROWS = 20_000
_SAFE_NAME = re.compile(r"^\w+$")


@dataclasses.dataclass
class Shape:
    """What discovery found: value paths, which of them are also objects, pointers with repeated keys."""

    leaf_paths: list[Path]
    mixed_paths: set[Path]
    duplicate_key_pointers: list[str]
    clean: bool = True  # every row of the relation is a valid JSON object (no parse-error screening needed)
    object_paths: set[Path] = dataclasses.field(default_factory=set)  # paths holding a non-empty object

    @classmethod
    def union(cls, parts: Iterable["Shape"]) -> "Shape":
        """The shape of a relation from the shapes of its parts (a Spark job's partitions).

        Every fact is about single rows, so the whole is the union: a path is mixed when some row
        holds a scalar there and another an object, whichever parts those rows are in.
        """
        leaves: set[Path] = set()
        objects: set[Path] = set()
        pointers: list[str] = []
        clean = True
        for part in parts:
            leaves |= set(part.leaf_paths)
            objects |= part.object_paths
            pointers += [p for p in part.duplicate_key_pointers if p not in pointers]
            clean = clean and part.clean
        return cls(sorted(leaves, key=json_pointer), leaves & objects, pointers, clean, objects)


class _Walk:
    """Accumulates what key lists say about paths: objects, leaves, their children, repeated keys."""

    def __init__(self) -> None:
        self.objects: set[Path] = set()
        self.leaves: set[Path] = set()
        self.seen: set[Path] = {()}
        self.duplicate_pointers: list[str] = []

    def absorb(self, paths: list[Path], key_lists: list[list[str] | None]) -> list[Path]:
        """Record one row-shape; returns child paths not seen before."""
        new: list[Path] = []
        for path, keys in zip(paths, key_lists):
            if keys is None:
                continue
            if not keys:
                if path:  # an empty root object is an event without fields
                    self.leaves.add(path)
                continue
            self.objects.add(path)
            if len(set(keys)) != len(keys):
                pointer = _pointer(path)
                if pointer not in self.duplicate_pointers:
                    self.duplicate_pointers.append(pointer)
            for key in keys:
                child = path + (key,)
                if child not in self.seen:
                    self.seen.add(child)
                    new.append(child)
        return new


def _pointer(path: Path) -> str:
    return json_pointer(path) if path else "$"


IS_OBJECT = "left(ltrim(json_payload, chr(32) || chr(9) || chr(10) || chr(13)), 1) = '{'"


_KEY_LISTS = "SELECT try(json_keys(json_payload, $1::VARCHAR[])) AS ks FROM {relation}"


def _scan(con: duckdb.DuckDBPyConnection, relation: str, paths: list[Path],
          common: list | None = None) -> tuple[list[list], bool]:
    """Distinct `json_keys(payload, [paths])` answers of the JSON objects in the relation.

    Returns them and whether every row was a valid JSON object; other rows (invalid JSON, arrays,
    scalars, NULL) contribute nothing, so one scan both discovers and screens. `common`, an answer
    known to occur in the relation (usually most rows'), is compared instead of grouped: cheaper.
    """
    pointers = [_pointer(p) for p in paths]
    if common is None:
        rows = [ks for (ks,) in con.execute(f"SELECT ks FROM ({_KEY_LISTS.format(relation=relation)}) GROUP BY ks",
                                            [pointers]).fetchall()]
    else:
        rows = [common] + [ks for (ks,) in con.execute(
            f"SELECT ks FROM ({_KEY_LISTS.format(relation=relation)}) WHERE ks IS DISTINCT FROM $2::VARCHAR[][] "
            "GROUP BY ks", [pointers, common]).fetchall()]
    # invalid JSON gives NULL; arrays and scalars give no root keys, like {} does: only then is the
    # (rare) first-character test needed to tell an empty object from a non-object
    # (non-objects answer NULL for every key path, so they add nothing to discovery)
    clean = all(ks is not None for ks in rows)
    if clean and "$" in pointers and any(not ks[pointers.index("$")] for ks in rows):
        clean = not con.execute(f"SELECT count(*) FROM {relation} WHERE NOT ({IS_OBJECT})").fetchall()[0][0]
    return [ks for ks in rows if ks is not None], clean


def _most_common(con: duckdb.DuckDBPyConnection, sample: str, paths: list[Path]) -> list | None:
    """The sample's most frequent `json_keys` answer for `paths` (None for an empty sample)."""
    found = con.execute(f"SELECT ks FROM ({_KEY_LISTS.format(relation=sample)}) WHERE ks IS NOT NULL "
                        "GROUP BY ks ORDER BY count(*) DESC, ks LIMIT 1", [[_pointer(p) for p in paths]]).fetchall()
    return found[0][0] if found else None


def discover(con: duckdb.DuckDBPyConnection, relation: str, verify_leaves: bool = True) -> Shape:
    """Every key path of the JSON objects in `relation.json_payload`; other rows are ignored (see `clean`).

    With `verify_leaves=False` the exact pass asks only the object paths (half the work): a path the
    sample saw only as a scalar is not checked for being an object elsewhere, so the caller must
    check the extracted values (`hidden_objects`) and rediscover with `verify_leaves=True` if needed.
    """
    walk = _Walk()
    # the first objects make the sample: cheap to read, and the exact pass below fixes what they miss
    con.execute("CREATE OR REPLACE TEMP TABLE __leanops_sample AS SELECT json_payload FROM "
                f"{relation} WHERE json_valid(json_payload) AND {IS_OBJECT} LIMIT {SAMPLE_ROWS}").fetchall()
    level: list[Path] = [()]
    while level:  # cheap: levels on a sample
        new: list[Path] = []
        for key_lists in _scan(con, "__leanops_sample", level)[0]:
            new += walk.absorb(level, key_lists)
        level = new
    level = sorted(walk.seen if verify_leaves else walk.objects | {()}, key=_pointer)
    common = _most_common(con, "__leanops_sample", level)
    con.execute("DROP TABLE __leanops_sample").fetchall()
    clean = True
    while level:  # exact: every known path over every row; repeat only for what the sample missed
        new = []
        key_lists_seen, all_objects = _scan(con, relation, level, common)
        common = None  # it answered for those paths only
        clean = clean and all_objects
        for key_lists in key_lists_seen:
            new += walk.absorb(level, key_lists)
        level = new
    leaf_paths = sorted(walk.leaves, key=json_pointer)  # paths holding a non-object (or {}) in some row
    return Shape(leaf_paths, {p for p in leaf_paths if p in walk.objects}, walk.duplicate_pointers, clean,
                 set(walk.objects))


def hidden_objects(con: duckdb.DuckDBPyConnection, relation: str, shape: Shape, files: list[str],
                   columns: list[str]) -> bool:
    """Whether a path discovery took for a scalar holds a JSON object in some row of the batch.

    Such a value was extracted as JSON text starting with `{`: scan the written files for those
    (cheap, columnar), then ask only the candidate rows' payloads.
    """
    if not files or not columns:
        return False
    braces = " OR ".join(f"(starts_with({_ident(c)}, '{{') AND {_ident(c)} <> '{{}}')" for c in columns)
    candidates = con.execute(f"SELECT message_id FROM read_parquet($1::VARCHAR[], hive_partitioning = false) "
                             f"WHERE {braces}", [files]).fetchall()
    if not candidates:
        return False
    pointers = [json_pointer(p) for p in shape.leaf_paths if p not in shape.mixed_paths]
    found = con.execute(f"SELECT count(*) FROM {relation} WHERE message_id IN (SELECT unnest($1::VARCHAR[])) "
                        "AND list_contains(json_type(json_payload, $2::VARCHAR[]), 'OBJECT')",
                        [[m for (m,) in candidates], pointers]).fetchall()[0][0]
    return found > 0


def duplicate_key_rows(con: duckdb.DuckDBPyConnection, relation: str, pointers: list[str]) -> dict[int, str]:
    """ORD -> reason for rows holding an object with the same key twice."""
    found: dict[int, str] = {}
    for pointer in pointers:
        for ord_, keys in con.execute(
            f"SELECT {ORD}, json_keys(json_payload, $1) ks FROM {relation} "
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
    groups: dict[str, tuple[bool, list[Path]]]  # name -> (reserved, paths in pointer order)
    taken: set[str]


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


def _ident(name: str | Helper) -> str:
    if isinstance(name, Helper):
        return str(name)
    if not _SAFE_NAME.match(name):
        raise ValueError(f"unsafe column name {name!r}")
    return '"' + name + '"'


def _mixed_value(text: str) -> str:
    """SQL: the JSON text of a mixed path -> its string value; objects are left to the child columns."""
    return (f"CASE WHEN {text} IS NULL OR {text} = 'null' OR (left({text}, 1) = '{{' AND {text} <> '{{}}') "
            f"THEN NULL WHEN left({text}, 1) = '\"' THEN json_extract_string({text}, '$') ELSE {text} END")


@dataclasses.dataclass
class Extraction:
    """The SELECT of flattened columns over a relation, and the names it produces (in order)."""

    sql: str
    names: list[str]


def _values(con: duckdb.DuckDBPyConnection, shape: Shape) -> dict[Path, str]:
    """SQL for each leaf path's string value over `_extracted(...)`.

    Sets session variables `leanops_s`/`leanops_j` to the pointer lists (parameters, not SQL text)
    and defines `leanops_exact_numbers` for the same paths: EXACT_NUMBERS, the payload's own text of the
    numbers DuckDB would print otherwise, wins over DuckDB's.
    """
    string_paths = [p for p in shape.leaf_paths if p not in shape.mixed_paths]
    json_paths = [p for p in shape.leaf_paths if p in shape.mixed_paths]
    con.execute("SET VARIABLE leanops_s = $1::VARCHAR[]", [[json_pointer(p) for p in string_paths]]).fetchall()
    con.execute("SET VARIABLE leanops_j = $1::VARCHAR[]", [[json_pointer(p) for p in json_paths]]).fetchall()
    numbers.register(con, "leanops_exact_numbers", string_paths + json_paths)
    value: dict[Path, str] = {p: f"coalesce({EXACT_NUMBERS}[{i + 1}], {STRINGS}[{i + 1}])"
                              for i, p in enumerate(string_paths)}
    value.update({p: _mixed_value(f"coalesce({EXACT_NUMBERS}[{len(string_paths) + i + 1}], {JSON_TEXTS}[{i + 1}])")
                  for i, p in enumerate(json_paths)})
    return value


def _present(value: dict[Path, str], members: list[Path]) -> str:
    """SQL: the non-null values of colliding paths, in path order."""
    return f"list_filter([{', '.join(value[p] for p in members)}], lambda x: x IS NOT NULL)"


def group_slots(con: duckdb.DuckDBPyConnection, relation: str, shape: Shape, plan: ColumnPlan) -> dict[str, int]:
    """For each collision group, the most values one row of `relation` holds (numbered columns needed)."""
    value = _values(con, shape)
    return {name: _max_slots(con, relation, shape, _present(value, members))
            for name, (_, members) in plan.groups.items()}


def select_sql(con: duckdb.DuckDBPyConnection, relation: str, shape: Shape, plan: ColumnPlan,
               keep: tuple[str | Helper, ...], renames: dict[str, str],
               slots: dict[str, int] | None = None) -> Extraction:
    """Build the SELECT: `keep` columns, then one column per output name.

    `slots` (from `group_slots`) is measured on `relation` when not given; an engine that flattens a
    relation in parts measures the whole first, so every part gets the same columns.
    """
    if slots is None:
        slots = group_slots(con, relation, shape, plan)
    value = _values(con, shape)

    columns: list[tuple[str, str]] = [(plan.plain[p], value[p]) for p in plan.plain]
    for name, (reserved, members) in plan.groups.items():
        present = _present(value, members)
        first = 1 if reserved else 0
        rank = 2
        for slot in range(first, first + slots[name]):
            if slot == 0:
                label = name
            else:
                while overflow_name(name, rank) in plan.taken:
                    rank += 1
                label, rank = overflow_name(name, rank), rank + 1
            columns.append((label, f"({present})[{slot - first + 1}]"))
    columns = [(renames.get(name, name), expr) for name, expr in columns]
    select = [_ident(k) for k in keep] + [f"{expr} AS {_ident(name)}" for name, expr in columns]
    sql = f"SELECT {', '.join(select)} FROM {_extracted(relation, shape)}"
    return Extraction(sql, [name for name, _ in columns])


def _extracted(relation: str, shape: Shape) -> str:
    """The relation with its leaf values extracted, one parse per row for each kind of path present:
    STRINGS, JSON_TEXTS (mixed paths), and EXACT_NUMBERS, number texts as written, only for the (few)
    rows with a number DuckDB would print otherwise. A kind without paths is an empty list, not a
    parse that finds nothing (DuckDB parses the payload even for no path)."""
    mixed = [p for p in shape.leaf_paths if p in shape.mixed_paths]
    strings = (f"json_extract_string(json_payload, getvariable('leanops_s'))"
               if len(mixed) < len(shape.leaf_paths) else "[]::VARCHAR[]")
    json_texts = f"json_extract(json_payload, getvariable('leanops_j'))::VARCHAR[]" if mixed else "[]::VARCHAR[]"
    exact = f"CASE WHEN {numbers.LOSSY_ROW_SQL} THEN leanops_exact_numbers(json_payload) END" if shape.leaf_paths \
        else "NULL::VARCHAR[]"
    return f"(SELECT *, {strings} AS {STRINGS}, {json_texts} AS {JSON_TEXTS}, {exact} AS {EXACT_NUMBERS} FROM {relation})"


def _max_slots(con: duckdb.DuckDBPyConnection, relation: str, shape: Shape, present: str) -> int:
    """Most values one row holds among colliding paths (how many numbered columns are needed)."""
    sql = f"SELECT coalesce(max(len({present})), 0) FROM {_extracted(relation, shape)}"
    return int(con.execute(sql).fetchall()[0][0])


def flatten_texts(payloads: list[str], reserved: frozenset[str] = frozenset()) -> tuple[list[dict], dict[int, str]]:
    """Flatten JSON object texts with the stage's rules; returns (rows without nulls, index -> error).

    For tests and exploration; the stage runs the same discover/select_sql on its batch.

    >>> flatten_texts(['{"event": {"userId": "u1"}, "tags": [1, 2]}'])[0]
    [{'event_userid': 'u1', 'tags': '[1,2]'}]
    """
    with duck.connect() as con:
        con.register("texts", pa.table({ORD.name: pa.array(range(len(payloads)), pa.int64()),
                                        "json_payload": pa.array(payloads, pa.string())}))
        con.execute("CREATE TEMP TABLE objects AS SELECT * FROM texts").fetchall()
        shape = discover(con, "objects")
        errors = duplicate_key_rows(con, "objects", shape.duplicate_key_pointers)
        if errors:
            con.execute(f"DELETE FROM objects WHERE {ORD} IN (SELECT unnest($1::BIGINT[]))", [list(errors)]).fetchall()
            shape = discover(con, "objects")
        plan = plan_columns(shape.leaf_paths, set(reserved))
        extraction = select_sql(con, "objects", shape, plan, (ORD,), {})
        table = duck.arrow(con, extraction.sql + f" ORDER BY {ORD}")
    rows: list[dict] = [{} for _ in payloads]
    for record in table.to_pylist():
        index = record.pop(ORD.name)
        rows[index] = {k: v for k, v in record.items() if v is not None}
    return rows, errors
