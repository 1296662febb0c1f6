"""Semantic stage: curated.<topic> -> semantic.<topic> + semantic.errors; a governed, strict schema.

Contract (docs/semantic.md, design.md section 4, seed 004):
  1. read the Curated rows changed in the snapshots after the semantic checkpoint up to the snapshot
     the Curated step handed over (token passing: a Curated commit landing meanwhile waits for the
     next run, it is never skipped) — the rows added by those snapshots that are still live then;
  2. project the declared columns (`from`: the curated column, default the same name) and enforce
     their types: a curated column of another type is cast by the Curated casting rules;
  3. governance: a value that cannot be cast, a missing merge key, or a value against a declared
     rule (`allowed`, `min`, `max`, `pattern`) sends the row to semantic.errors with the reason
     (the stored version of its key stays);
  4. drift: an upstream column not declared, a type conflict or a missing source is recorded once
     in the drift log (through `on_drift`); the table never gains a column from data;
  5. upsert by merge key (Curated already chose the latest version, so the changed row replaces the
     stored one): append + position deletes, one commit with the checkpoint in its summary.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import duckdb
import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import NestedField

from leanops import duck
from leanops.catalog.commit import StagedAppend, append_with_retry, conform
from leanops.catalog.files import register_parquet
from leanops.catalog.partitioning import partition_spec
from leanops.catalog.pruning import files_for_keys
from leanops.catalog.row_delta import write_position_deletes
from leanops.catalog.schemas import STANDARDIZED_META
from leanops.catalog.tables import Lakehouse, local_path
from leanops.config import Settings
from leanops.errors import ConfigError
from leanops.helper_columns import CAST_FAILURES, FAILURES, FILE, KEY_TEXT, ORD, POS
from leanops.schema_file import CuratedColumn, SemanticSection, TopicSchema
from leanops.stages import casting
from leanops.stages.checkpoint import StageRun, commit_summary, fault_point, plan_stage
from leanops.stages.curated import ERROR_FIELDS, quote, source_columns
from leanops.stages.incremental import current_snapshot_id
from leanops.stages.position import Span
from leanops.stages.result import StageResult
from leanops.types import RunStatus

STAGE = "semantic"
META = tuple(name for name, _, _ in STANDARDIZED_META)
SAMPLE_CHARS = 200


@dataclasses.dataclass(frozen=True)
class Drift:
    """One drift observation; the drift log keeps the first of each (topic, column, kind)."""

    column: str
    kind: str  # undeclared_column | type_conflict | missing_source
    sample_value: str | None
    snapshot_id: int | None
    detail: str = ""


def plan_run(lake: Lakehouse, settings: Settings, topic: str, up_to: int | None = None) -> StageRun | StageResult:
    """The Curated batch after the semantic checkpoint, up to the handed-over snapshot `up_to`."""
    source = lake.curated_table(topic)
    head = up_to if up_to is not None else current_snapshot_id(source)
    return plan_stage(STAGE, topic, source, lake.semantic_table(topic), lake.semantic_errors_table(),
                      head, settings.max_batch_rows)


def run_semantic(lake: Lakehouse, settings: Settings, topic: str, schema: TopicSchema, up_to: int | None = None,
                 on_drift: Callable[[Drift], None] = lambda d: None) -> StageResult:
    run = plan_run(lake, settings, topic, up_to)
    if isinstance(run, StageResult):
        return run
    section, batch = schema.semantic, run.batch
    result = StageResult(topic, STAGE, RunStatus.SUCCEEDED, source_snapshot_id=batch.to_id)
    rows = _changed_rows(run.source, batch.to_id, set(batch.files))
    with duck.connect(settings.home / "tmp") as con:
        upstream = upstream_types(run.source, batch.to_id)
        load_changed(con, rows)
        for drift in drift_of(section, upstream, batch.to_id, lambda column: _sample(con, column)):
            on_drift(drift)
        return merge_changed(con, lake, topic, section, run.target, run.errors, upstream, batch,
                             batch.orphan, result)


def load_changed(con: duckdb.DuckDBPyConnection, rows: pa.Table) -> None:
    """Curated rows to project -> temp table `changed`, with ORD in their order."""
    con.register("changed_arrow", rows)
    con.execute(f"CREATE TEMP TABLE changed AS SELECT row_number() OVER () AS {ORD}, * FROM changed_arrow").fetchall()
    con.unregister("changed_arrow")


def merge_changed(con, lake: Lakehouse, topic: str, section: SemanticSection, target: Table | None, errors: Table,
                  upstream: dict[str, str], span: Span, orphan, result: StageResult, write_errors: bool = True,
                  summary_extra: Callable[[duckdb.DuckDBPyConnection], dict[str, str]] | None = None) -> StageResult:
    """The temp table `changed` governed and upserted into Semantic by merge key, in one commit.

    `write_errors=False` (a replay of rows already in semantic.errors) keeps rows that still fail out of
    the errors table; `summary_extra(con)` adds or overrides summary properties just before the commit."""
    govern(con, section, upstream)
    result.records_in = _count_rows(con, "changed")
    error_rows = duck.arrow(con, _errors_sql(section))
    result.records_errors = error_rows.num_rows
    result.records_written = result.records_in - result.records_errors
    result.check_accountability()

    table = target or create_table(lake, topic, section)
    staged = StagedAppend(table)
    added = declared_additions(staged, section)
    result.columns_added = tuple(section.all_columns) if target is None else added  # a new table: all
    deletes = _stored_positions(con, table, section.merge_key)
    columns = [f.name for f in staged.txn.table_metadata.schema().fields]
    staged.write(conform(duck.arrow(con, f"SELECT {', '.join(quote(c) for c in columns)} FROM governed "
                                         f"WHERE len({FAILURES}) = 0 ORDER BY {ORD}"), staged.arrow_schema))
    delete_files = write_position_deletes(table, deletes)
    replaced = sum(len(p) for _, p in deletes.values())
    result.records_superseded = 0
    summary = {**commit_summary(result, span, replaced=replaced),
               **(summary_extra(con) if summary_extra else {})}
    if write_errors and orphan is None and error_rows.num_rows:
        append_with_retry(errors, conform(error_rows, errors.schema().as_arrow()), summary)
        fault_point("after-semantic-errors-commit")
    result.target_snapshot_id = staged.commit(summary, delete_files)
    fault_point("after-semantic-commit")
    result.message = f"{replaced} stored rows replaced by newer versions" if replaced else ""
    return result


def _count_rows(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    return con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]


def _changed_rows(source: Table, snapshot_id: int, files: set[str]) -> pa.Table:
    """Rows of the batch's data files that are still live at `snapshot_id` (deletes applied)."""
    scan = source.scan(snapshot_id=snapshot_id)
    tasks = [t for t in scan.plan_files() if local_path(t.file.file_path) in files]
    schema = scan.projection()
    if not tasks:
        return schema.as_arrow().empty_table()
    return ArrowScan(source.metadata, source.io, schema, AlwaysTrue()).to_table(tasks)


