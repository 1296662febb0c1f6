"""The lakehouse: one Iceberg catalog (SQL catalog in SQLite locally, or AWS Glue) and the table layout.

    lake = Lakehouse.open(settings)
    raw = lake.raw_table("events", create=True)

`settings.catalog` chooses the catalog (LEANOPS_CATALOG, docs/aws-catalog.md): "sql" keeps the catalog
and the warehouse in the home; "glue" uses PyIceberg's Glue catalog with an S3 warehouse, one Glue
database per zone.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError, NoSuchTableError, TableAlreadyExistsError
from pyiceberg.partitioning import PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from leanops.catalog.schemas import (
    CURATED_ERRORS_SCHEMA, DLQ_SCHEMA, PARSE_CORRECTIONS_SCHEMA, PARSE_ERRORS_SCHEMA, RAW_SCHEMA,
    STANDARDIZED_BASE_SCHEMA, day_spec,
)
from leanops.catalog.retry_log import quiet_commit_retries
from leanops.config import CATALOG_NAME, Settings
from leanops.types import Zone, validate_topic

quiet_commit_retries()  # a commit conflict that PyIceberg's retry resolves is a DEBUG line, not a WARNING

NAMESPACES = tuple(z.value for z in Zone)
# Every table keeps only its last metadata.json versions (Iceberg deletes older ones on commit); table
# maintenance sets the policy's own count (leanops.maintenance.run). Without it each commit leaves one more.
METADATA_RETENTION = {"write.metadata.delete-after-commit.enabled": "true",
                      "write.metadata.previous-versions-max": "10"}

# Snapshot-summary keys lean-ops writes. The checkpoint lives in the commit that writes the data.
SUMMARY_TOPIC = "leanops.topic"
SUMMARY_SOURCE_SNAPSHOT = "leanops.source-snapshot-id"  # last upstream snapshot consumed (inclusive)
SUMMARY_SOURCE_FROM = "leanops.source-from-snapshot-id"  # previous checkpoint (exclusive), "" for the start
# A batch may end inside a snapshot (leanops.stages.position): then the checkpoint is that snapshot and how
# many of its rows (its files in commit order, then row order) were consumed. Absent: the whole snapshot.
SUMMARY_SOURCE_ROWS = "leanops.source-rows"  # rows of the source-snapshot-id consumed, when not all of them
SUMMARY_SOURCE_BASE = "leanops.source-base"  # "true": those rows count the snapshot's whole content (a first range)
SUMMARY_SOURCE_FROM_ROWS = "leanops.source-from-rows"  # the same two for the previous checkpoint
SUMMARY_SOURCE_FROM_BASE = "leanops.source-from-base"
SUMMARY_RECORDS_IN = "leanops.records-in"
SUMMARY_DUPLICATES = "leanops.duplicates"
SUMMARY_ERRORS = "leanops.errors"
SUMMARY_INGEST_ID = "leanops.ingest-id"
SUMMARY_LINES_READ = "leanops.lines-read"
SUMMARY_REJECTED = "leanops.rejected"
SUMMARY_SUPERSEDED = "leanops.superseded"  # batch rows that lost latest-wins (older versions)
SUMMARY_REPLACED = "leanops.replaced"  # stored rows this commit deleted because a newer version came
# RAW commits of `leanops errors replay --layer dlq` (leanops.ops.corrections): corrected lines, not arrivals
SUMMARY_RESOLVES_DLQ = "leanops.resolves-dlq"  # JSON [[ingest_id, source, line_number], ...]: the DLQ rows fixed
SUMMARY_CORRECTED_LINES = "leanops.corrected-lines"  # lines the commit landed (in place of lines-read)
SUMMARY_UNCOUNTED_LINES = "leanops.uncounted-lines"  # of those, fixes of DLQ rows ingestion never counted in
SUMMARY_REPLAYED_IDS = "leanops.replayed-ids"  # JSON list: message ids a replay commit took from an error table
SUMMARY_MANIFEST_ID = "leanops.manifest-id"  # RAW: the landing manifest a commit ingested
SUMMARY_MANIFEST_LINES = "leanops.manifest-lines"  # RAW: JSON {file key: lines read} of that commit
# Roll-up sums of expired manifest commits (leanops.catalog.rollups): lines written to RAW, lines rejected
ROLLUP_MANIFEST_WRITTEN = "leanops.manifest-written"
ROLLUP_MANIFEST_REJECTED = "leanops.manifest-rejected"
SUMMARY_REPLAY_OF = "leanops.replay-of"  # on an error table: the topic whose fixed rows a replay removed


class Lakehouse:
    """Names and opens every table of a deployment. Identifiers come from validated topic names only."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    @classmethod
    def open(cls, settings: Settings) -> "Lakehouse":
        if settings.catalog == "glue":
            from pyiceberg.catalog import load_catalog  # boto3 is imported only by Glue deployments
            catalog = load_catalog(CATALOG_NAME, **settings.catalog_properties())
        else:  # SQLAlchemy is imported here, not by the readers of leanops.catalog.local_reader
            from leanops.catalog.metadata_cache import CachingSqlCatalog
            settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
            catalog = CachingSqlCatalog(CATALOG_NAME, uri=settings.catalog_uri,
                                        warehouse=settings.warehouse_dir.as_uri())
        lake = cls(catalog)
        lake.ensure_namespaces()
        return lake

    def ensure_namespaces(self) -> None:
        existing = {ns[0] for ns in self.catalog.list_namespaces()}
        for ns in NAMESPACES:
            if ns not in existing:
                try:
                    self.catalog.create_namespace(ns)
                except NamespaceAlreadyExistsError:
                    pass

    # -- identifiers ----------------------------------------------------------------------
    @staticmethod
    def raw_ident(topic: str) -> str:
        return f"{Zone.RAW.value}.{validate_topic(topic)}_staging"

    @staticmethod
    def standardized_ident(topic: str) -> str:
        return f"{Zone.STANDARDIZED.value}.{validate_topic(topic)}"

    @staticmethod
    def curated_ident(topic: str) -> str:
        return f"{Zone.CURATED.value}.{validate_topic(topic)}"

    @staticmethod
    def semantic_ident(topic: str) -> str:
        return f"{Zone.SEMANTIC.value}.{validate_topic(topic)}"

    DLQ = f"{Zone.RAW.value}.dlq_errors"
    PARSE_ERRORS = f"{Zone.STANDARDIZED.value}.parse_errors"
    PARSE_CORRECTIONS = f"{Zone.RAW.value}.parse_corrections"
    CURATED_ERRORS = f"{Zone.CURATED.value}.errors"
    SEMANTIC_ERRORS = f"{Zone.SEMANTIC.value}.errors"

    # -- tables ---------------------------------------------------------------------------
    def load(self, ident: str) -> Table | None:
        try:
            return self.catalog.load_table(ident)
        except NoSuchTableError:
            return None

    def _load_or_create(self, ident: str, schema: Schema, partition_column: str | None) -> Table:
        table = self.load(ident)
        if table is not None:
            return table
        spec = day_spec(schema, partition_column) if partition_column else None
        try:
            kwargs = {"partition_spec": spec} if spec else {}
            return self.catalog.create_table(ident, schema=schema, properties=dict(METADATA_RETENTION), **kwargs)
        except TableAlreadyExistsError:  # another process created it first
            return self.catalog.load_table(ident)

    def raw_table(self, topic: str, create: bool = False) -> Table | None:
        ident = self.raw_ident(topic)
        return self._load_or_create(ident, RAW_SCHEMA, "publish_time") if create else self.load(ident)

    def dlq_table(self) -> Table:
        return self._load_or_create(self.DLQ, DLQ_SCHEMA, "ingestion_ts")

    def parse_errors_table(self) -> Table:
        return self._load_or_create(self.PARSE_ERRORS, PARSE_ERRORS_SCHEMA, "publish_time")

    def parse_corrections_table(self) -> Table:
        return self._load_or_create(self.PARSE_CORRECTIONS, PARSE_CORRECTIONS_SCHEMA, "publish_time")

    def standardized_table(self, topic: str, create: bool = False) -> Table | None:
        ident = self.standardized_ident(topic)
        if create:  # unpartitioned: its files' publish_time bounds prune the dedup lookup (docs/standardized.md)
            return self._load_or_create(ident, STANDARDIZED_BASE_SCHEMA, None)
        return self.load(ident)

    def curated_errors_table(self) -> Table:
        return self._load_or_create(self.CURATED_ERRORS, CURATED_ERRORS_SCHEMA, "publish_time")

    def curated_table(self, topic: str) -> Table | None:
        return self.load(self.curated_ident(topic))

    def create_curated_table(self, topic: str, schema: Schema, spec: PartitionSpec,
                             properties: dict[str, str]) -> Table:
        return self._create(self.curated_ident(topic), schema, spec, properties)

    def semantic_table(self, topic: str) -> Table | None:
        return self.load(self.semantic_ident(topic))

    def semantic_errors_table(self) -> Table:
        """Rows that broke a semantic governance rule or type; same columns as curated.errors."""
        return self._load_or_create(self.SEMANTIC_ERRORS, CURATED_ERRORS_SCHEMA, "publish_time")

    def create_semantic_table(self, topic: str, schema: Schema, spec: PartitionSpec,
                              properties: dict[str, str]) -> Table:
        return self._create(self.semantic_ident(topic), schema, spec, properties)

    def _create(self, ident: str, schema: Schema, spec: PartitionSpec, properties: dict[str, str]) -> Table:
        try:
            return self.catalog.create_table(ident, schema=schema, partition_spec=spec,
                                             properties={**METADATA_RETENTION, **properties})
        except TableAlreadyExistsError:  # another process created it first
            return self.catalog.load_table(ident)

    def raw_topics(self) -> list[str]:
        """Topics that have a RAW table, found from the catalog itself."""
        names = []
        for _, name in self.catalog.list_tables(Zone.RAW.value):
            if name.endswith("_staging"):
                names.append(name[: -len("_staging")])
        return sorted(names)


