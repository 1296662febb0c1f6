"""Where a local deployment lives. Read from the environment once, validated.

    LEANOPS_HOME     home of the local deployment (default ./.leanops)
    LEANOPS_SCHEMAS  directory of topic schema files (default ./schemas)
"""
from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field

DEFAULT_HOME = ".leanops"
DEFAULT_SCHEMAS = "schemas"
CATALOG_NAME = "leanops"


class Settings(BaseModel):
    """Settings of one local deployment."""

    home: Path
    schemas_dir: Path
    dedup_window_days: int = Field(default=7, ge=0)
    max_batch_rows: int | None = Field(default=1_000_000, ge=1,
                                       description="upstream rows one stage run takes (whole snapshots); "
                                                   "the rest is backlog for the next run")
    ingest_batch_lines: int = Field(default=100_000, ge=1)

    @classmethod
    def from_env(cls, home: str | Path | None = None, schemas_dir: str | Path | None = None) -> "Settings":
        home = Path(home or os.environ.get("LEANOPS_HOME") or DEFAULT_HOME)
        schemas = Path(schemas_dir or os.environ.get("LEANOPS_SCHEMAS") or DEFAULT_SCHEMAS)
        return cls(home=home.absolute(), schemas_dir=schemas.absolute())

    @property
    def catalog_uri(self) -> str:
        return f"sqlite:///{self.home / 'catalog.db'}"

    @property
    def warehouse_dir(self) -> Path:
        return self.home / "warehouse"

    @property
    def state_path(self) -> Path:
        return self.home / "state.db"
