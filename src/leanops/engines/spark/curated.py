"""Curated stage on Spark: the contract of `leanops.stages.curated`, with Iceberg's `MERGE INTO`.

    Standardized range (Batch) --Iceberg incremental scan--> rows with ORD (`$ord`)
      -> partitions: CDE checks and casts (partitions.cast_rows, the DuckDB rules of stages.casting)
      -> failures -> curated.errors (committed first, marked with the range)
      -> latest wins in the batch: row_number() over the merge key by
         (order_by DESC NULLS LAST, ingestion_ts DESC, message_id DESC, ORD)
      -> against the table: a batch winner replaces the stored row only when it ranks higher
      -> MERGE INTO curated.<topic> (merge-on-read: position deletes) with the checkpoint in the summary

Table creation and schema evolution go through the same catalog code as the embedded engine, so the
table's columns, types, order and partitioning do not depend on which engine ran first.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from leanops.catalog.commit import StagedAppend
from leanops.catalog.tables import Lakehouse
from leanops.config import Settings
from leanops.engines.spark import partitions
from leanops.engines.spark.io import append, materialize, merge_into, read_batch, spark_name, spark_type
from leanops.helper_columns import (
    KEY_TEXT, ORD, RANK, REPLACES, STORED_ID, STORED_INGESTION, STORED_KEY, STORED_ORDER, error_field)
from leanops.schema_file import TopicSchema
from leanops.stages import casting, curated
from leanops.stages.checkpoint import commit_summary, fault_point
from leanops.stages.curated import META, STAGE, plan_run
from leanops.stages.incremental import current_snapshot_id
from leanops.stages.result import StageResult
from leanops.types import RunStatus

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


def run_curated(spark: "SparkSession", lake: Lakehouse, settings: Settings, topic: str,
                schema: TopicSchema) -> StageResult:
    from pyspark.sql import functions as F
    run = plan_run(lake, settings, topic)
    if isinstance(run, StageResult):
        return run
    section, batch, source, table = schema.curated, run.batch, run.source, run.target
    result = StageResult(topic, STAGE, RunStatus.SUCCEEDED, source_snapshot_id=batch.to_id)

    columns = curated.source_columns(source, batch.to_id)
    declared = {n: c for n, c in section.columns.items() if n not in META}
    undeclared = sorted(set(columns) - set(declared) - set(META))
    rows = read_batch(spark, lake.standardized_ident(topic), batch).select(ORD.spark, *[f"`{c}`" for c in columns])
    typed = materialize(_cast(rows, section, declared, columns, undeclared))
    result.records_in = typed.count()
    failed = typed.where(F.col(error_field("failures").spark).isNotNull())
    result.records_errors = failed.count()

    table = table or curated.create_table(lake, topic, section, declared, undeclared)
    staged = StagedAppend(table)  # schema changes commit alone; the MERGE then writes against them
    result.columns_added = curated.evolve(staged, declared, undeclared)
    staged.txn.commit_transaction()

    valid = typed.where(F.col(error_field("failures").spark).isNull())
    winners = materialize(_beat_stored(spark, lake.curated_ident(topic), _batch_winners(valid, section), section))
    result.records_written = winners.count()
    replaced = winners.where(F.col(REPLACES.spark)).count()
    result.records_superseded = result.records_in - result.records_errors - result.records_written
    result.check_accountability()

    summary = commit_summary(result, batch, superseded=result.records_superseded, replaced=replaced)
    if batch.orphan is None and result.records_errors:
        append(_error_rows(failed), lake.CURATED_ERRORS, summary)
        fault_point("after-curated-errors-commit")
    merge_into(spark, lake.curated_ident(topic), winners, section.merge_key, summary)
    result.target_snapshot_id = current_snapshot_id(lake.curated_table(topic))
    fault_point("after-curated-commit")
    result.message = f"{replaced} stored rows replaced by newer versions" if replaced else ""
    return result


def _cast(rows: "DataFrame", section, declared: dict, columns: list[str], undeclared: list[str]) -> "DataFrame":
    """Rows -> ORD, metadata, declared columns typed, undeclared strings, KEY_TEXT, the error fields."""
    from leanops.catalog.schemas import STANDARDIZED_META
    fields = [(ORD.name, "bigint")] + [(n, spark_type(t)) for n, t, _ in STANDARDIZED_META]
    fields += [(n, spark_type(casting.iceberg_type(c.type))) for n, c in declared.items()]
    fields += [(n, "string") for n in undeclared] + [(KEY_TEXT.name, "string")]
    fields += [(error_field(name).name, "string") for name in curated.ERROR_FIELDS]
    task = functools.partial(partitions.cast_rows, section.model_dump_json(by_alias=True), list(declared),
                             columns, undeclared, [n for n, _ in fields])
    return rows.mapInArrow(task, ", ".join(f"`{n}` {t}" for n, t in fields))


def _batch_winners(valid: "DataFrame", section) -> "DataFrame":
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    mk, ob = F.col(f"`{section.merge_key}`"), F.col(f"`{section.order_by}`")
    # the embedded engine's RANK_ORDER: order_by, then the later ingestion, the greater id, the first ORD
    window = Window.partitionBy(mk).orderBy(ob.desc_nulls_last(), F.col("ingestion_ts").desc(),
                                            F.col("message_id").desc(), F.col(ORD.spark).asc())
    return (valid.withColumn(RANK.name, F.row_number().over(window)).where(F.col(RANK.spark) == 1)
            .drop(RANK.name))


def _ranks_higher(batch_ob: "Column", stored_ob: "Column", batch_ing: "Column", stored_ing: "Column",
                  batch_id: "Column", stored_id: "Column") -> "Column":
    """Whether the batch row ranks strictly above the stored row (a complete tie keeps the stored row)."""
    ob_greater = batch_ob.isNotNull() & (stored_ob.isNull() | (batch_ob > stored_ob))
    tied = batch_ob.eqNullSafe(stored_ob)
    later = (batch_ing > stored_ing) | ((batch_ing == stored_ing) & (batch_id > stored_id))
    return ob_greater | (tied & later)


def _beat_stored(spark: "SparkSession", ident: str, winners: "DataFrame", section) -> "DataFrame":
    """Batch winners that are new keys or rank above the stored row of their key (REPLACES)."""
    from pyspark.sql import functions as F
    mk, ob = section.merge_key, section.order_by
    stored = spark.table(spark_name(ident)).select(
        F.col(f"`{mk}`").alias(STORED_KEY.name), F.col(f"`{ob}`").alias(STORED_ORDER.name),
        F.col("ingestion_ts").alias(STORED_INGESTION.name), F.col("message_id").alias(STORED_ID.name))
    joined = winners.join(stored, F.col(f"`{mk}`") == F.col(STORED_KEY.spark), "left")
    higher = _ranks_higher(F.col(f"`{ob}`"), F.col(STORED_ORDER.spark), F.col("ingestion_ts"),
                           F.col(STORED_INGESTION.spark), F.col("message_id"), F.col(STORED_ID.spark))
    return (joined.where(F.col(STORED_KEY.spark).isNull() | higher)
            .withColumn(REPLACES.name, F.col(STORED_KEY.spark).isNotNull())
            .drop(STORED_KEY.name, STORED_ORDER.name, STORED_INGESTION.name, STORED_ID.name))


def _error_rows(failed: "DataFrame") -> "DataFrame":
    from pyspark.sql import functions as F
    fields = [F.col(error_field(name).spark).alias(name) for name in curated.ERROR_FIELDS]
    return failed.select("topic_name", "message_id", *fields, "publish_time", "ingestion_ts",
                         F.current_timestamp().alias("error_ts"))

