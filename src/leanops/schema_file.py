"""Topic schema files: `schemas/<topic>.json` (or .yaml/.yml). Their sections are the schema gate.

No file -> data waits in RAW; `standardized` -> RAW->Standardized; `curated` -> also Curated;
`semantic` -> also Semantic.

    schema = load_topic_schema(Path("schemas"), "events")
    if schema and schema.standardized: ...

This module is the model only: it reads a directory and knows nothing of where the files came from. On
AWS the files live under an S3 prefix; `leanops.aws.schema_mirror` keeps a private local copy that these
loaders read (docs/schema-lifecycle.md, "Schemas on S3").
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from leanops.errors import LeanOpsError, SchemaFileError
from leanops.maintenance.policy import MaintenancePolicy
from leanops.naming import ICEBERG_METADATA_COLUMNS, is_valid_column_name

TYPE_RE = re.compile(r"^(string|int|long|double|boolean|date|timestamp|decimal\((\d{1,2}),\s*(\d{1,2})\))$")
SCHEMA_SUFFIXES = (".json", ".yaml", ".yml")
_META_NAMES = ("message_id", "topic_name", "publish_time", "ingestion_ts")  # typed by the pipeline itself
FORM_ONLY = "form_only"  # validation context flag: skip the checks that cast values (they load DuckDB)


def _casts_checked(info: ValidationInfo) -> bool:
    """False on a first pass over a set of files (read_schema_dir, the linter): casting defaults and bounds
    (DuckDB) waits until every file's form is known to be valid, so a broken file is answered before the
    casting rules are loaded."""
    return not (info.context or {}).get(FORM_ONLY)


def _check_column(name: str) -> str:
    if not is_valid_column_name(name):
        raise ValueError(f"column name {name!r} must be lower-case a-z, 0-9 and '_' (not starting with a digit)")
    if name in ICEBERG_METADATA_COLUMNS:
        raise ValueError(f"column name {name!r} is reserved for an Iceberg metadata column: Iceberg engines refuse "
                         "a table column of that name")
    return name


def _check_columns(columns: dict) -> dict:
    for name in columns:
        _check_column(name)
    return columns


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ShapeLimits(_Section):
    """How deep and how wide a payload may be, and how many columns the topic may grow to (docs/standardized.md,
    "Limits"). A payload over a limit goes to parse_errors with the reason; see `leanops.stages.limits`."""

    max_depth: int = Field(default=32, ge=1, le=1000,
                           description="longest key path: objects nested in objects (arrays are values)")
    max_keys: int = Field(default=1000, ge=1, description="keys per payload that become columns")
    max_columns: int = Field(default=2000, ge=1, description="columns of standardized.<topic>, metadata included")


class StandardizedSection(_Section):
    """RAW -> Standardized: flattened-name -> output-name renames (e.g. metadata to idempotency_key), and the
    shape limits of the topic's payloads."""

    column_map: dict[str, str] = Field(default_factory=dict)
    limits: ShapeLimits | None = None  # None: the defaults (and the schema's fingerprint stays as it was)

    @property
    def shape_limits(self) -> ShapeLimits:
        return self.limits or ShapeLimits()

    @field_validator("column_map")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        for source, target in value.items():
            _check_column(source)
            _check_column(target)
        if len(set(value.values())) != len(value):
            raise ValueError("two column_map entries map to the same output column")
        return value


class CuratedColumn(_Section):
    type: str
    cde: bool = False
    default: str | None = None

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        value = value.strip().lower()
        match = TYPE_RE.match(value)
        if not match:
            raise ValueError(f"unknown type {value!r}: use string, int, long, double, boolean, decimal(p,s), "
                             "date or timestamp")
        if match.group(2) and not (1 <= int(match.group(2)) <= 38 and int(match.group(3)) <= int(match.group(2))):
            raise ValueError(f"decimal {value!r}: precision 1..38 and scale <= precision")
        return value.replace(" ", "")


def default_partitions(merge_key: str) -> list[str]:
    """The partitioning of a curated or semantic table whose section sets no `partition_by`."""
    return ["day(publish_time)", f"bucket(16, {merge_key})"]


