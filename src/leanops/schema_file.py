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

import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, ValidationInfo, field_validator,
    model_validator,
)

from leanops.errors import InvalidTopicNameError, LeanOpsError, SchemaFileError, SchemaProblem
from leanops.maintenance.policy import MaintenancePolicy
from leanops.naming import ICEBERG_METADATA_COLUMNS, is_valid_column_name
from leanops.schema.problems import Found, collect, did_you_mean, problems, raise_found

TYPE_RE = re.compile(r"^(string|int|long|double|boolean|date|timestamp|decimal\((\d{1,2}),\s*(\d{1,2})\))$")
TYPE_NAMES = ("string", "int", "long", "double", "boolean", "decimal(p,s)", "date", "timestamp")
SCHEMA_SUFFIXES = (".json", ".yaml", ".yml")
_META_TYPES = {"message_id": "string", "topic_name": "string", "publish_time": "timestamp",
               "ingestion_ts": "timestamp"}  # typed by the pipeline itself
_META_NAMES = tuple(_META_TYPES)
FORM_ONLY = "form_only"  # validation context flag: skip the checks that cast values (they load DuckDB)
PARTITION_FORMS = "col, year(col), month(col), day(col), hour(col), bucket(N, col) or truncate(W, col)"
# the column types each partition transform takes (Iceberg's spec; PyIceberg's Transform.can_transform)
_TRANSFORM_TYPES = {
    "year": ("date", "timestamp"), "month": ("date", "timestamp"), "day": ("date", "timestamp"),
    "hour": ("timestamp",), "bucket": ("string", "int", "long", "decimal", "date", "timestamp"),
    "truncate": ("string", "int", "long", "decimal"),
}


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


def _check_type(value: str) -> str:
    text = value.strip().lower()
    match = TYPE_RE.match(text)
    if not match:
        raise ValueError(f"unknown type {value!r}{did_you_mean(text, TYPE_NAMES)} — valid types: "
                         f"{', '.join(TYPE_NAMES)}")
    if match.group(2) and not (1 <= int(match.group(2)) <= 38 and int(match.group(3)) <= int(match.group(2))):
        raise ValueError(f"type {value!r}: a decimal's precision is 1..38 and its scale at most the precision")
    return text.replace(" ", "")


def _check_partition(text: str) -> str:
    """One `partition_by` entry's form (its column's type is the section's check)."""
    from leanops.catalog.partitioning import read_partition
    try:
        read_partition(text)
    except ValueError:
        named = re.match(r"^\s*(\w+)\s*\(", text)
        if named and named[1] not in _TRANSFORM_TYPES:
            raise ValueError(f"unknown transform {named[1]!r}{did_you_mean(named[1], _TRANSFORM_TYPES)} in "
                             f"{text!r} — use {PARTITION_FORMS}") from None
        raise ValueError(f"{text!r} is not a partition: use {PARTITION_FORMS}, with N and W at least 1") from None
    return text


ColumnName = Annotated[str, AfterValidator(_check_column)]
TypeName = Annotated[str, AfterValidator(_check_type)]
PartitionText = Annotated[str, AfterValidator(_check_partition)]


@functools.cache
def _adapter(model: type[BaseModel], name: str) -> TypeAdapter:
    field = model.model_fields[name]
    return TypeAdapter(Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation)


def _field(model: type[BaseModel], data: Any, name: str) -> Any:
    """One field of a model read from raw data, validated on its own: its value, its default when the
    data leaves it out, or None when it is wrong (that is reported as the field's own error). The
    cross-field checks read fields this way, so they run even when another field is wrong."""
    field = model.model_fields[name]
    if not isinstance(data, dict):
        return None
    key = field.alias if field.alias in data else name
    if key not in data:
        return field.get_default(call_default_factory=True)
    try:
        return _adapter(model, name).validate_python(data[key])
    except ValidationError:
        return None


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

    column_map: dict[ColumnName, ColumnName] = Field(default_factory=dict)
    limits: ShapeLimits | None = None  # None: the defaults (and the schema's fingerprint stays as it was)

    @property
    def shape_limits(self) -> ShapeLimits:
        return self.limits or ShapeLimits()

    @field_validator("column_map")
    @classmethod
    def _one_source_per_output(cls, value: dict[str, str]) -> dict[str, str]:
        first: dict[str, str] = {}
        found = []
        for source, target in value.items():
            if target in first:
                found.append(Found((source,), f"maps to {target!r}, as {first[target]!r} does: two columns "
                                              "cannot become one", target))
            first.setdefault(target, source)
        raise_found(found)
        return value


