"""Semantic stage on Spark: the contract of `leanops.stages.semantic`, with Iceberg's `MERGE INTO`.

    Curated as of the handed-over snapshot, rows of the files the batch added (live: deletes applied)
      -> drift: samples (the smallest value as text) by Spark aggregates, logged through `on_drift`
      -> partitions: projection, casts and governance rules (stages.semantic.govern, DuckDB rules)
      -> semantic.errors first, then MERGE INTO semantic.<topic> (upsert by merge key)
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pyarrow as pa

from leanops import duck
from leanops.catalog.commit import StagedAppend
from leanops.catalog.schemas import STANDARDIZED_META
from leanops.catalog.tables import Lakehouse
from leanops.config import Settings
from leanops.engines.spark.io import append, materialize, merge_into, spark_name, spark_type
from leanops.engines.spark.partitions import with_error_fields
from leanops.helper_columns import FILE, ORD, STORED_KEY, error_field
from leanops.schema_file import SemanticSection, TopicSchema
from leanops.stages import casting, semantic
from leanops.stages.checkpoint import commit_summary, fault_point
from leanops.stages.curated import ERROR_FIELDS
from leanops.stages.result import StageResult
from leanops.stages.semantic import STAGE, Drift
from leanops.types import RunStatus

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def run_semantic(spark: "SparkSession", lake: Lakehouse, settings: Settings, topic: str, schema: TopicSchema,
                 up_to: int | None = None, on_drift: Callable[[Drift], None] = lambda d: None) -> StageResult:
    from pyspark.sql import functions as F
    run = semantic.plan_run(lake, settings, topic, up_to)
    if isinstance(run, StageResult):
        return run
    section, batch = schema.semantic, run.batch
    result = StageResult(topic, STAGE, RunStatus.SUCCEEDED, source_snapshot_id=batch.to_id)
    upstream = semantic.upstream_types(run.source, batch.to_id)
    changed = materialize(_changed_rows(spark, lake.curated_ident(topic), batch.to_id, batch.files, list(upstream)))
    samples = _samples(changed, semantic.sampled_columns(section, upstream))
    for drift in semantic.drift_of(section, upstream, batch.to_id, samples.get):
        on_drift(drift)

    governed = materialize(_govern(changed, section, upstream))
    failed = governed.where(F.col(error_field("failures").spark).isNotNull())
    result.records_in = governed.count()
    result.records_errors = failed.count()
    result.records_written = result.records_in - result.records_errors
    result.check_accountability()

    table = run.target or semantic.create_table(lake, topic, section)
    staged = StagedAppend(table)  # declared additions commit alone; the MERGE writes against them
    added = semantic.declared_additions(staged, section)
    staged.txn.commit_transaction()
    result.columns_added = tuple(section.all_columns) if run.target is None else added

    ident, key = lake.semantic_ident(topic), section.merge_key
    valid = governed.where(F.col(error_field("failures").spark).isNull())
    stored = spark.table(spark_name(ident)).select(F.col(f"`{key}`").alias(STORED_KEY.name))
    replaced = valid.join(stored, F.col(f"`{key}`") == F.col(STORED_KEY.spark), "left_semi").count()
    summary = commit_summary(result, batch, replaced=replaced)
    if batch.orphan is None and result.records_errors:
        fields = [F.col(error_field(name).spark).alias(name) for name in ERROR_FIELDS]
        append(failed.select("topic_name", "message_id", *fields, "publish_time", "ingestion_ts",
                             F.current_timestamp().alias("error_ts")), lake.SEMANTIC_ERRORS, summary)
        fault_point("after-semantic-errors-commit")
    merge_into(spark, ident, valid, key, summary)
    table.refresh()
    result.target_snapshot_id = table.current_snapshot().snapshot_id
    fault_point("after-semantic-commit")
    result.message = f"{replaced} stored rows replaced by newer versions" if replaced else ""
    return result


def _changed_rows(spark: "SparkSession", ident: str, snapshot_id: int, files: list[str],
                  columns: list[str]) -> "DataFrame":
    """Curated rows of the batch's data files still live at `snapshot_id`, numbered by ORD."""
    from pyspark.sql import functions as F
    table = spark.read.option("snapshot-id", str(snapshot_id)).table(spark_name(ident))
    wanted = spark.createDataFrame([(p,) for p in files] or [("",)], f"{FILE.spark} string")
    located = table.select(*[f"`{c}`" for c in columns],
                           F.regexp_replace("_file", "^file:(//)?", "").alias(FILE.name))
    return (located.join(F.broadcast(wanted), FILE.name, "left_semi").drop(FILE.name)
            .withColumn(ORD.name, F.monotonically_increasing_id()))


def _samples(changed: "DataFrame", columns: list[str]) -> dict[str, str | None]:
    """The smallest value of each column as text, as the embedded engine samples drift."""
    from pyspark.sql import functions as F
    if not columns:
        return {}
    row = changed.agg(*[F.min(F.col(f"`{c}`").cast("string")).alias(c) for c in columns]).first()
    return {c: (row[c][:semantic.SAMPLE_CHARS] if row[c] is not None else None) for c in columns}


def _govern(changed: "DataFrame", section: SemanticSection, upstream: dict[str, str]) -> "DataFrame":
    fields = [(n, spark_type(t)) for n, t, _ in STANDARDIZED_META]
    fields += [(n, spark_type(casting.iceberg_type(c.type))) for n, c in section.all_columns.items()]
    fields += [(error_field(name).name, "string") for name in ERROR_FIELDS]
    task = functools.partial(_govern_partition, section.model_dump_json(by_alias=True), upstream,
                             [n for n, _ in fields])
    return changed.mapInArrow(task, ", ".join(f"`{n}` {t}" for n, t in fields))


def _govern_partition(section_json: str, upstream: dict[str, str], output: list[str],
                      batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """One partition through `stages.semantic.govern` (the DuckDB rules), with the error fields."""
    section = SemanticSection.model_validate_json(section_json)
    batches = list(batches)
    if not batches:
        return
    with duck.connect() as con:
        con.register("__part", pa.Table.from_batches(batches))
        con.execute("CREATE TEMP TABLE changed AS SELECT * FROM __part").fetchall()
        con.unregister("__part")
        semantic.govern(con, section, upstream)
        yield from duck.arrow_batches(con, with_error_fields(output, "governed"), 16_384)

