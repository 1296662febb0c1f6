"""Standardized stage on Spark: the contract of `leanops.stages.standardized`, distributed.

    RAW range (Batch) --Iceberg incremental scan--> rows with ORD (`$ord`)
      -> anti-join with message_ids already landed (7-day publish_time window), first ORD wins
      -> partitions: parse-error screen + shape facts        (partitions.screen, DuckDB rules, shape limits)
      -> driver: union of shapes -> column plan -> collision slots (partitions.slots)
      -> past the column cap: the new columns each row fills (partitions.filled_columns) -> refused
         rows join the parse errors, the rest is shaped again    (stages.limits, the embedded rule)
      -> add new string columns (catalog schema update, same order as the embedded engine)
      -> partitions: flatten (partitions.flatten_rows) -> append with the checkpoint in the summary

The batch planning (checkpoint, orphaned error commits, `max_batch_rows`) is the embedded engine's
own (`stages.checkpoint.plan_batch`), so both engines consume the same ranges and can take turns on
one table.
"""
from __future__ import annotations

import dataclasses
import functools
import json
from typing import TYPE_CHECKING

from leanops.catalog.commit import StagedAppend
from leanops.catalog.schemas import STANDARDIZED_META
from leanops.catalog.tables import Lakehouse
from leanops.config import Settings
from leanops.engines.spark import partitions
from leanops.helper_columns import ORD
from leanops.engines.spark.io import append, materialize, read_batch, spark_name, spark_type
from leanops.schema_file import ShapeLimits, StandardizedSection
from leanops.stages import flatten
from leanops.stages import limits as limits_rules
from leanops.stages.checkpoint import Batch, commit_summary, fault_point
from leanops.stages.incremental import current_snapshot_id
from leanops.stages.result import StageResult
from leanops.stages.standardized import STAGE, dedup_since, plan_run, reserved_columns
from leanops.types import RunStatus

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

FRESH_COLUMNS = (ORD.name, "message_id", "topic_name", "json_payload", "publish_time", "ingestion_ts")


def run_standardized(spark: "SparkSession", lake: Lakehouse, settings: Settings, topic: str,
                     section: StandardizedSection, up_to: int | None = None) -> StageResult:
    run = plan_run(lake, settings, topic, up_to)
    if isinstance(run, StageResult):
        return run
    batch, table = run.batch, run.target
    result = StageResult(topic, STAGE, RunStatus.SUCCEEDED, source_snapshot_id=batch.to_id)

    rows = read_batch(spark, lake.raw_ident(topic), batch).select(*[f"`{c}`" for c in FRESH_COLUMNS])
    fresh = materialize(_first_arrivals(spark, lake, settings, topic, rows, batch))
    result.records_in = rows.count()
    kept = fresh.count()
    result.records_duplicates = result.records_in - kept

    facts = _screen(fresh, section.shape_limits)
    errors = {r.ord: r.text for r in facts if r.kind == "error"}
    existing = {f.name for f in table.schema().fields}
    fit = _within_column_cap(spark, fresh, errors, section, partitions.shape_from_facts(facts), existing)
    result.records_errors = len(errors)
    result.records_written = kept - result.records_errors
    result.check_accountability()

    staged = StagedAppend(table)  # the schema change commits alone; Spark then writes against it
    result.columns_added = tuple(staged.add_string_columns(fit.kept))
    staged.txn.commit_transaction()

    summary = commit_summary(result, batch)
    if batch.orphan is None and errors:
        error_ords = spark.createDataFrame(sorted(errors.items()), f"{ORD.spark} bigint, reason string")
        error_rows = (fresh.join(error_ords, ORD.name)
                      .selectExpr("topic_name", "message_id", "reason", "coalesce(json_payload, '') AS raw_text",
                                  "publish_time", "ingestion_ts", "current_timestamp() AS error_ts"))
        append(error_rows, lake.PARSE_ERRORS, summary)
        fault_point("after-parse-errors-commit")
    schema = ", ".join([f"`{n}` {spark_type(t)}" for n, t, _ in STANDARDIZED_META]
                       + [f"`{n}` string" for n in fit.names])
    flat = fit.objects.mapInArrow(functools.partial(partitions.flatten_rows, fit.shape, fit.plan,
                                                    dict(section.column_map), fit.slots), schema)
    append(_table_columns(spark, flat, lake.standardized_ident(topic)), lake.standardized_ident(topic), summary)
    result.target_snapshot_id = current_snapshot_id(lake.standardized_table(topic))
    fault_point("after-standardized-commit")
    return result