class CuratedColumn(_Section):
    type: TypeName
    cde: bool = False
    default: str | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _default_fits(cls, data: Any, handler, info: ValidationInfo) -> "CuratedColumn":
        """A CDE with a default, or a default that would not cast (the casting rules, DuckDB)."""
        from leanops.schema.default_rules import default_problem
        found = []
        default, type_name = _field(cls, data, "default"), _field(cls, data, "type")
        if default is not None and (type_name is not None or _field(cls, data, "cde")):
            problem = default_problem(type_name or "", default, bool(_field(cls, data, "cde")),
                                      cast=_casts_checked(info) and type_name is not None)
            if problem:
                found.append(Found(("default",), problem, default))
        return collect(handler, data, found)


def default_partitions(merge_key: str) -> list[str]:
    """The partitioning of a curated or semantic table whose section sets no `partition_by`."""
    return ["day(publish_time)", f"bucket(16, {merge_key})"]


def _partition_problems(model: type[BaseModel], data: Any, section: str,
                        types: dict[str, str], undeclared: str | None) -> list[Found]:
    """Each `partition_by` entry (or the default, which follows the merge key) names a column of the
    table, with a type its transform takes. `types`: the table's columns and their types; `undeclared`:
    the type of any other column (Curated keeps undeclared columns as strings), None when there is none."""
    from leanops.catalog.partitioning import read_partition
    given = isinstance(data, dict) and data.get("partition_by") is not None
    merge_key = _field(model, data, "merge_key")
    entries = data["partition_by"] if given else [] if merge_key is None else default_partitions(merge_key)
    found = []
    for index, text in enumerate(entries if isinstance(entries, list) else []):
        try:
            entry = read_partition(text)
        except (TypeError, ValueError):  # not a partition at all: the entry's own error says so
            continue
        loc = ("partition_by", index) if given else ("partition_by",)
        where = f"{text!r}: " if given else f"the default partitioning's {text!r} (partition_by is not set): "
        type_name = types.get(entry.column, undeclared)
        if type_name is None:
            found.append(Found(loc, f"{where if entry.transform != 'identity' else ''}{entry.column!r} is not a "
                                    f"{section} column"
                                    f"{did_you_mean(entry.column, types)}: declare it in {section}.columns", text))
            continue
        wanted = _TRANSFORM_TYPES.get(entry.transform)
        if wanted and type_name.split("(")[0] not in wanted:
            held = f"is {type_name}" if entry.column in types else "is not declared, so it is a string there"
            found.append(Found(loc, f"{where}{entry.transform} takes a {_either(wanted)} column, and "
                                    f"{entry.column!r} {held}", text))
    return found