def upstream_types(source: Table, snapshot_id: int) -> dict[str, str]:
    """Curated column -> its type as a schema-file type name (as of the batch's snapshot)."""
    names = source_columns(source, snapshot_id)
    fields = {f.name: f for f in source.schema().fields}
    return {n: casting.type_name(fields[n].field_type) for n in names if n in fields}


def _source(section: SemanticSection, name: str) -> str:
    return section.all_columns[name].source or name


def sampled_columns(section: SemanticSection, upstream: dict[str, str]) -> list[str]:
    """Upstream columns whose drift entry carries a sample value."""
    used = {_source(section, n) for n in section.all_columns}
    conflicts = [_source(section, n) for n, c in section.all_columns.items()
                 if _source(section, n) in upstream and upstream[_source(section, n)] != c.type]
    return sorted((set(upstream) - used - set(META)) | set(conflicts))


def drift_of(section: SemanticSection, upstream: dict[str, str], snapshot_id: int,
             sample: Callable[[str], str | None]) -> list[Drift]:
    """Undeclared upstream columns, type conflicts and missing sources of this batch."""
    used = {_source(section, n) for n in section.all_columns}
    found = []
    for column in sorted(set(upstream) - used - set(META)):
        found.append(Drift(column, "undeclared_column", sample(column), snapshot_id,
                           f"curated column of type {upstream[column]}, not declared in semantic.columns"))
    for name, spec in section.all_columns.items():
        source = _source(section, name)
        if source not in upstream:
            found.append(Drift(name, "missing_source", None, snapshot_id,
                               f"semantic column {name!r} comes from curated column {source!r}, which does not exist"))
        elif upstream[source] != spec.type:
            found.append(Drift(name, "type_conflict", sample(source), snapshot_id,
                               f"curated {source!r} is {upstream[source]}, semantic {name!r} is {spec.type}: "
                               "values are cast, failures go to semantic.errors"))
    return found