def _first_arrivals(spark: "SparkSession", lake: Lakehouse, settings: Settings, topic: str,
                    rows: "DataFrame", batch: Batch) -> "DataFrame":
    """The batch without network duplicates: ids already landed within the window, then all but the
    first (smallest ORD) of each message_id."""
    from pyspark.sql import functions as F
    oldest = rows.agg(F.min("publish_time")).first()[0]
    if oldest is None:
        return rows
    since = dedup_since(oldest, settings.dedup_window_days)
    landed = (spark.table(spark_name(lake.standardized_ident(topic)))
              .where(F.col("publish_time") >= F.lit(since)).select("message_id"))
    if batch.orphan is None or batch.orphan.before is not None:
        errors = spark.read
        if batch.orphan is not None:  # redoing an orphaned range: its own errors are not "landed"
            errors = errors.option("snapshot-id", str(batch.orphan.before))
        landed = landed.unionByName(
            errors.table(spark_name(lake.PARSE_ERRORS))
            .where((F.col("topic_name") == F.lit(topic)) & (F.col("publish_time") >= F.lit(since)))
            .select("message_id"))
    new = rows.join(landed.distinct(), "message_id", "left_anti")
    first = new.groupBy("message_id").agg(F.min(ORD.spark).alias(ORD.name))
    return new.join(first, ["message_id", ORD.name], "left_semi").select(*[f"`{c}`" for c in FRESH_COLUMNS])


def _screen(rows: "DataFrame", limits: ShapeLimits) -> list:
    """The parse errors and shape facts of `rows` (partitions.screen on every partition)."""
    task = functools.partial(partitions.screen, limits)
    return rows.select(ORD.spark, "json_payload").mapInArrow(task, partitions.SCREEN_SCHEMA).collect()


def _without(spark: "SparkSession", fresh: "DataFrame", errors: dict[int, str]) -> "DataFrame":
    """The rows of `fresh` that are not `errors` (by ORD)."""
    refused = spark.createDataFrame([(o,) for o in errors], f"{ORD.spark} bigint")
    return fresh.join(refused, ORD.name, "left_anti")


@dataclasses.dataclass
class _Fit:
    """The rows to flatten and their columns: `names` as flattened, `kept` those the table is to have."""

    objects: "DataFrame"
    shape: flatten.Shape
    plan: flatten.ColumnPlan
    slots: dict[str, int]
    names: list[str]
    kept: list[str]


def _within_column_cap(spark: "SparkSession", fresh: "DataFrame", errors: dict[int, str],
                       section: StandardizedSection, shape: flatten.Shape, existing: set[str]) -> _Fit:
    """The rows of `fresh` to flatten, after moving to `errors` those whose new columns would take the
    table past `max_columns`: the embedded engine's rule (`stages.standardized._within_column_cap`) on
    the same exact shape, so both refuse the same rows."""
    limits = section.shape_limits
    while True:
        objects = _without(spark, fresh, errors)
        plan = flatten.plan_columns(shape.leaf_paths, reserved_columns(section))
        slots = _group_slots(objects, shape, plan)
        names = partitions.output_names(shape, plan, section.column_map, slots)
        if len(existing | set(names)) <= limits.max_columns:
            return _Fit(objects, shape, plan, slots, names, names)
        new = [n for n in names if n not in existing]
        task = functools.partial(partitions.filled_columns, shape, plan, dict(section.column_map), slots, new)
        filled = [(r.ord, json.loads(r.text)) for r in
                  objects.select(ORD.spark, "json_payload").mapInArrow(task, partitions.SCREEN_SCHEMA).collect()]
        refused, admitted = limits_rules.refuse_over_column_cap(
            filled, max(limits.max_columns - len(existing), 0), limits.max_columns)
        if not refused:  # the new columns left over hold only JSON nulls: they are left out
            return _Fit(objects, shape, plan, slots, names, [n for n in names if n in existing or n in admitted])
        errors.update(refused)
        shape = partitions.shape_from_facts(_screen(_without(spark, fresh, errors), limits))


def _group_slots(objects: "DataFrame", shape: flatten.Shape, plan: flatten.ColumnPlan) -> dict[str, int]:
    """Numbered columns each collision group needs: the largest count in any partition."""
    slots = {name: 0 for name in plan.groups}
    if slots:
        task = functools.partial(partitions.slots, shape, plan)
        for row in objects.select("json_payload").mapInArrow(task, partitions.SCREEN_SCHEMA).collect():
            slots[row.text] = max(slots[row.text], row.ord)
    return slots


def _table_columns(spark: "SparkSession", flat: "DataFrame", ident: str) -> "DataFrame":
    """`flat` with every column of the table (those this batch lacks are NULL), in table order."""
    from pyspark.sql import functions as F
    target = spark.table(spark_name(ident)).schema
    have = set(flat.columns)
    return flat.select([F.col(f"`{f.name}`") if f.name in have else F.lit(None).cast(f.dataType).alias(f.name)
                        for f in target.fields])