def _either(words: tuple[str, ...]) -> str:
    """`a, b or c`."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _declared_types(data: Any, column_model: type[BaseModel]) -> dict[str, str] | None:
    """The raw `columns` of a section: name -> type (None: a wrong type, reported on its own), or None."""
    columns = data.get("columns", {}) if isinstance(data, dict) else None
    if not isinstance(columns, dict):
        return None
    return {str(name): _field(column_model, spec, "type") for name, spec in columns.items()}


class CuratedSection(_Section):
    merge_key: ColumnName = "idempotency_key"
    order_by: ColumnName = "event_timestamp"
    partition_by: list[PartitionText] | None = None  # default: day(publish_time), bucket(16, merge_key)
    columns: dict[ColumnName, CuratedColumn] = Field(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keys_and_partitions(cls, data: Any, handler) -> "CuratedSection":
        """The merge key and the version column are declared (they need a type); each partition's column
        has a type its transform takes."""
        declared = _declared_types(data, CuratedColumn)
        if declared is None:
            return collect(handler, data, [])
        found = []
        for field in ("merge_key", "order_by"):
            name = _field(cls, data, field)
            if name is None or name in declared or name in _META_NAMES:
                continue
            hint = did_you_mean(name, declared)
            if field in data:
                found.append(Found((field,), f"{field} {name!r} is not declared in curated.columns{hint}: "
                                             "declare it there, with its type", name))
            else:
                found.append(Found((field,), f"{field} is not set, and its default {name!r} is not declared in "
                                             f"curated.columns{hint}: set {field}, or declare {name!r}", name))
        types = {**_META_TYPES, **{n: t for n, t in declared.items() if t is not None}}
        found += _partition_problems(cls, data, "curated", types, undeclared="string")
        return collect(handler, data, found)

    @property
    def partitions(self) -> list[str]:
        """`partition_by`, or the default that follows the merge key."""
        return self.partition_by if self.partition_by is not None else default_partitions(self.merge_key)


class SemanticColumn(_Section):
    """A governed column: its type, the curated column it comes `from`, and optional rules
    (`allowed` values, `min` / `max` bounds, a regex `pattern`) a row must meet to land."""

    type: TypeName
    source: ColumnName | None = Field(default=None, alias="from")
    allowed: list[str] | None = None
    min: str | float | int | None = None
    max: str | float | int | None = None
    pattern: str | None = None

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"pattern {value!r} is not a regular expression: {exc}") from None
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _rules_fit_type(cls, data: Any, handler, info: ValidationInfo) -> "SemanticColumn":
        """min / max need an ordered type, and must be values of it (the casting rules, DuckDB)."""
        from leanops.schema.default_rules import default_failure
        type_name, found = _field(cls, data, "type"), []
        for bound in ("min", "max"):
            value = _field(cls, data, bound)
            if value is None or type_name is None:
                continue
            if type_name in ("string", "boolean"):
                found.append(Found((bound,), f"{bound} needs an ordered type (a number, date or timestamp), "
                                             f"and the column is {type_name}", value))
            elif _casts_checked(info):
                reason = default_failure(type_name, str(value))
                if reason:
                    found.append(Found((bound,), f"{bound} {str(value)!r} is not a valid {type_name}: {reason}",
                                       value))
        return collect(handler, data, found)


class SemanticSection(_Section):
    merge_key: ColumnName = "idempotency_key"
    order_by: ColumnName = "event_timestamp"
    partition_by: list[PartitionText] | None = None  # default: day(publish_time), bucket(16, merge_key)
    columns: dict[ColumnName, SemanticColumn] = Field(default_factory=dict)
    cluster_by: list[str] | None = None  # Snowflake's CLUSTER BY (export-ddl), e.g. a high-cardinality filter column

    @model_validator(mode="wrap")
    @classmethod
    def _columns_exist(cls, data: Any, handler) -> "SemanticSection":
        """`cluster_by` and each partition name semantic columns (the merge key is one, as a string when it
        is not declared), each partition with a type its transform takes."""
        declared = _declared_types(data, SemanticColumn)
        merge_key = _field(cls, data, "merge_key")
        if declared is None or merge_key is None:
            return collect(handler, data, [])
        names = {merge_key: "string", **declared}
        found = []
        cluster_by = _field(cls, data, "cluster_by")
        if cluster_by is not None and not cluster_by:
            found.append(Found(("cluster_by",), "must list one or more semantic columns (or be left out)", []))
        for index, name in enumerate(cluster_by or []):
            if name not in names:
                found.append(Found(("cluster_by", index), f"{name!r} is not a semantic column"
                                                          f"{did_you_mean(name, names)}: declare it in "
                                                          "semantic.columns", name))
            elif name in cluster_by[:index]:
                found.append(Found(("cluster_by", index), f"{name!r} is listed twice: cluster_by lists distinct "
                                                          "columns", name))
        types = {**_META_TYPES, **{n: t for n, t in names.items() if t is not None}}
        found += _partition_problems(cls, data, "semantic", types, undeclared=None)
        return collect(handler, data, found)

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

    @property
    def no_semantic_by_design(self) -> bool:
        """`"semantic": null` in the file: the topic has no semantic layer on purpose, so its Curated data
        raises no MissingSemanticSchema alert (a file without the key alerts once)."""
        return self.semantic is None and "semantic" in self.model_fields_set


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
    """Parse and validate one schema file; a SchemaFileError lists every problem, each with its field.

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
    found = _topic_problems(data.get("topic"), path)
    try:
        schema = TopicSchema.model_validate(data, context={FORM_ONLY: form_only})
    except ValidationError as exc:
        raise SchemaFileError.of(label, problems(exc, TopicSchema) + found) from exc
    if found:
        raise SchemaFileError.of(label, found)
    return schema


def _topic_problems(topic: object, path: Path) -> list[SchemaProblem]:
    """The file's `topic` is its name's stem, and a usable topic name (the pipeline loads a topic's file by
    its name; `deploy` and `lint` read every file of a directory). A missing or non-text topic is the
    model's error."""
    if not isinstance(topic, str):
        return []
    if topic != path.stem:
        return [SchemaProblem("topic", f"is {topic!r} but the file is named {path.name!r}")]
    from leanops.types import validate_topic
    try:
        validate_topic(topic)
    except InvalidTopicNameError as exc:
        return [SchemaProblem("topic", str(exc))]
    return []


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
