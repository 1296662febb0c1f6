"""A deployment opened for use: settings, the lakehouse and the state store, created on first use.

    ctx = Context.open()                       # $LEANOPS_HOME or ./.leanops
    report = ctx.ingest_file("events", "events.ndjson")
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from leanops.catalog.tables import Lakehouse
from leanops.config import Settings
from leanops.engines import DEFAULT_ENGINE, EmbeddedEngine, Engine, engine_for
from leanops.schema_file import TopicSchema, load_topic_schema
from leanops.state.base import StateStore
from leanops.state.factory import open_state_store


@dataclasses.dataclass
class Context:
    settings: Settings
    lake: Lakehouse
    state: StateStore
    engine: Engine = dataclasses.field(default_factory=EmbeddedEngine)

    @classmethod
    def open(cls, home: str | Path | None = None, schemas_dir: str | Path | None = None,
             engine: str = DEFAULT_ENGINE) -> "Context":
        """Open (creating when missing) the deployment; safe to call again on an existing home.

        `engine` runs the stages: "embedded" (in-process) or "spark" (leanops.engines).
        """
        settings = Settings.from_env(home, schemas_dir)
        settings.home.mkdir(parents=True, exist_ok=True)
        (settings.home / "tmp").mkdir(exist_ok=True)
        return cls(settings, Lakehouse.open(settings), open_state_store(settings),
                   engine_for(engine, settings))

    def schema(self, topic: str) -> TopicSchema | None:
        return load_topic_schema(self.settings.schemas_dir, topic)

    def topics(self) -> list[str]:
        """Every topic known to the registry or to the catalog."""
        return sorted({t.topic_name for t in self.state.list_topics()} | set(self.lake.raw_topics()))

    def close(self) -> None:
        self.state.close()
