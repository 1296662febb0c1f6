"""Spark reads and commits of lean-ops tables: incremental reads with the ingestion order, and
commits that carry the run's checkpoint in their snapshot summary.

- `read_batch`: the rows a `stages.checkpoint.Batch` covers, through Iceberg's snapshot-incremental
  scan (`start-snapshot-id` exclusive, `end-snapshot-id` inclusive; `snapshot-id` for a first run;
  the batch's `windows`), keeping only the batch's files and rows (a batch may hold part of a snapshot),
  with ORD (`$ord`) = (file's position in commit order << 32) + row position, exactly as the embedded
  engine numbers them. The file and row position come from Iceberg's metadata columns `_file` and
  `_pos`, which no table column can be named (leanops.naming.ICEBERG_METADATA_COLUMNS).
- `append`: DataFrameWriterV2 append with `snapshot-property.*` write options.
- `with_summary`: runs SQL (MERGE INTO) inside Iceberg's `CommitMetadata.withCommitProperties`, the
  Java API for summary properties on SQL commands. The callable crosses into Python through Py4J's
  callback server; PySpark's pinned-thread mode runs it on the same Java thread, so Iceberg's
  thread-local properties apply to the MERGE's commit.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from leanops.config import CATALOG_NAME
from leanops.helper_columns import END_ROW, FILE, FILE_INDEX, FIRST_ROW, ORD, POS
from leanops.stages.checkpoint import Batch

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def spark_name(ident: str) -> str:
    """`zone.table` -> the quoted Spark name in the lean-ops catalog (names are validated \\w+)."""
    namespace, table = ident.split(".")
    return f"{CATALOG_NAME}.`{namespace}`.`{table}`"


def spark_type(iceberg_type) -> str:
    """Spark SQL type of an Iceberg type used by lean-ops tables (timestamptz is Spark's TIMESTAMP)."""
    from pyiceberg import types as ice
    if isinstance(iceberg_type, ice.DecimalType):
        return f"decimal({iceberg_type.precision},{iceberg_type.scale})"
    names = {ice.StringType: "string", ice.IntegerType: "int", ice.LongType: "bigint", ice.DoubleType: "double",
             ice.BooleanType: "boolean", ice.DateType: "date", ice.TimestamptzType: "timestamp"}
    for cls, name in names.items():
        if isinstance(iceberg_type, cls):
            return name
    raise ValueError(f"no Spark type for {iceberg_type}")


def read_batch(spark: "SparkSession", ident: str, batch: Batch) -> "DataFrame":
    """The batch's rows of the append-only table `ident`, with ORD; no rows when it added no file.

    Iceberg's scans of the batch's windows (`stages.incremental.scan_windows`), of which only the batch's
    own files and rows are kept: a batch that starts or stops inside a snapshot (or a file) reads a part of
    it."""
    from functools import reduce

    from pyspark.sql import functions as F
    if not batch.files:
        schema = spark.table(spark_name(ident)).schema
        return spark.createDataFrame([], schema).withColumn(ORD.name, F.lit(None).cast("bigint"))
    scans = []
    for after, up_to in batch.windows:
        reader = spark.read
        if after is None:
            reader = reader.option("snapshot-id", str(up_to))
        else:
            reader = reader.option("start-snapshot-id", str(after)).option("end-snapshot-id", str(up_to))
        # `_file` is the manifest's URI; batch.files are local paths for a local warehouse (as local_path)
        scans.append(reader.table(spark_name(ident)).select(
            "*", F.regexp_replace("_file", "^file:(//)?", "").alias(FILE.name), F.col("_pos").alias(POS.name)))
    located = reduce(lambda a, b: a.unionByName(b), scans)
    # each file's place in the batch and the rows of it the batch holds [first, end)
    order = spark.createDataFrame([(i, s.path, s.first, s.end) for i, s in enumerate(batch.slices, start=1)],
                                  f"{FILE_INDEX.spark} bigint, {FILE.spark} string, {FIRST_ROW.spark} bigint, "
                                  f"{END_ROW.spark} bigint")
    return (located.join(F.broadcast(order), FILE.name)
            .where((F.col(POS.spark) >= F.col(FIRST_ROW.spark)) & (F.col(POS.spark) < F.col(END_ROW.spark)))
            .withColumn(ORD.name, F.shiftleft(F.col(FILE_INDEX.spark), 32) + F.col(POS.spark))
            .drop(FILE.name, FILE_INDEX.name, POS.name, FIRST_ROW.name, END_ROW.name))


def materialize(df: "DataFrame") -> "DataFrame":
    """Compute `df` once and keep it on the executors (memory, then disk) for the passes that follow.

    `localCheckpoint`, not `persist`: caching a plan over an Iceberg table through the CacheManager
    leaves a JDBC statement of the SQLite catalog open, and that read lock blocks every commit.
    """
    return df.localCheckpoint(eager=True)


def append(df: "DataFrame", ident: str, summary: dict[str, str]) -> None:
    """Append `df` (columns by name) in one snapshot carrying `summary`."""
    writer = df.writeTo(spark_name(ident))
    for key, value in summary.items():
        writer = writer.option(f"snapshot-property.{key}", value)
    writer.append()


class _JavaCallable:
    """A Python function as java.util.concurrent.Callable (through Py4J's callback server)."""

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.error: BaseException | None = None

    def call(self):
        try:
            self.fn()
        except BaseException as exc:  # surfaces in Python below, not as a Py4J callback failure
            self.error = exc
        return None

    class Java:
        implements = ["java.util.concurrent.Callable"]


def with_summary(spark: "SparkSession", summary: dict[str, str], action: Callable[[], None]) -> None:
    """Run `action` (Spark SQL) so that the snapshot it commits carries `summary`."""
    from pyspark.java_gateway import ensure_callback_server_started
    gateway = spark.sparkContext._gateway
    ensure_callback_server_started(gateway)
    jvm = spark.sparkContext._jvm
    properties = jvm.java.util.HashMap()
    for key, value in summary.items():
        properties.put(key, value)
    callable_ = _JavaCallable(action)
    jvm.org.apache.iceberg.spark.CommitMetadata.withCommitProperties(
        properties, callable_, jvm.java.lang.RuntimeException().getClass())
    if callable_.error is not None:
        raise callable_.error


def merge_into(spark: "SparkSession", ident: str, rows: "DataFrame", key: str, summary: dict[str, str]) -> None:
    """MERGE `rows` (one per key) into `ident` by `key`, in one snapshot carrying `summary`: a matched
    row is replaced (merge-on-read: a position delete), a new key inserted."""
    target = spark.table(spark_name(ident)).columns
    view = f"__leanops_merge_{ident.replace('.', '_')}"  # per table: concurrent topics share the session
    rows.select(*[f"`{c}`" for c in target]).createOrReplaceTempView(view)
    try:
        with_summary(spark, summary, lambda: spark.sql(
            f"MERGE INTO {spark_name(ident)} t USING {view} s ON t.`{key}` = s.`{key}` "
            "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *").collect())
    finally:
        spark.catalog.dropTempView(view)
