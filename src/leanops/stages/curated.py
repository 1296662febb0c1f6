"""Curated stage: standardized.<topic> (append-only) -> curated.<topic> + curated.errors.

Contract (docs/curated.md, design.md section 4):
  1. read the Standardized data files added after the checkpoint snapshot (exclusive) up to the
     current one — Standardized is append-only, so this is the same snapshot-incremental read as RAW;
  2. validate every CDE and cast the declared columns (leanops.stages.casting); a row with any
     failure, or without a merge key, goes whole to curated.errors with the column, value and reason;
  3. latest wins per merge key, within the batch and against the table: the greatest `order_by`,
     then the later ingestion (ingestion_ts), then the greater message_id; rows that lose are
     counted as superseded, never written;
  4. MERGE by row delta: the winners are appended and the stored rows they replace are marked
     deleted by position (merge-on-read), so the cost follows the batch, not the table;
  5. one commit carries the new files, the delete files and the checkpoint.
"""
from __future__ import annotations

from typing import Callable

import duckdb
from pyiceberg.io import FileIO
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
from leanops.helper_columns import (
    CAST_FAILURES, FAILURES, FILE, KEY, KEY_TEXT, ORD, ORDER_VALUE, POS, RANK, WINS)
from leanops.schema_file import CuratedSection, TopicSchema
from leanops.stages import casting
from leanops.stages.checkpoint import OrphanErrors, StageRun, commit_summary, fault_point, plan_stage
from leanops.stages.incremental import current_snapshot_id
from leanops.stages.position import Span
from leanops.stages.result import StageResult
from leanops.types import RunStatus

STAGE = "curated"
META = tuple(name for name, _, _ in STANDARDIZED_META)
TIE_BREAKERS = ("ingestion_ts", "message_id")  # after order_by: the later ingestion, then the greater id
# a complete tie keeps the stored row (ORD NULL), then the first ingested batch row: never a coin toss
RANK_ORDER = (f"{ORDER_VALUE} DESC NULLS LAST, " + ", ".join(f"{c} DESC" for c in TIE_BREAKERS)
              + f", {ORD} ASC NULLS FIRST")


def quote(name: str) -> str:
    """Quote a validated identifier (schema-file names and table columns are `\\w+`)."""
    if not name.replace("_", "a").isalnum():
        raise ConfigError(f"unsafe column name {name!r}")
    return f'"{name}"'


def table_properties(section: CuratedSection) -> dict[str, str]:
    """Seed 004: bloom filter on the merge key; merge-on-read deletes; auto-evolve (new columns are
    carried as strings). Set at create, and on `leanops deploy` for a table made before."""
    return {
        f"write.parquet.bloom-filter-enabled.column.{section.merge_key}": "true",
        "schema.auto-evolve": "true",
        "write.delete.mode": "merge-on-read",
        "write.update.mode": "merge-on-read",
        "write.merge.mode": "merge-on-read",
        "leanops.merge-key": section.merge_key,
        "leanops.order-by": section.order_by,
    }


def run_curated(lake: Lakehouse, settings: Settings, topic: str, schema: TopicSchema) -> StageResult:
    run = plan_run(lake, settings, topic)
    if isinstance(run, StageResult):
        return run
    section, batch = schema.curated, run.batch
    result = StageResult(topic, STAGE, RunStatus.SUCCEEDED, source_snapshot_id=batch.to_id)
    with duck.connect(settings.home / "tmp") as con:
        return _process(con, lake, topic, section, run.target, run.errors, batch.files,
                        source_columns(run.source, batch.to_id), batch, batch.orphan, result,
                        run.source.io)


def plan_run(lake: Lakehouse, settings: Settings, topic: str) -> StageRun | StageResult:
    """The Standardized batch after the Curated checkpoint."""
    source = lake.standardized_table(topic)
    return plan_stage(STAGE, topic, source, lake.curated_table(topic), lake.curated_errors_table(),
                      current_snapshot_id(source), settings.max_batch_rows)


def source_columns(source: Table, snapshot_id: int) -> list[str]:
    """The Standardized columns a batch offers: the table's schema as of the batch's last snapshot.

    Not the columns of the batch's files: which columns a file carries is a writer's detail (DuckDB
    writes the batch's own, Spark every column), and the Curated result must not depend on it.
    """
    snapshot = source.snapshot_by_id(snapshot_id)
    schemas = source.schemas()
    schema = schemas.get(snapshot.schema_id) if snapshot and snapshot.schema_id is not None else None
    return [f.name for f in (schema or source.schema()).fields]


