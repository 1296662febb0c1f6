"""A deployment opened for use: settings, the lakehouse and the state store, created on first use.

    ctx = Context.open()                       # $LEANOPS_HOME or ./.leanops
    report = ctx.ingest_file("events", "events.ndjson")

Schema files on S3 (`LEANOPS_SCHEMAS=s3://bucket/prefix/`): `open` copies them into a private directory
under `$LEANOPS_HOME/tmp` (a new one per Context, so every Lambda / Glue run starts from what is
published now) and `settings.schemas_dir` points at it; `schema(topic)` re-reads that topic's file first,
so a long-running process (`leanops run --every`) sees a newly published schema as it would a local edit.
`close` removes the copy.

`open(..., lake=False)` opens the Iceberg catalog on the first use of `ctx.lake` instead: the read-only
commands that need only the state store (`leanops topics`, `drift`, ...) then never import PyIceberg,
and `topics()` lists a SQL catalog's RAW tables straight from its SQLite file (docs/cli.md). Commands
that only read tables (`status`, `accountability`) use `ctx.read_lake`: a local catalog read from its
files, without the catalog's SQLAlchemy or PyArrow.
"""
from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from leanops.config import Settings
from leanops.engines import DEFAULT_ENGINE, EmbeddedEngine, Engine, engine_for
from leanops.schema_file import TopicSchema, load_topic_schema
from leanops.state.base import StateStore
from leanops.state.factory import open_state_store

if TYPE_CHECKING:
    from leanops.aws.schema_mirror import S3SchemaMirror
    from leanops.catalog.tables import Lakehouse


@dataclasses.dataclass
class Context:
    settings: Settings
    state: StateStore
    engine: Engine = dataclasses.field(default_factory=EmbeddedEngine)
    schema_mirror: S3SchemaMirror | None = dataclasses.field(default=None, repr=False)
    _lake: Lakehouse | None = dataclasses.field(default=None, repr=False)
    _reader: Lakehouse | None = dataclasses.field(default=None, repr=False)
    _lake_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def lake(self) -> Lakehouse:
        """The Iceberg catalog, opened (namespaces created) on first use."""
        with self._lake_lock:
            if self._lake is None:
                from leanops.catalog.tables import Lakehouse
                self._lake = Lakehouse.open(self.settings)
            return self._lake

    @property
    def read_lake(self) -> Lakehouse:
        """The lakehouse for reading only: `lake` once it is open, else the home's local catalog read
        straight from its files (leanops.catalog.local_reader: neither SQLAlchemy nor PyArrow is loaded),
        else `lake` (the Glue catalog, or a layout the reader does not know)."""
        with self._lake_lock:
            if self._lake is not None:
                return self._lake
            if self._reader is None:
                from leanops.catalog.local_reader import read_only_lakehouse
                self._reader = read_only_lakehouse(self.settings)
            if self._reader is not None:
                return self._reader
        return self.lake

    @classmethod
    def open(cls, home: str | Path | None = None, schemas_dir: str | Path | None = None,
             engine: str = DEFAULT_ENGINE, lake: bool = True) -> "Context":
        """Open (creating when missing) the deployment; safe to call again on an existing home.

        `engine` runs the stages: "embedded" (in-process) or "spark" (leanops.engines). `lake=False`:
        the Iceberg catalog opens on the first use of `ctx.lake` (commands that may not need it).
        """
        settings = Settings.from_env(home, schemas_dir)
        settings.home.mkdir(parents=True, exist_ok=True)
        (settings.home / "tmp").mkdir(exist_ok=True)
        mirror = None
        if settings.schemas_uri:
            from leanops.aws.schema_mirror import S3SchemaMirror
            mirror = S3SchemaMirror.create(settings.schemas_uri, settings.home / "tmp", settings.aws_client("s3"))
            settings = settings.model_copy(update={"schemas_dir": mirror.directory})
        state = None
        try:
            state = open_state_store(settings)
            ctx = cls(settings, state, engine_for(engine, settings), mirror)
            if lake:
                ctx.lake  # noqa: B018  (opened now: a catalog that cannot open fails here, as it always did)
            return ctx
        except BaseException:
            if state is not None:
                state.close()
            if mirror is not None:
                mirror.close()
            raise

    def schema(self, topic: str, form_only: bool = False) -> TopicSchema | None:
        """The topic's schema file; `form_only`: without checking that defaults and bounds cast (which loads
        DuckDB), for readers that only look at its sections."""
        if self.schema_mirror is not None:
            self.schema_mirror.sync(topic)  # what is published now, as a local directory would show it
        return load_topic_schema(self.settings.schemas_dir, topic, origin=self.settings.schemas_uri,
                                 form_only=form_only)

    def refresh_schemas(self) -> None:
        """Bring the whole copy of S3 schema files up to date (before iterating `settings.schemas_dir`)."""
        if self.schema_mirror is not None:
            self.schema_mirror.sync()

    def topics(self) -> list[str]:
        """Every topic known to the registry or to the catalog."""
        return sorted({t.topic_name for t in self.state.list_topics()} | set(self._raw_topics()))

    def _raw_topics(self) -> list[str]:
        if self._lake is None and self.settings.catalog == "sql":  # no need to open PyIceberg to list
            from leanops.catalog.listing import sql_catalog_raw_topics
            listed = sql_catalog_raw_topics(self.settings)
            if listed is not None:
                return listed
        return self.lake.raw_topics()

    def close(self) -> None:
        self.state.close()
        if self.schema_mirror is not None:
            self.schema_mirror.close()