def _sample(con: duckdb.DuckDBPyConnection, column: str) -> str | None:
    """The smallest value as text: a sample every engine picks alike, whatever the row order."""
    rows = con.execute(f"SELECT min({quote(column)}::VARCHAR) FROM changed").fetchall()
    return rows[0][0][:SAMPLE_CHARS] if rows and rows[0][0] is not None else None


def govern(con: duckdb.DuckDBPyConnection, section: SemanticSection, upstream: dict[str, str]) -> None:
    """Temp table `governed`: ORD, metadata, the declared columns typed, KEY_TEXT, FAILURES."""
    same = {n for n, c in section.all_columns.items() if upstream.get(_source(section, n)) == c.type}
    cast = {n: CuratedColumn(type=c.type, cde=(n == section.merge_key))
            for n, c in section.all_columns.items() if n not in same}
    texts = [f"{quote(_source(section, n))}::VARCHAR AS {quote(n)}" for n in cast
             if _source(section, n) in upstream]
    typed = [f"{quote(_source(section, n))} AS {quote(n)}" for n in same]
    con.execute(f"CREATE TEMP TABLE projected AS SELECT {ORD}, {', '.join(quote(m) for m in META)}"
                + "".join(f", {t}" for t in typed + texts) + " FROM changed").fetchall()
    projection = casting.projection(con, cast, {n for n in cast if _source(section, n) in upstream})
    select = [str(ORD), *(quote(m) for m in META), *(quote(n) for n in same)]
    select += [f"{sql} AS {quote(name)}" for name, sql in projection.typed]
    key = section.merge_key
    con.execute(f"CREATE TEMP TABLE typed AS SELECT {', '.join(select)}, {projection.errors} AS {CAST_FAILURES} "
                "FROM projected").fetchall()
    rules = _rule_failures(con, section, same)
    key_check = (f"CASE WHEN {quote(key)} IS NULL AND len({CAST_FAILURES}) = 0 THEN "
                 f"[{{'column': '{key}', 'value': NULL::VARCHAR, 'reason': 'missing merge key'}}] ELSE [] END")
    con.execute(f"CREATE TEMP TABLE governed AS SELECT * EXCLUDE ({CAST_FAILURES}), "
                f"{quote(key)}::VARCHAR AS {KEY_TEXT}, "
                f"list_concat({CAST_FAILURES}, {key_check}, {rules}) AS {FAILURES} FROM typed").fetchall()


def _rule_failures(con: duckdb.DuckDBPyConnection, section: SemanticSection, same: set[str]) -> str:
    """SQL: the list of governance failures of a row. Rule values reach DuckDB as session variables."""
    parts = []
    for i, (name, spec) in enumerate(section.all_columns.items()):
        col = quote(name)
        text = f"{col}::VARCHAR"
        duck_type = casting.duck_type(spec.type)

        def failure(condition: str, reason_sql: str) -> str:
            return (f"CASE WHEN {col} IS NOT NULL AND ({condition}) THEN "
                    f"[{{'column': '{name}', 'value': {text}, 'reason': {reason_sql}}}] ELSE [] END")

        if spec.allowed is not None:
            con.execute(f"SET VARIABLE leanops_allowed_{i} = $1::VARCHAR[]", [list(spec.allowed)]).fetchall()
            parts.append(failure(f"NOT list_contains(getvariable('leanops_allowed_{i}'), {text})",
                                 "'not one of the allowed values'"))
        for bound, op in (("min", "<"), ("max", ">")):
            value = getattr(spec, bound)
            if value is not None:
                con.execute(f"SET VARIABLE leanops_{bound}_{i} = $1::VARCHAR", [str(value)]).fetchall()
                limit = f"getvariable('leanops_{bound}_{i}')"
                word = "below the minimum" if bound == "min" else "above the maximum"
                parts.append(failure(f"{col} {op} {_typed_literal(limit, spec.type, duck_type)}",
                                     f"'{word} ' || {limit}"))
        if spec.pattern is not None:
            con.execute(f"SET VARIABLE leanops_pattern_{i} = $1::VARCHAR", [spec.pattern]).fetchall()
            parts.append(failure(f"NOT regexp_full_match({text}, getvariable('leanops_pattern_{i}'))",
                                 f"'does not match the pattern ' || getvariable('leanops_pattern_{i}')"))
    return "list_concat(" + ", ".join(parts) + ")" if len(parts) > 1 else (parts[0] if parts else
                                                                           f"[]::{casting.ERROR_LIST_TYPE}")


def _typed_literal(text_sql: str, type_name: str, duck_type: str) -> str:
    """A rule bound (validated by the schema file against the type's casting rule) as a typed value."""
    if type_name == "timestamp":
        return f"{text_sql}::TIMESTAMPTZ"
    return f"{text_sql}::{duck_type}"


