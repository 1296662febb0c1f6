"""What Spark's Python workers run on each partition: the embedded engine's own DuckDB rules.

The contract's row-level rules (what is a parse error, how JSON flattens, how text casts to a
declared type) are defined once, as DuckDB SQL in `leanops.stages`. The Spark engine does not
re-implement them in Spark SQL, where a number would print differently or a timestamp grammar drift:
`DataFrame.mapInArrow` hands each partition to these functions as Arrow, they run the very same
SQL on it, and Spark does the rest (reads, shuffles, dedup, ranking, writes, MERGE).

Every function takes plain picklable arguments (bound with functools.partial) and an iterator of
Arrow record batches, and yields record batches of the schema its caller declared.
"""
from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa

from leanops import duck
from leanops.catalog.schemas import META_COLUMNS
from leanops.helper_columns import ERROR_PREFIX, FAILURES, ORD, error_field, sql_name
from leanops.schema_file import ShapeLimits
from leanops.stages import flatten, limits

OUTPUT_BATCH_ROWS = 16_384
SCREEN_SCHEMA = "kind string, ord bigint, text string"  # one row per parse error (ord: its ORD) or shape fact


def _load(con, batches: Iterator[pa.RecordBatch], name: str) -> int:
    """The partition's batches as temp table `name`; returns its row count."""
    batches = list(batches)
    if not batches:
        return 0
    con.register("__part", pa.Table.from_batches(batches))
    con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM __part").fetchall()
    con.unregister("__part")
    return sum(b.num_rows for b in batches)


def _facts(rows: list[tuple[str, int | None, str | None]]) -> pa.RecordBatch:
    kinds, ords, texts = zip(*rows) if rows else ((), (), ())
    return pa.RecordBatch.from_arrays([pa.array(kinds, pa.string()), pa.array(ords, pa.int64()),
                                       pa.array(texts, pa.string())], names=["kind", "ord", "text"])


def screen(limits: ShapeLimits, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """(ORD, json_payload) rows -> parse errors ('error', ORD, reason; payloads over `limits` too) and the
    shape of the rest ('leaf' / 'object', NULL, path as a JSON list; 'duplicate-key', NULL, pointer)."""
    from leanops.stages.standardized import screen as screen_rows
    with duck.connect() as con:
        if not _load(con, batches, "fresh"):
            return
        shape = screen_rows(con, verify_leaves=True, limits=limits)
        rows: list[tuple[str, int | None, str | None]] = [
            ("error", ord_, reason) for ord_, reason in con.execute(f"SELECT {ORD}, reason FROM errs").fetchall()]
    rows += [("leaf", None, json.dumps(list(p))) for p in shape.leaf_paths]
    rows += [("object", None, json.dumps(list(p))) for p in shape.object_paths]
    rows += [("duplicate-key", None, p) for p in shape.duplicate_key_pointers]
    yield _facts(rows)


def shape_from_facts(rows) -> flatten.Shape:
    """The batch's shape from the shape facts of every partition (rows with kind, text)."""
    leaves = [tuple(json.loads(r.text)) for r in rows if r.kind == "leaf"]
    objects = {tuple(json.loads(r.text)) for r in rows if r.kind == "object"}
    pointers = sorted({r.text for r in rows if r.kind == "duplicate-key"})
    return flatten.Shape.union([flatten.Shape(leaves, set(), pointers, True, objects)])


def slots(shape: flatten.Shape, plan: flatten.ColumnPlan,
          batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """(json_payload) rows -> ('slots', count, group name): numbered columns each collision group needs."""
    with duck.connect() as con:
        if not _load(con, batches, "objects"):
            return
        found = flatten.group_slots(con, "objects", shape, plan)
    yield _facts([("slots", n, name) for name, n in found.items()])


def filled_columns(shape: flatten.Shape, plan: flatten.ColumnPlan, column_map: dict[str, str],
                   group_slots: dict[str, int], names: list[str],
                   batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """(ORD, json_payload) rows -> ('filled', ORD, JSON list) of the `names` each row fills, for the rows
    that fill any (the column cap's input, `limits.refuse_over_column_cap`)."""
    with duck.connect() as con:
        if not _load(con, batches, "objects"):
            return
        extraction = flatten.select_sql(con, "objects", shape, plan, (ORD,), column_map, group_slots)
        filled = limits.filled_columns(con, extraction.sql, names)
    yield _facts([("filled", ord_, json.dumps(found)) for ord_, found in filled])


def flatten_rows(shape: flatten.Shape, plan: flatten.ColumnPlan, column_map: dict[str, str],
                 group_slots: dict[str, int], batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Fresh RAW rows (no parse errors) -> metadata columns + one string column per output name."""
    with duck.connect() as con:
        if not _load(con, batches, "objects"):
            return
        extraction = flatten.select_sql(con, "objects", shape, plan, META_COLUMNS, column_map, group_slots)
        yield from duck.arrow_batches(con, extraction.sql, OUTPUT_BATCH_ROWS)


def output_names(shape: flatten.Shape, plan: flatten.ColumnPlan, column_map: dict[str, str],
                 group_slots: dict[str, int]) -> list[str]:
    """The payload column names `flatten_rows` produces, in order (computed on the driver, no data)."""
    with duck.connect() as con:
        con.execute("CREATE TEMP TABLE objects (json_payload VARCHAR)").fetchall()
        return flatten.select_sql(con, "objects", shape, plan, (), column_map, group_slots).names


def cast_rows(section_json: str, declared: list[str], columns: list[str], undeclared: list[str],
              output: list[str], batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Standardized rows -> `output` columns: metadata, declared columns cast, undeclared strings, and
    for failing rows the curated.errors fields (helper_columns.error_field; NULL on a valid row)."""
    from leanops.schema_file import CuratedSection
    from leanops.stages import curated
    section = CuratedSection.model_validate_json(section_json)
    chosen = {n: section.columns[n] for n in declared}
    with duck.connect() as con:
        if not _load(con, batches, "batch"):
            return
        curated.cast_typed(con, section, chosen, set(columns), undeclared)
        yield from duck.arrow_batches(con, with_error_fields(output, "typed"), OUTPUT_BATCH_ROWS)


def with_error_fields(output: list[str], relation: str) -> str:
    """SELECT of `output` from a stage's relation of typed rows (curated `typed`, semantic `governed`):
    its columns, and the errors-table fields (helper_columns.error_field) of the rows that failed."""
    from leanops.stages.curated import ERROR_FIELDS
    errors = ", ".join(f"CASE WHEN len({FAILURES}) > 0 THEN {expr} END AS {error_field(name)}"
                       for name, expr in ERROR_FIELDS.items())
    names = [n for n in output if not n.startswith(ERROR_PREFIX)]
    return f"SELECT {', '.join(sql_name(n) for n in names)}, {errors} FROM {relation}"
