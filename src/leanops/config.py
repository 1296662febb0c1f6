"""Where a local deployment lives. Read from the environment once, validated.

    LEANOPS_HOME     home of the local deployment (default ./.leanops)
    LEANOPS_SCHEMAS  directory of topic schema files (default ./schemas), or an S3 prefix
                     s3://bucket/prefix/ (Context.open then reads the files into a private local copy,
                     `schemas_dir`; docs/schema-lifecycle.md "Schemas on S3")

The Iceberg catalog (docs/aws-catalog.md):

    LEANOPS_CATALOG       sql (default: SQLite SQL catalog + warehouse in the home) | glue (AWS Glue + S3)
    LEANOPS_WAREHOUSE     glue: the warehouse URI, s3://bucket/prefix (required)
    LEANOPS_AWS_ENDPOINT  glue: endpoint URL for both Glue and S3 (moto, LocalStack); unset on AWS
    AWS_REGION / AWS_DEFAULT_REGION  glue: the region of Glue and S3 (else the AWS default chain)

Table maintenance (docs/maintenance.md):

    LEANOPS_MAINTENANCE   on (default) | off | a JSON object of policy fields; schema files override fields

The endpoint and region also serve the S3 schema location and the deployer's S3 / Step Functions
calls (`Settings.aws_client`).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from leanops.errors import ConfigError
from leanops.maintenance.policy import MaintenancePolicy

DEFAULT_HOME = ".leanops"
DEFAULT_SCHEMAS = "schemas"
CATALOG_NAME = "leanops"
CATALOG_KINDS = ("sql", "glue")
_S3_RE = re.compile(r"^s3://?([^/]+)(?:/(.*))?$")  # also s3:/b/p: pathlib (typer's Path options) folds "//"


def s3_prefix_uri(value: str | Path | None) -> str | None:
    """`s3://bucket/prefix/` (normalised: one trailing slash) when `value` names an S3 location, else None.

    The prefix is a "directory": `s3://b/schemas` and `s3://b/schemas/` are the same place.
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text.lower().startswith("s3:"):
        return None
    match = _S3_RE.match(text)
    if not match or not match.group(1).strip():
        raise ConfigError(f"{text!r}: an S3 location is s3://bucket/prefix/")
    prefix = (match.group(2) or "").strip("/")
    return f"s3://{match.group(1)}/" + (f"{prefix}/" if prefix else "")