def _process(con, lake, topic, section, table, errors_table, files, columns: list[str], span: Span,
             orphan: OrphanErrors | None, result: StageResult, io: FileIO | None = None) -> StageResult:
    available = _load_batch(con, files, columns, io)
    return merge_batch(con, lake, topic, section, table, errors_table, available, span, orphan, result)


def merge_batch(con, lake, topic, section, table, errors_table, available: set[str], span: Span,
                orphan: OrphanErrors | None, result: StageResult, write_errors: bool = True,
                summary_extra: Callable[[duckdb.DuckDBPyConnection], dict[str, str]] | None = None) -> StageResult:
    """The temp table `batch` (see _load_batch) cast, checked and merged into Curated in one commit.

    `write_errors=False` (a replay of rows already in curated.errors) keeps rows that still fail out
    of the errors table instead of recording them a second time; `summary_extra(con)` adds summary
    properties computed from the cast rows (temp table `typed`) just before the commit."""
    declared = {n: c for n, c in section.columns.items() if n not in META}
    undeclared = sorted(available - set(declared) - set(META))
    cast_typed(con, section, declared, available, undeclared)
    result.records_in = _count(con, "typed")
    error_rows = duck.arrow(con, _ERRORS_SQL)
    result.records_errors = error_rows.num_rows

    table = table or create_table(lake, topic, section, declared, undeclared)
    staged = StagedAppend(table)
    result.columns_added = evolve(staged, declared, undeclared)
    stored = _stored_keys(con, staged, section)
    inserts, deletes = _latest_wins(con, section, stored)
    result.records_written = inserts
    result.records_superseded = result.records_in - result.records_errors - inserts
    result.check_accountability()

    columns = [f.name for f in staged.txn.table_metadata.schema().fields]
    rows = duck.arrow(con, f"SELECT {', '.join(quote(c) for c in columns)} FROM typed "
                           f"WHERE {RANK} = 1 AND {WINS} ORDER BY {ORD}")
    staged.write(conform(rows, staged.arrow_schema))
    delete_files = write_position_deletes(table, deletes)
    replaced = sum(len(p) for _, p in deletes.values())
    summary = {**commit_summary(result, span, superseded=result.records_superseded, replaced=replaced),
               **(summary_extra(con) if summary_extra else {})}
    if write_errors and orphan is None and error_rows.num_rows:
        append_with_retry(errors_table, conform(error_rows, errors_table.schema().as_arrow()), summary)
        fault_point("after-curated-errors-commit")
    result.target_snapshot_id = staged.commit(summary, delete_files)
    fault_point("after-curated-commit")
    result.message = f"{replaced} stored rows replaced by newer versions" if replaced else ""
    return result


def _count(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    return con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]


def _load_batch(con: duckdb.DuckDBPyConnection, files: list[str], columns: list[str],
                io: FileIO | None = None) -> set[str]:
    """New Standardized rows -> relation `batch` with ORD (file order, row order) and exactly `columns`
    (those no file of the batch carries are NULL); returns them. `io` reads remote files.

    `batch` is a view over the files: the cast (`cast_typed`) reads them in the same pass that casts,
    and the batch is never held twice in DuckDB.
    """
    if not files:
        con.execute(f"CREATE TEMP TABLE batch ({ORD} BIGINT, message_id VARCHAR, topic_name VARCHAR, "
                    "publish_time TIMESTAMPTZ, ingestion_ts TIMESTAMPTZ)").fetchall()
        for name in columns:
            if name not in set(META):
                con.execute(f"ALTER TABLE batch ADD COLUMN {quote(name)} VARCHAR").fetchall()
        return set(columns)
    con.execute("CREATE TEMP TABLE files AS SELECT * FROM unnest($1::VARCHAR[]) WITH ORDINALITY t(path, idx)",
                [files]).fetchall()
    register_parquet(con, "standardized_batch", files, io)
    present = {row[0] for row in con.execute("DESCRIBE standardized_batch").fetchall()}
    absent = "".join(f", NULL::VARCHAR AS {quote(name)}" for name in columns if name not in present)
    con.execute(f"CREATE TEMP VIEW batch AS SELECT (f.idx::BIGINT << 32) + s.{POS} AS {ORD}, "
                f"s.* EXCLUDE ({FILE}, {POS}){absent} "
                f"FROM standardized_batch s JOIN files f ON f.path = s.{FILE}").fetchall()
    return set(columns)