def _errors_sql(section: SemanticSection) -> str:
    fields = ", ".join(f"{expr} AS {name}" for name, expr in ERROR_FIELDS.items())
    return (f"SELECT topic_name, message_id, {fields}, publish_time, ingestion_ts, now() AS error_ts "
            f"FROM governed WHERE len({FAILURES}) > 0 ORDER BY {ORD}")


def table_schema(section: SemanticSection) -> Schema:
    """Metadata columns, then the declared columns in declaration order: nothing else, ever."""
    fields = [NestedField(i, name, typ, required=req) for i, (name, typ, req) in enumerate(STANDARDIZED_META, 1)]
    for name, column in section.all_columns.items():
        fields.append(NestedField(len(fields) + 1, name, casting.iceberg_type(column.type), required=False))
    return Schema(*fields)


def create_table(lake: Lakehouse, topic: str, section: SemanticSection) -> Table:
    schema = table_schema(section)
    try:
        spec = partition_spec(section.partitions, schema)
    except ValueError as exc:
        raise ConfigError(f"{topic}: semantic.partition_by: {exc}") from exc
    return lake.create_semantic_table(topic, schema, spec, table_properties(section))


def table_properties(section: SemanticSection) -> dict[str, str]:
    """Seed 004: bloom filter on the merge key; merge-on-read; strict schema (undeclared columns go to the
    drift log, never into the table). Set at create, and on `leanops deploy` for a table made before."""
    return {f"write.parquet.bloom-filter-enabled.column.{section.merge_key}": "true",
            "write.delete.mode": "merge-on-read", "write.update.mode": "merge-on-read",
            "write.merge.mode": "merge-on-read", "schema.auto-evolve": "false",
            "leanops.merge-key": section.merge_key}


def declared_additions(staged: StagedAppend, section: SemanticSection) -> tuple[str, ...]:
    """Columns the schema file declares and the table lacks (the file is the approved DDL); a changed
    type is refused: that is a NUCLEAR_RESET (leanops deploy)."""
    current = {f.name: f for f in staged.txn.table_metadata.schema().fields}
    for name, column in section.all_columns.items():
        if name in current and current[name].field_type != casting.iceberg_type(column.type):
            raise ConfigError(f"semantic column {name!r} is {current[name].field_type} in the table but "
                              f"{column.type} in the schema file; a type change needs a NUCLEAR_RESET")
    new = [(n, c) for n, c in section.all_columns.items() if n not in current]
    if new:
        with staged.txn.update_schema() as update:
            for name, column in new:
                update.add_column(name, casting.iceberg_type(column.type))
    return tuple(n for n, _ in new)


def _stored_positions(con: duckdb.DuckDBPyConnection, table: Table, key: str) -> dict[str, tuple]:
    """Live stored rows whose key has a valid changed row: {data-file URI: (DataFile, positions)}.

    Only the files that may hold one of the keys are read (leanops.catalog.pruning)."""
    if table.current_snapshot() is None:
        return {}
    keys = duck.arrow(con, f"SELECT DISTINCT {quote(key)}::VARCHAR AS k FROM governed WHERE len({FAILURES}) = 0")["k"]
    found = files_for_keys(table, key, keys)
    by_path = {local_path(f.path): f.data_file for f in found.data}
    delete_paths = sorted({local_path(d.path) for d in found.deletes})
    if not by_path:
        return {}
    register_parquet(con, "stored_files", sorted(by_path), table.io, [key])
    if delete_paths:
        register_parquet(con, "stored_deletes", delete_paths, table.io, ["file_path", "pos"])
    deleted = ("SELECT regexp_replace(file_path, '^file:(//)?', '') AS file_path, pos FROM stored_deletes"
               if delete_paths else "SELECT NULL::VARCHAR AS file_path, NULL::BIGINT AS pos WHERE false")
    rows = con.execute(
        f"WITH dels AS ({deleted}) SELECT d.{FILE}, list(d.{POS} ORDER BY d.{POS}) "
        f"FROM stored_files d WHERE d.{quote(key)} IN (SELECT {quote(key)} FROM governed "
        f"WHERE len({FAILURES}) = 0) AND NOT EXISTS (SELECT 1 FROM dels WHERE dels.file_path = d.{FILE} "
        f"AND dels.pos = d.{POS}) GROUP BY d.{FILE}").fetchall()
    return {by_path[path].file_path: (by_path[path], positions) for path, positions in rows}