# -- snapshot helpers ---------------------------------------------------------------------
def ancestors(table: Table) -> Iterator[Snapshot]:
    """Snapshots from the current one back to the first, following parent ids."""
    snapshot = table.current_snapshot()
    by_id = {s.snapshot_id: s for s in table.snapshots()}
    while snapshot is not None:
        yield snapshot
        snapshot = by_id.get(snapshot.parent_snapshot_id) if snapshot.parent_snapshot_id else None


def latest_summary_value(table: Table, key: str, topic: str | None = None) -> tuple[Snapshot, str] | None:
    """The newest snapshot (in the current lineage) whose summary holds `key` (for `topic`)."""
    for snapshot in ancestors(table):
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        if key in props and (topic is None or props.get(SUMMARY_TOPIC) == topic):
            return snapshot, props[key]
    return None


def local_path(uri: str) -> str:
    """Data-file URI -> path DuckDB can open: `file:///p` (PyIceberg) and `file:/p` (Spark/Hadoop) -> `/p`.

    Other URIs (s3://...) come back unchanged: leanops.catalog.files reads those through the table's FileIO.
    """
    if uri.startswith("file://"):
        return uri[len("file://"):]
    if uri.startswith("file:/"):
        return uri[len("file:"):]
    return uri


def warehouse_path(settings: Settings) -> Path:
    return settings.warehouse_dir
