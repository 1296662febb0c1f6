"""Standardized stage: RAW (append-only) -> standardized.<topic> + standardized.parse_errors.

Contract (docs/standardized.md, design.md section 4):
  1. read the RAW data files added after the checkpoint snapshot (exclusive) up to the current one;
  2. drop network duplicates on message_id, first in ingestion order wins, also against rows already
     in Standardized or parse_errors whose publish_time is within `dedup_window_days` of the batch;
  3. invalid JSON, non-object payloads, payloads nested too deep or with too many keys
     (leanops.stages.limits) and objects with a repeated key -> parse_errors with a reason;
  4. flatten the rest to lower-case string columns (leanops.stages.flatten), apply `column_map`,
     add new columns to the table (rows whose new columns would pass its cap -> parse_errors);
  5. commit the rows with the RAW snapshot id consumed in the snapshot summary of the same commit.

parse_errors is another table, so it commits first, marked with the RAW range it covers; a rerun
after a crash between the two commits redoes exactly that range and does not write the errors twice.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Callable

import duckdb
import pyarrow as pa
from pyiceberg.expressions import And, EqualTo, GreaterThanOrEqual
from pyiceberg.io import FileIO
from pyiceberg.table import Table

from leanops import duck
from leanops.catalog import duck_writer
from leanops.catalog.commit import StagedAppend, append_with_retry, conform
from leanops.catalog.files import register_parquet
from leanops.catalog.schemas import META_COLUMNS
from leanops.catalog.tables import Lakehouse, local_path
from leanops.config import Settings
from leanops.duck import json_kind_sql
from leanops.helper_columns import FILE, ORD, POS
from leanops.naming import ICEBERG_METADATA_COLUMNS
from leanops.schema_file import ShapeLimits, StandardizedSection
from leanops.stages import flatten
from leanops.stages import limits as shape_limits
from leanops.stages.checkpoint import Batch, OrphanErrors, StageRun, commit_summary, fault_point, plan_stage
from leanops.stages.incremental import current_snapshot_id
from leanops.stages.result import StageResult
from leanops.types import RunStatus

STAGE = "standardized"
RAW_COLUMNS = ("message_id", "topic_name", "json_payload", "publish_time", "ingestion_ts")


def run_standardized(lake: Lakehouse, settings: Settings, topic: str,
                     section: StandardizedSection, up_to: int | None = None) -> StageResult:
    """One batch: RAW snapshots after the checkpoint, up to `up_to` (the rebuilder pins it) or the head."""
    run = plan_run(lake, settings, topic, up_to)
    if isinstance(run, StageResult):
        return run
    batch = run.batch
    with duck.connect(settings.home / "tmp") as con:
        result = _process(con, lake, settings, topic, section, run.target, run.errors, batch)
    return result


def plan_run(lake: Lakehouse, settings: Settings, topic: str, up_to: int | None = None) -> StageRun | StageResult:
    """The RAW batch after the checkpoint, up to `up_to` (the rebuilder pins it) or the head.

    It may stop inside a RAW snapshot, even inside a file: an ingest is one commit whatever its size, and a
    run holds at most `max_batch_rows` RAW rows."""
    raw = lake.raw_table(topic)
    head = up_to if up_to is not None else current_snapshot_id(raw)
    table = lake.standardized_table(topic, create=raw is not None)
    return plan_stage(STAGE, topic, raw, table, lake.parse_errors_table(), head, settings.max_batch_rows,
                      within_snapshots=True)


def _load_fresh(con: duckdb.DuckDBPyConnection, files: list[str], known: pa.Table) -> tuple[int, int]:
    """New RAW rows (view `raw_batch`, `_register_batch`) -> temp table `fresh`, deduplicated FIFO.
    Returns (rows read, rows kept).

    ORD is the ingestion order: file order (commit order), then row order within the file.
    """
    con.execute("CREATE TEMP TABLE files AS SELECT * FROM unnest($1::VARCHAR[]) WITH ORDINALITY t(path, idx)",
                [files]).fetchall()
    con.register("known_ids", known)
    try:
        # dedup on the narrow (message_id, ORD) pairs, then keep the wide rows by ORD: a window over
        # the payloads themselves costs twice as much
        con.execute(
            "CREATE TEMP TABLE fresh AS WITH batch AS ("
            f"  SELECT (f.idx::BIGINT << 32) + r.{POS} AS {ORD}, r.message_id, r.topic_name, "
            "         r.json_payload, r.publish_time, r.ingestion_ts "
            "  FROM raw_batch r "
            f"  JOIN files f ON f.path = r.{FILE}) "
            f"SELECT * FROM batch WHERE {ORD} IN (SELECT min(b.{ORD}) FROM batch b "
            "  ANTI JOIN known_ids k ON k.message_id = b.message_id GROUP BY b.message_id)").fetchall()
    finally:
        con.unregister("known_ids")
    read = con.execute("SELECT count(*) FROM raw_batch").fetchall()[0][0]
    kept = con.execute("SELECT count(*) FROM fresh").fetchall()[0][0]
    return read, kept


def _empty_fresh(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE TEMP TABLE fresh ({ORD} BIGINT, message_id VARCHAR, topic_name VARCHAR, "
                "json_payload VARCHAR, publish_time TIMESTAMPTZ, ingestion_ts TIMESTAMPTZ)").fetchall()


def _register_batch(con: duckdb.DuckDBPyConnection, batch: Batch, io: FileIO) -> None:
    """View `raw_batch`: the batch's RAW rows with FILE and POS (local or S3 files); of a file the batch
    starts or stops inside, only its rows in the batch (POS keeps their place in the file)."""
    register_parquet(con, "raw_batch", batch.files, io, RAW_COLUMNS, row_ranges=batch.row_ranges)


def dedup_since(oldest: datetime, window_days: int) -> datetime:
    """The earliest publish_time the duplicate check looks back to from the batch's oldest row.

    Never before 0001-01-01: RAW takes publish_times from that day on, and a window reaching further
    back would not be a datetime."""
    floor = datetime.min.replace(tzinfo=oldest.tzinfo)
    return oldest - min(timedelta(days=window_days), oldest - floor)


def _batch_min_publish_time(con: duckdb.DuckDBPyConnection):
    return con.execute("SELECT min(publish_time) FROM raw_batch").fetchall()[0][0]


def _known_ids(table: Table, errors_table: Table, topic: str, since: datetime,
               orphan: OrphanErrors | None) -> pa.Table:
    """message_ids already landed (Standardized or parse_errors) with publish_time >= since.

    When redoing an orphaned range, its own parse errors are not "already landed": read the error
    table as it was before them.
    """
    window = GreaterThanOrEqual("publish_time", since.isoformat())
    std = table.scan(row_filter=window, selected_fields=("message_id",)).to_arrow()
    errors_as_of = orphan.before if orphan else None
    if orphan and errors_as_of is None:
        err = pa.table({"message_id": pa.array([], pa.string())})
    else:
        err = errors_table.scan(row_filter=And(EqualTo("topic_name", topic), window),
                                selected_fields=("message_id",), snapshot_id=errors_as_of).to_arrow()
    return pa.concat_tables([std.select(["message_id"]).cast(pa.schema([("message_id", pa.string())])),
                             err.select(["message_id"]).cast(pa.schema([("message_id", pa.string())]))])


def _process(con, lake, settings, topic, section, table, errors_table, batch: Batch) -> StageResult:
    result = StageResult(topic, STAGE, RunStatus.SUCCEEDED, source_snapshot_id=batch.to_id)
    files, orphan = batch.files, batch.orphan
    if files:
        _register_batch(con, batch, table.io)
        since = dedup_since(_batch_min_publish_time(con), settings.dedup_window_days)
        known = _known_ids(table, errors_table, topic, since, orphan)
        result.records_in, kept = _load_fresh(con, files, known)
    else:
        _empty_fresh(con)
        kept = 0
    result.records_duplicates = result.records_in - kept

    shape = screen(con, verify_leaves=not duck_writer.supports(table.metadata.location), limits=section.shape_limits)
    summary: dict[str, str] = {}

    def commit_errors() -> None:
        """The parse errors are final once the rows are written (the column cap may refuse some there)."""
        error_rows = duck.arrow(
            con,
            "SELECT f.topic_name, f.message_id, e.reason, coalesce(f.json_payload, '') AS raw_text, "
            f"f.publish_time, f.ingestion_ts, now() AS error_ts FROM fresh f JOIN errs e USING ({ORD}) ORDER BY {ORD}")
        result.records_errors = error_rows.num_rows
        result.records_written = kept - result.records_errors
        result.check_accountability()
        summary.update(commit_summary(result, batch))
        if orphan is None and error_rows.num_rows:
            append_with_retry(errors_table, conform(error_rows, errors_table.schema().as_arrow()), summary)
            fault_point("after-parse-errors-commit")

    result.target_snapshot_id, result.columns_added = write_objects(con, table, section, shape, summary,
                                                                    before_commit=commit_errors)
    fault_point("after-standardized-commit")
    return result


def write_objects(con: duckdb.DuckDBPyConnection, table: Table, section: StandardizedSection, shape: flatten.Shape,
                  summary: dict[str, str], before_commit: Callable[[], None] = lambda: None
                  ) -> tuple[int, tuple[str, ...]]:
    """Flatten the screened rows (view `objects`, see `screen`) into one commit of `table`.

    Returns the snapshot id and the columns it added. Rows that would take the table past its column
    cap move to `errs` here. `before_commit` runs once the data files are written and before the
    commit (the run commits its parse errors there, and may still fill `summary`); the parse-error
    replay writes its corrected rows through here too.
    """
    local = duck_writer.supports(table.metadata.location)  # written files can be checked before the commit
    staged = StagedAppend(table)
    shape, extraction, column_max = _flatten_and_write(con, staged, shape, section)
    # only a column whose greatest value starts with '{' or later can hold an object's JSON text
    suspects = [n for n in extraction.names if column_max.get(n) is None or column_max[n][:1] >= "{"]
    if local and flatten.hidden_objects(con, "objects", shape, [local_path(f.file_path) for f in staged.files],
                                        suspects):
        _discard(staged)  # nothing is committed yet: rediscover every path exactly and write again
        staged = StagedAppend(table)
        _, extraction, _ = _flatten_and_write(con, staged, flatten.discover(con, "objects"), section, exact=True)
    added = tuple(sorted(n for n in extraction.names if n not in {f.name for f in table.schema().fields}))
    before_commit()
    return staged.commit(summary), added


def reserved_columns(section: StandardizedSection) -> set[str]:
    """Names no payload path fills (its values start at `name__2`): the metadata columns, the `column_map`
    targets, and Iceberg's metadata column names, which no Iceberg table may have (leanops.naming)."""
    return set(META_COLUMNS) | set(section.column_map.values()) | ICEBERG_METADATA_COLUMNS