class CuratedSection(_Section):
    merge_key: str = "idempotency_key"
    order_by: str = "event_timestamp"
    partition_by: list[str] | None = None  # default: day(publish_time), bucket(16, merge_key)
    columns: dict[str, CuratedColumn] = Field(default_factory=dict)

    _names = field_validator("columns")(lambda cls, value: _check_columns(value))

    @model_validator(mode="after")
    def _keys_declared(self, info: ValidationInfo) -> "CuratedSection":
        """The merge key and the version column must be declared, so both have a type."""
        for field in ("merge_key", "order_by"):
            name = getattr(self, field)
            _check_column(name)
            if name not in self.columns and name not in _META_NAMES:
                raise ValueError(f"{field} {name!r} must be declared in curated.columns")
        from leanops.catalog.partitioning import read_partition
        from leanops.schema.default_rules import check_default
        for entry in self.partitions:
            read_partition(entry)
        for name, column in self.columns.items():  # a default that would not cast, or a CDE with a default
            check_default(name, column.type, column.default, column.cde, cast=_casts_checked(info))
        return self

    @property
    def partitions(self) -> list[str]:
        """`partition_by`, or the default that follows the merge key."""
        return self.partition_by if self.partition_by is not None else default_partitions(self.merge_key)


class SemanticColumn(_Section):
    """A governed column: its type, the curated column it comes `from`, and optional rules
    (`allowed` values, `min` / `max` bounds, a regex `pattern`) a row must meet to land."""

    type: str
    source: str | None = Field(default=None, alias="from")
    allowed: list[str] | None = None
    min: str | float | int | None = None
    max: str | float | int | None = None
    pattern: str | None = None

    _type = field_validator("type")(CuratedColumn._type.__func__)  # type: ignore[attr-defined]

    @field_validator("source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        return None if value is None else _check_column(value)

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"pattern {value!r} is not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _rules_fit_type(self, info: ValidationInfo) -> "SemanticColumn":
        from leanops.schema.default_rules import check_default
        if (self.min is not None or self.max is not None) and self.type in ("string", "boolean"):
            raise ValueError(f"min/max need an ordered type (number, date, timestamp), not {self.type}")
        for bound in ("min", "max"):
            value = getattr(self, bound)
            if value is not None:
                check_default(bound, self.type, str(value), cast=_casts_checked(info))
        return self


class SemanticSection(_Section):
    merge_key: str = "idempotency_key"
    order_by: str = "event_timestamp"
    partition_by: list[str] | None = None  # default: day(publish_time), bucket(16, merge_key)
    columns: dict[str, SemanticColumn] = Field(default_factory=dict)
    cluster_by: list[str] | None = None  # Snowflake's CLUSTER BY (export-ddl), e.g. a high-cardinality filter column

    _names = field_validator("columns")(lambda cls, value: _check_columns(value))

    @field_validator("merge_key", "order_by")
    @classmethod
    def _keys(cls, value: str) -> str:
        return _check_column(value)

    @model_validator(mode="after")
    def _cluster_columns(self) -> "SemanticSection":
        unknown = [c for c in self.cluster_by or [] if c not in self.all_columns]
        if unknown:
            raise ValueError(f"cluster_by names {unknown}, not semantic columns: declare them in semantic.columns")
        if self.cluster_by is not None and (not self.cluster_by or len(set(self.cluster_by)) < len(self.cluster_by)):
            raise ValueError("cluster_by must list one or more distinct semantic columns")
        return self

    @model_validator(mode="after")
    def _partitions_parse(self) -> "SemanticSection":
        from leanops.catalog.partitioning import read_partition
        for entry in self.partitions:
            read_partition(entry)
        return self

    @property
    def all_columns(self) -> dict[str, SemanticColumn]:
        """The declared columns; the merge key comes first as a string when it is not declared."""
        if self.merge_key in self.columns:
            return dict(self.columns)
        return {self.merge_key: SemanticColumn(type="string"), **self.columns}

    @property
    def partitions(self) -> list[str]:
        """`partition_by`, or the default that follows the merge key."""
        return self.partition_by if self.partition_by is not None else default_partitions(self.merge_key)


class ChangeDeclaration(_Section):
    kind: Literal["NEW_TABLE", "SCHEMA_EVOLVE", "NUCLEAR_RESET", "PURE_REMAP"]
    reason: str = ""


class TopicSchema(_Section):
    topic: str
    standardized: StandardizedSection | None = None
    curated: CuratedSection | None = None
    semantic: SemanticSection | None = None
    change: ChangeDeclaration | None = None
    description: str | None = None
    maintenance: MaintenancePolicy | None = None  # the fields set override the deployment's policy


def fingerprint(schema: TopicSchema) -> tuple[str, str]:
    """Canonical JSON of a schema and its sha256: formatting and key order do not count as changes.

    The curated partitioning is the one in force: an unset `partition_by` is written out as its default
    (as the fingerprints of earlier versions hold it), so writing the default out is no change either."""
    data = schema.model_dump(mode="json", by_alias=True, exclude_none=True)
    if schema.curated is not None:
        data["curated"]["partition_by"] = schema.curated.partitions
    text = json.dumps(data, sort_keys=True)
    return text, hashlib.sha256(text.encode()).hexdigest()


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object with the same key twice is ambiguous: refuse it rather than keep the last."""
    keys = [k for k, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise ValueError(f"key {key!r} appears twice in one object")
    return dict(pairs)


def schema_path(schemas_dir: Path, topic: str) -> Path | None:
    """The topic's schema file, or None when there is none (the gate is closed)."""
    for suffix in SCHEMA_SUFFIXES:
        candidate = schemas_dir / f"{topic}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def parse_topic_schema(path: Path, text: str | None = None, origin: str | None = None,
                       form_only: bool = False) -> TopicSchema:
    """Parse and validate one schema file; errors name the path and the field at fault.

    `origin`: where the file really lives when `path` is a copy (`s3://bucket/prefix/`): errors then name
    `<origin><file name>`, the object a person can open and fix. `form_only`: everything but whether the
    defaults and semantic bounds cast (a first pass, or a reader of the file's sections only, such as
    `leanops status`; never for running a stage).
    """
    label = f"{origin}{path.name}" if origin else str(path)
    text = path.read_text(encoding="utf-8") if text is None else text
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError, ValueError) as exc:
        raise SchemaFileError(label, "<file>", f"not valid {path.suffix[1:].upper()}: {exc}") from exc
    except RecursionError as exc:
        raise SchemaFileError(label, "<file>", "nested too deeply") from exc
    if not isinstance(data, dict):
        raise SchemaFileError(label, "<file>", "must hold an object")
    try:
        schema = TopicSchema.model_validate(data, context={FORM_ONLY: form_only})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "<file>"
        raise SchemaFileError(label, field, first["msg"]) from exc
    if schema.topic != path.stem:
        raise SchemaFileError(label, "topic", f"is {schema.topic!r} but the file is named {path.name!r}")
    return schema


def load_topic_schema(schemas_dir: Path, topic: str, origin: str | None = None,
                      form_only: bool = False) -> TopicSchema | None:
    path = schema_path(schemas_dir, topic)
    return parse_topic_schema(path, origin=origin, form_only=form_only) if path else None


def read_schema_dir(directory: Path, origin: str | None = None) -> list[tuple[Path, TopicSchema]]:
    """Every schema file of `directory`, parsed, in name order; a missing directory or any invalid file
    raises (exit 2), so nothing is applied from a set of files that is not valid as a whole."""
    if not directory.is_dir():
        raise LeanOpsError(f"no schema directory {directory}")
    files = sorted(p for p in directory.iterdir() if p.suffix in SCHEMA_SUFFIXES and p.is_file())
    for path in files:  # every file's form first: a broken one is answered before the casting rules load
        parse_topic_schema(path, origin=origin, form_only=True)
    return [(p, parse_topic_schema(p, origin=origin)) for p in files]