def split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key prefix ending in "/" or empty) of an `s3_prefix_uri`."""
    normalised = s3_prefix_uri(uri)
    if normalised is None:
        raise ConfigError(f"{uri!r}: an S3 location is s3://bucket/prefix/")
    bucket, _, prefix = normalised[len("s3://"):].partition("/")
    return bucket, prefix


def _maintenance_from_env() -> MaintenancePolicy:
    """LEANOPS_MAINTENANCE: `on` (default), `off` (no automatic maintenance; `leanops maintain` still
    runs), or a JSON object of policy fields, e.g. {"keep_snapshots_hours": 72, "target_file_mb": 64}."""
    import json

    from pydantic import ValidationError
    value = (os.environ.get("LEANOPS_MAINTENANCE") or "on").strip()
    if value.lower() in ("on", "off", "true", "false", "1", "0"):
        return MaintenancePolicy(enabled=value.lower() in ("on", "true", "1"))
    try:
        return MaintenancePolicy.model_validate(json.loads(value))
    except (ValueError, ValidationError) as exc:
        raise ConfigError(f"LEANOPS_MAINTENANCE: use on, off or a JSON object of policy fields "
                          f"(docs/maintenance.md): {exc}") from None


class Settings(BaseModel):
    """Settings of one local deployment."""

    home: Path
    schemas_dir: Path = Field(description="directory of the topic schema files; with `schemas_uri`, the private "
                                          "local copy Context.open makes of them")
    schemas_uri: str | None = Field(default=None, description="s3://bucket/prefix/ the schema files are read from "
                                                              "(None: schemas_dir is the source)")
    dedup_window_days: int = Field(default=7, ge=0)
    max_batch_rows: int | None = Field(default=1_000_000, ge=1,
                                       description="upstream rows one stage run takes (Standardized may stop "
                                                   "inside a RAW snapshot; Curated and Semantic take whole "
                                                   "snapshots); the rest is backlog for the next run")
    ingest_batch_lines: int = Field(default=100_000, ge=1)
    catalog: Literal["sql", "glue"] = Field(default="sql", description="sql: SQLite catalog in the home; "
                                                                       "glue: AWS Glue catalog, S3 warehouse")
    warehouse: str | None = Field(default=None, description="glue: s3://bucket/prefix of the table data")
    aws_endpoint: str | None = Field(default=None, description="Glue, S3 (tables and schema files) and Step "
                                                               "Functions endpoint URL (moto, LocalStack)")
    aws_region: str | None = Field(default=None, description="region of Glue, S3 and the deployer's calls")
    maintenance: MaintenancePolicy = Field(default_factory=MaintenancePolicy,
                                           description="table maintenance defaults (LEANOPS_MAINTENANCE=off "
                                                       "stops the automatic runs); schema files override fields")

    @classmethod
    def from_env(cls, home: str | Path | None = None, schemas_dir: str | Path | None = None) -> "Settings":
        home = Path(home or os.environ.get("LEANOPS_HOME") or DEFAULT_HOME)
        source = schemas_dir or os.environ.get("LEANOPS_SCHEMAS") or DEFAULT_SCHEMAS
        schemas_uri = s3_prefix_uri(source)
        # with an S3 source the directory is a placeholder until Context.open makes its private copy
        schemas = home / "tmp" / "schemas-s3" if schemas_uri else Path(source)
        kind = (os.environ.get("LEANOPS_CATALOG") or "sql").strip().lower()
        if kind not in CATALOG_KINDS:
            raise ConfigError(f"LEANOPS_CATALOG={kind!r}: use one of {', '.join(CATALOG_KINDS)}")
        settings = cls(home=home.absolute(), schemas_dir=schemas.absolute(), schemas_uri=schemas_uri, catalog=kind,
                       warehouse=os.environ.get("LEANOPS_WAREHOUSE") or None,
                       aws_endpoint=os.environ.get("LEANOPS_AWS_ENDPOINT") or None,
                       aws_region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None,
                       maintenance=_maintenance_from_env())
        if settings.catalog == "glue":
            settings.catalog_properties()  # a Glue deployment without a usable warehouse fails here, clearly
        return settings

    def catalog_properties(self) -> dict[str, str]:
        """PyIceberg `load_catalog` properties of the Glue catalog (`catalog == "glue"` only).

        Credentials are not settings: PyIceberg's Glue client (boto3) and S3 FileIO (pyarrow) take them
        from the AWS default chain (environment, profile, instance or task role).
        """
        if self.catalog != "glue":
            raise ConfigError(f"catalog {self.catalog!r} is not configured by properties")
        if not self.warehouse:
            raise ConfigError("LEANOPS_CATALOG=glue needs LEANOPS_WAREHOUSE, the S3 location of the tables "
                              "(s3://bucket/prefix)")
        if not self.warehouse.startswith("s3://") or len(self.warehouse) <= len("s3://"):
            raise ConfigError(f"LEANOPS_WAREHOUSE={self.warehouse!r}: the Glue catalog needs an s3://bucket/prefix "
                              "warehouse")
        props = {"type": "glue", "warehouse": self.warehouse.rstrip("/")}
        if self.aws_endpoint:
            props["glue.endpoint"] = props["s3.endpoint"] = self.aws_endpoint
        if self.aws_region:
            props["glue.region"] = props["s3.region"] = self.aws_region
        return props

    @property
    def schemas_location(self) -> str:
        """Where the schema files come from, for people: the S3 URI, else the directory."""
        return self.schemas_uri or str(self.schemas_dir)

    def aws_client(self, service: str, region: str | None = None):
        """A boto3 client for `service` with the deployment's endpoint (LEANOPS_AWS_ENDPOINT: moto,
        LocalStack) and region (`region`, else AWS_REGION / AWS_DEFAULT_REGION, else boto3's chain);
        credentials from the AWS default chain. boto3 is the `aws` extra, imported only here."""
        try:
            import boto3
        except ImportError as exc:
            raise ConfigError(f"{service} needs boto3: pip install 'lean-ops[aws]'") from exc
        return boto3.client(service, endpoint_url=self.aws_endpoint or None,
                            region_name=region or self.aws_region or None)

    @property
    def warehouse_uri(self) -> str:
        """Where the tables' data lives: the local warehouse directory, or the S3 warehouse of Glue."""
        if self.catalog == "glue":
            return self.catalog_properties()["warehouse"]
        return self.warehouse_dir.as_uri()

    @property
    def catalog_uri(self) -> str:
        return f"sqlite:///{self.catalog_path}"

    @property
    def catalog_path(self) -> Path:
        """The SQLite file of the local SQL catalog."""
        return self.home / "catalog.db"

    @property
    def warehouse_dir(self) -> Path:
        return self.home / "warehouse"

    @property
    def state_path(self) -> Path:
        return self.home / "state.db"