def _flatten_and_write(con: duckdb.DuckDBPyConnection, staged: StagedAppend, shape: flatten.Shape,
                       section: StandardizedSection, exact: bool = False
                       ) -> tuple[flatten.Shape, flatten.Extraction, dict[str, str]]:
    """Plan the columns (within the topic's cap), add the new ones to the (uncommitted) schema, write the
    data files. Returns the shape written (the cap may have refused rows), the extraction, the column maxima."""
    shape, extraction = _within_column_cap(con, staged, shape, section, exact)
    staged.add_string_columns(extraction.names)
    return shape, extraction, _write(con, staged, extraction)


def _extraction(con: duckdb.DuckDBPyConnection, shape: flatten.Shape, section: StandardizedSection,
                keep: tuple[str, ...] = META_COLUMNS) -> flatten.Extraction:
    plan = flatten.plan_columns(shape.leaf_paths, reserved_columns(section))
    return flatten.select_sql(con, "objects", shape, plan, keep, section.column_map)


def _within_column_cap(con: duckdb.DuckDBPyConnection, staged: StagedAppend, shape: flatten.Shape,
                       section: StandardizedSection, exact: bool) -> tuple[flatten.Shape, flatten.Extraction]:
    """The extraction of `objects`, after refusing the rows whose new columns would take the table past
    `max_columns` (they move to `errs`, see `limits.refuse_over_column_cap`).

    Costs nothing while the batch fits. Past the cap, the rows are judged on an exact shape (as the Spark
    engine has), and the shape is found again without the refused rows until the batch fits; new
    columns that no remaining row fills (JSON nulls only) are then left out.
    """
    cap = section.shape_limits.max_columns
    existing = {f.name for f in staged.txn.table_metadata.schema().fields}
    extraction = _extraction(con, shape, section)
    while len(existing | set(extraction.names)) > cap:
        if not exact:
            shape, exact = flatten.discover(con, "objects"), True
            extraction = _extraction(con, shape, section)
            continue
        new = [n for n in extraction.names if n not in existing]
        filled = shape_limits.filled_columns(con, _extraction(con, shape, section, keep=(ORD,)).sql, new)
        refused, admitted = shape_limits.refuse_over_column_cap(filled, max(cap - len(existing), 0), cap)
        if not refused:
            return shape, _narrowed(extraction, existing | admitted)
        _route_errors(con, refused)
        shape = flatten.discover(con, "objects")
        extraction = _extraction(con, shape, section)
    return shape, extraction