def cast_typed(con, section: CuratedSection, declared: dict, available: set[str], undeclared: list[str]) -> None:
    """Temp table `typed`: ORD, metadata, declared columns cast, undeclared strings, KEY_TEXT, FAILURES,
    and RANK / WINS for `_latest_wins`; one pass over `batch` (a table or a view)."""
    projection = casting.projection(con, declared, available, shared=True)
    mk = section.merge_key
    key_text = quote(mk) if mk in available else "NULL::VARCHAR"
    key_value = quote(mk) if mk in declared else key_text  # over the cast row: the typed key
    missing_key = (f"CASE WHEN len({CAST_FAILURES}) = 0 AND {key_value} IS NULL "
                   f"THEN [{{'column': '{mk}', 'value': NULL::VARCHAR, 'reason': 'missing merge key'}}] "
                   "ELSE [] END")
    select = [str(ORD)] + [quote(m) for m in META]
    select += [f"{expr} AS {quote(name)}" for name, expr in projection.typed]
    select += [quote(name) for name in undeclared]
    select += [f"{key_text}::VARCHAR AS {KEY_TEXT}"]
    # inside out: each column's rule runs once, its value and failure are picked, the merge-key check is added
    con.execute(f"CREATE TEMP TABLE typed AS SELECT * EXCLUDE ({CAST_FAILURES}), "
                f"list_concat({CAST_FAILURES}, {missing_key}) AS {FAILURES}, "
                f"false AS {WINS}, 0::BIGINT AS {RANK} "
                f"FROM (SELECT {', '.join(select)}, {projection.errors} AS {CAST_FAILURES} "
                f"FROM {projection.source('batch')})").fetchall()


# curated.errors columns computed from a row of `typed` whose FAILURES is not empty (every engine; the
# Spark engine carries them through its partitions as helper_columns.error_field(name))
ERROR_FIELDS = {
    "idempotency_key": f"coalesce({KEY_TEXT}, '')",
    "column_name": f"{FAILURES}[1].column",
    "value": f"coalesce({FAILURES}[1].value, '')",
    "reason": f"{FAILURES}[1].reason",
    "failures": f"to_json({FAILURES})::VARCHAR",
}
_ERRORS_SQL = ("SELECT topic_name, message_id, "
               + ", ".join(f"{expr} AS {name}" for name, expr in ERROR_FIELDS.items())
               + f", publish_time, ingestion_ts, now() AS error_ts FROM typed WHERE len({FAILURES}) > 0 "
               f"ORDER BY {ORD}")


def create_table(lake: Lakehouse, topic: str, section: CuratedSection, declared: dict,
                  undeclared: list[str]) -> Table:
    fields = [NestedField(i, name, typ, required=req) for i, (name, typ, req) in enumerate(STANDARDIZED_META, 1)]
    for name, column in declared.items():
        fields.append(NestedField(len(fields) + 1, name, casting.iceberg_type(column.type), required=False))
    from pyiceberg.types import StringType
    for name in undeclared:
        fields.append(NestedField(len(fields) + 1, name, StringType(), required=False))
    schema = Schema(*fields)
    try:
        spec = partition_spec(section.partitions, schema)
    except ValueError as exc:
        raise ConfigError(f"{topic}: curated.partition_by: {exc}") from exc
    return lake.create_curated_table(topic, schema, spec, table_properties(section))


def evolve(staged: StagedAppend, declared: dict, undeclared: list[str]) -> tuple[str, ...]:
    """New declared columns (typed) and new undeclared columns (strings); a changed type is refused."""
    current = {f.name: f for f in staged.txn.table_metadata.schema().fields}
    for name, column in declared.items():
        wanted = casting.iceberg_type(column.type)
        if name in current and current[name].field_type != wanted:
            raise ConfigError(f"curated column {name!r} is {current[name].field_type} in the table but "
                              f"{column.type} in the schema file; deploy the change (a type change needs "
                              "a SCHEMA_EVOLVE or NUCLEAR_RESET)")
    new_typed = [(n, c) for n, c in declared.items() if n not in current]
    if new_typed:
        with staged.txn.update_schema() as update:
            for name, column in new_typed:
                update.add_column(name, casting.iceberg_type(column.type))
    return tuple(n for n, _ in new_typed) + tuple(staged.add_string_columns(undeclared))


