"""Compute engines: who executes the stage contract (design.md section 4) on a deployment's tables.

    engine = engine_for("spark", settings)     # or "embedded" (the default)
    engine.standardized(lake, settings, "events", schema.standardized)

Both engines plan batches from the same checkpoints and write the same tables through the same
catalog, so a deployment can switch engines between runs (`leanops run --engine spark`).
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol

from leanops.errors import ConfigError

if TYPE_CHECKING:
    from leanops.catalog.tables import Lakehouse
    from leanops.config import Settings
    from leanops.context import Context
    from leanops.maintenance.run import MaintenanceReport
    from leanops.schema_file import StandardizedSection, TopicSchema
    from leanops.stages.result import StageResult

ENGINES = ("embedded", "spark")
DEFAULT_ENGINE = "embedded"


class Engine(Protocol):
    name: str

    def standardized(self, lake: "Lakehouse", settings: "Settings", topic: str, section: "StandardizedSection",
                     up_to: int | None = None) -> "StageResult": ...

    def curated(self, lake: "Lakehouse", settings: "Settings", topic: str, schema: "TopicSchema") -> "StageResult": ...

    def semantic(self, lake: "Lakehouse", settings: "Settings", topic: str, schema: "TopicSchema",
                 up_to: int | None = None, on_drift=None) -> "StageResult": ...

    def maintain(self, ctx: "Context", topic: str, dry_run: bool = False) -> "MaintenanceReport":
        """Table maintenance of the topic's tables; the caller holds the topic's lease."""

    def maintain_shared(self, ctx: "Context", dry_run: bool = False) -> "MaintenanceReport":
        """Table maintenance of the tables every topic writes, under their own lease."""


class EmbeddedEngine:
    """In-process: DuckDB + PyIceberg (leanops.stages)."""

    name = "embedded"

    def standardized(self, lake, settings, topic, section, up_to=None):
        from leanops.stages.standardized import run_standardized
        return run_standardized(lake, settings, topic, section, up_to=up_to)

    def curated(self, lake, settings, topic, schema):
        from leanops.stages.curated import run_curated
        return run_curated(lake, settings, topic, schema)

    def semantic(self, lake, settings, topic, schema, up_to=None, on_drift=None):
        from leanops.stages.semantic import run_semantic
        return run_semantic(lake, settings, topic, schema, up_to=up_to, on_drift=on_drift or (lambda d: None))

    def maintain(self, ctx, topic, dry_run=False):
        from leanops.maintenance.run import maintain_topic
        return maintain_topic(ctx, topic, dry_run=dry_run, leased=True)

    def maintain_shared(self, ctx, dry_run=False):
        from leanops.maintenance.run import maintain_shared
        return maintain_shared(ctx, dry_run=dry_run)


class SparkEngine:
    """PySpark 3.5 + Iceberg (leanops.engines.spark); the session starts on first use."""

    name = "spark"

    def __init__(self, settings: "Settings") -> None:
        self.settings = settings
        self._session = None
        self._lock = threading.Lock()

    @property
    def session(self):
        with self._lock:
            if self._session is None:
                from leanops.engines.spark.session import spark_session
                self._session = spark_session(self.settings)
            return self._session

    def standardized(self, lake, settings, topic, section, up_to=None):
        from leanops.engines.spark.standardized import run_standardized
        return run_standardized(self.session, lake, settings, topic, section, up_to=up_to)

    def curated(self, lake, settings, topic, schema):
        from leanops.engines.spark.curated import run_curated
        return run_curated(self.session, lake, settings, topic, schema)

    def semantic(self, lake, settings, topic, schema, up_to=None, on_drift=None):
        from leanops.engines.spark.semantic import run_semantic
        return run_semantic(self.session, lake, settings, topic, schema, up_to=up_to,
                            on_drift=on_drift or (lambda d: None))

    def maintain(self, ctx, topic, dry_run=False):
        from leanops.engines.spark.maintenance import spark_actions
        from leanops.maintenance.run import maintain_topic
        return maintain_topic(ctx, topic, dry_run=dry_run, leased=True, engine=spark_actions(self.session))

    def maintain_shared(self, ctx, dry_run=False):
        from leanops.engines.spark.maintenance import spark_actions
        from leanops.maintenance.run import maintain_shared
        return maintain_shared(ctx, dry_run=dry_run, engine=spark_actions(self.session))


def engine_for(name: str, settings: "Settings") -> Engine:
    if name == "embedded":
        return EmbeddedEngine()
    if name == "spark":
        if settings.catalog == "sql":  # the local catalog needs our jars; on AWS the platform brings Iceberg
            from leanops.engines.spark.session import find_iceberg_jar, find_sqlite_jdbc_jar
            find_iceberg_jar(), find_sqlite_jdbc_jar()  # say what is missing now, not in the middle of a run
        return SparkEngine(settings)
    raise ConfigError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")