def _narrowed(extraction: flatten.Extraction, allowed: set[str]) -> flatten.Extraction:
    """The extraction without the columns not in `allowed` (the metadata columns stay)."""
    names = [n for n in extraction.names if n in allowed]
    columns = ", ".join(f'"{n}"' for n in (*META_COLUMNS, *names))  # names the extraction already validated
    return flatten.Extraction(f"SELECT {columns} FROM ({extraction.sql})", names)


def _discard(staged: StagedAppend) -> None:
    for data_file in staged.files:
        os.remove(local_path(data_file.file_path))
    staged.files, staged.rows = [], 0


def _write(con: duckdb.DuckDBPyConnection, staged: StagedAppend, extraction: flatten.Extraction) -> dict[str, str]:
    """Flattened rows into data files: DuckDB COPY for a local warehouse, the Arrow writer elsewhere.

    Returns the per-column maxima COPY reported (empty for the Arrow writer).
    """
    if duck_writer.supports(staged.txn.table_metadata.location):
        provided = set(META_COLUMNS) | set(extraction.names)
        rows = con.execute("SELECT count(*) FROM objects").fetchall()[0][0]
        written = duck_writer.copy_select(con, staged.txn, extraction.sql, provided, rows)
        staged.add_data_files(written.files)
        return written.column_max
    else:
        rows = duck.arrow(con, extraction.sql)
        staged.write(conform(rows, staged.arrow_schema))
        return {}