def _stored_keys(con: duckdb.DuckDBPyConnection, staged: StagedAppend, section: CuratedSection) -> dict[str, object]:
    """Temp table `stored`: live stored rows whose key is in the batch, with file and position.

    Only the files that may hold a batch key are read (leanops.catalog.pruning: the key's bucket
    partitions and the files' key bounds), and of those only the key, order and tie-break columns,
    skipping rows that earlier position deletes removed. Returns {local path: DataFile} of those files.
    """
    table = staged.table
    con.execute(f"CREATE TEMP TABLE stored ({FILE} VARCHAR, {POS} BIGINT, {KEY} VARCHAR, {ORDER_VALUE} VARCHAR, "
                "ingestion_ts TIMESTAMPTZ, message_id VARCHAR)").fetchall()
    if table.current_snapshot() is None:
        return {}
    mk, ob = quote(section.merge_key), quote(section.order_by)
    keys = duck.arrow(con, f"SELECT DISTINCT {mk}::VARCHAR AS k FROM typed WHERE len({FAILURES}) = 0")["k"]
    found = files_for_keys(table, section.merge_key, keys)
    by_path = {local_path(f.path): f.data_file for f in found.data}
    delete_paths = sorted({local_path(d.path) for d in found.deletes})
    if by_path:
        register_parquet(con, "stored_files", sorted(by_path), table.io,
                         [section.merge_key, section.order_by, "ingestion_ts", "message_id"])
        if delete_paths:
            register_parquet(con, "stored_deletes", delete_paths, table.io, ["file_path", "pos"])
        deleted = ("SELECT regexp_replace(file_path, '^file:(//)?', '') AS file_path, pos FROM stored_deletes"
                   if delete_paths else "SELECT NULL::VARCHAR AS file_path, NULL::BIGINT AS pos WHERE false")
        con.execute("CREATE OR REPLACE TEMP TABLE stored AS "
                    f"WITH dels AS ({deleted}) "
                    f"SELECT d.{FILE}, d.{POS}, d.{mk} AS {KEY}, d.{ob} AS {ORDER_VALUE}, "
                    "d.ingestion_ts, d.message_id "
                    "FROM stored_files d "
                    f"WHERE d.{mk} IN (SELECT {mk} FROM typed WHERE len({FAILURES}) = 0) "
                    f"AND NOT EXISTS (SELECT 1 FROM dels WHERE dels.file_path = d.{FILE} "
                    f"AND dels.pos = d.{POS})").fetchall()
    return by_path


def _latest_wins(con: duckdb.DuckDBPyConnection, section: CuratedSection,
                 by_path: dict[str, object]) -> tuple[int, dict[str, tuple]]:
    """Rank the valid batch rows together with the stored rows of their keys; rank 1 wins.

    Marks `typed`'s WINS for batch rows that win; returns (rows to insert, stored rows to delete as
    {data-file URI: (DataFile, positions)}).
    """
    mk, ob = quote(section.merge_key), quote(section.order_by)
    has_stored = _count(con, "stored") > 0 if by_path else False
    stored_part = (f"UNION ALL SELECT NULL::BIGINT, {KEY}, {ORDER_VALUE}, ingestion_ts, message_id, {FILE}, {POS} "
                   "FROM stored" if has_stored else "")
    con.execute(
        f"CREATE TEMP TABLE contest AS SELECT *, row_number() OVER (PARTITION BY {KEY} "
        f"ORDER BY {RANK_ORDER}) AS {RANK} FROM ("
        f"SELECT {ORD}, {mk} AS {KEY}, {ob} AS {ORDER_VALUE}, ingestion_ts, message_id, "
        f"NULL::VARCHAR AS {FILE}, NULL::BIGINT AS {POS} "
        f"FROM typed WHERE len({FAILURES}) = 0 {stored_part})").fetchall()
    winners = f"SELECT {ORD} FROM contest WHERE {RANK} = 1 AND {ORD} IS NOT NULL"
    con.execute(f"UPDATE typed SET {RANK} = 1, {WINS} = true WHERE {ORD} IN ({winners})").fetchall()
    inserts = _count(con, f"typed WHERE {WINS}")
    deletes: dict[str, tuple] = {}
    if has_stored:
        rows = con.execute(f"SELECT c.{FILE}, list(c.{POS} ORDER BY c.{POS}) FROM contest c "
                           f"WHERE c.{ORD} IS NULL AND c.{KEY} IN (SELECT {KEY} FROM contest "
                           f"WHERE {RANK} = 1 AND {ORD} IS NOT NULL) GROUP BY c.{FILE}").fetchall()
        for path, positions in rows:
            data_file = by_path[path]
            deletes[data_file.file_path] = (data_file, positions)
    return inserts, deletes