def screen(con: duckdb.DuckDBPyConnection, verify_leaves: bool = True,
           limits: ShapeLimits = ShapeLimits()) -> flatten.Shape:
    """Over temp table `fresh` (ORD, json_payload, ...): temp table `errs` (ORD, reason) of the rows that
    are not flattenable JSON objects, view `objects` of the rest, and the shape of `objects`.

    Payloads over the shape `limits` are measured first and never reach discovery: their cost (and the
    columns they would add) does not depend on how deep or wide they are.
    Rule set of parse_errors, shared by every engine (Spark runs it on each partition).
    """
    over = shape_limits.payload_errors(con, "fresh", limits)
    source = "fresh"
    if over:
        con.execute(f"CREATE TEMP TABLE over_limits AS SELECT unnest($1::BIGINT[]) AS {ORD}", [list(over)]).fetchall()
        con.execute("CREATE TEMP VIEW within_limits AS SELECT * FROM fresh "
                    f"WHERE {ORD} NOT IN (SELECT {ORD} FROM over_limits)").fetchall()
        source = "within_limits"
    shape = flatten.discover(con, source, verify_leaves=verify_leaves)  # also screens for non-objects
    _find_parse_errors(con, source, screen=not shape.clean)
    if over:
        _route_errors(con, over)
    if shape.duplicate_key_pointers:
        _route_errors(con, flatten.duplicate_key_rows(con, "objects", shape.duplicate_key_pointers))
        shape = flatten.discover(con, "objects", verify_leaves=verify_leaves)
    return shape


def _route_errors(con: duckdb.DuckDBPyConnection, errors: dict[int, str]) -> None:
    """Move rows of `objects` to `errs` (ORD -> reason); `objects` is then the rest of `fresh`."""
    con.execute("INSERT INTO errs SELECT unnest($1::BIGINT[]), unnest($2::VARCHAR[])",
                [list(errors), list(errors.values())]).fetchall()
    con.execute("CREATE OR REPLACE TEMP VIEW objects AS SELECT * FROM fresh "
                f"WHERE {ORD} NOT IN (SELECT {ORD} FROM errs)").fetchall()


def _find_parse_errors(con: duckdb.DuckDBPyConnection, relation: str, screen: bool) -> None:
    """Temp table `errs` (ORD, reason) of the payloads of `relation` that are not JSON objects; view
    `objects` of the rest.

    Discovery already scanned every payload; `screen` is False when it found only JSON objects, and
    then the screening scan is skipped.
    """
    if not screen:
        con.execute(f"CREATE TEMP TABLE errs ({ORD} BIGINT, reason VARCHAR)").fetchall()
        con.execute(f"CREATE TEMP VIEW objects AS SELECT * FROM {relation}").fetchall()
        return
    whitespace = "chr(32) || chr(9) || chr(10) || chr(13)"
    con.execute(
        f"CREATE TEMP TABLE errs AS SELECT {ORD}, reason FROM (SELECT {ORD}, CASE "
        "WHEN json_payload IS NULL THEN 'payload is missing' "
        "WHEN NOT json_valid(json_payload) THEN 'invalid JSON' "
        f"WHEN left(ltrim(json_payload, {whitespace}), 1) <> '{{' THEN "
        f"  'payload is a JSON ' || {json_kind_sql('json_type(json_payload)')} || ', not an object' "
        f"END AS reason FROM {relation}) WHERE reason IS NOT NULL").fetchall()
    con.execute(f"CREATE TEMP VIEW objects AS SELECT * FROM {relation} "
                f"WHERE {ORD} NOT IN (SELECT {ORD} FROM errs)").fetchall()
