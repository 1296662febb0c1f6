"""The effective schema of a topic: every field in force, whether the file sets it or a default does.

    fields = effective_fields(schema, settings.maintenance)
    # [EffectiveField("curated.partition_by", ["day(publish_time)", "bucket(16, order_id)"], "default",
    #                 "day(publish_time), bucket(16, <merge_key>): follows curated.merge_key"), ...]
    document(fields)  # the same as one nested object, every default filled in

Some defaults follow other fields (the partitioning follows the merge key; a semantic column comes
`from` the curated column of its own name; the semantic merge key is added as a string column when it
is not declared; the maintenance policy is the deployment's where the file sets nothing): reading the
file alone does not show them. `leanops schema show T` prints this (docs/schema-files.md).
"""
from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel

from leanops.maintenance.policy import MaintenancePolicy
from leanops.schema_file import (
    CuratedColumn, CuratedSection, SemanticColumn, SemanticSection, ShapeLimits, StandardizedSection, TopicSchema,
)

FILE, DEFAULT, DERIVED, DEPLOYMENT, ABSENT = "file", "default", "derived", "deployment", "absent"
_NO_SECTION = {
    "standardized": "no Standardized layer: the topic's data waits in RAW",
    "curated": "no Curated layer: the data stops at Standardized",
    "semantic": "no Semantic layer: the data stops at Curated",
}
_NOTES = {  # (model, field) -> why the default is what it is
    (StandardizedSection, "column_map"): "no renames: flattened names are the column names",
    (CuratedSection, "partition_by"): "day(publish_time), bucket(16, <merge_key>): follows curated.merge_key",
    (SemanticSection, "partition_by"): "day(publish_time), bucket(16, <merge_key>): follows semantic.merge_key",
    (CuratedColumn, "cde"): "a missing value is null, not an error",
    (CuratedColumn, "default"): "none: a missing value stays null",
    (SemanticColumn, "source"): "the curated column of the same name",
    (SemanticSection, "cluster_by"): "none: Snowflake's CREATE gets no CLUSTER BY",
}


@dataclasses.dataclass(frozen=True)
class EffectiveField:
    """One field in force: its JSON path, its value, where the value comes from (`file`, `default`, `derived`
    from other fields, `deployment` for LEANOPS_MAINTENANCE, `absent` for a section the file leaves out), and
    why a default is what it is."""

    field: str
    value: Any
    source: str
    note: str = ""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def effective_fields(schema: TopicSchema, deployment: MaintenancePolicy | None = None) -> list[EffectiveField]:
    """Every field of `schema` in force, in the file's order of sections. `deployment`: the deployment's
    maintenance policy (default: the built-in one), which the file's `maintenance` overrides field by field."""
    fields = [EffectiveField("topic", schema.topic, FILE)]
    if schema.description is not None:
        fields.append(EffectiveField("description", schema.description, FILE))
    for name in ("standardized", "curated", "semantic"):
        section = getattr(schema, name)
        if section is None:
            fields.append(EffectiveField(name, None, ABSENT, _NO_SECTION[name]))
        else:
            fields += _section(name, section)
    if schema.change is not None:
        fields += _model("change", schema.change)
    fields += _maintenance(schema.maintenance, deployment or MaintenancePolicy())
    return fields


def document(fields: list[EffectiveField]) -> dict:
    """The fields as one nested object (what the file would be with every default written out)."""
    result: dict = {}
    for item in fields:
        *parents, last = item.field.split(".")
        node = result
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = item.value
    return result


def _section(name: str, section: BaseModel) -> list[EffectiveField]:
    fields = []
    for field in type(section).model_fields:
        path, value = f"{name}.{field}", getattr(section, field)
        if field == "columns":
            fields += _columns(name, section)
        elif field == "limits":
            limits = section.limits or ShapeLimits()
            fields += _model(path, limits, given=section.limits.model_fields_set if section.limits else set())
        elif field == "partition_by":
            fields.append(_value(path, section.partitions, field in section.model_fields_set,
                                 _NOTES[(type(section), field)]))
        else:
            fields.append(_value(path, _plain(value), field in section.model_fields_set,
                                 _NOTES.get((type(section), field), "")))
    if isinstance(section, CuratedSection):
        cdes = [n for n, c in section.columns.items() if c.cde]
        fields.append(EffectiveField("curated.cdes", cdes, DERIVED,
                                     "the columns with cde: true: a row missing one goes to curated.errors (so "
                                     "does a row without its merge key)"))
    return fields


def _columns(name: str, section: BaseModel) -> list[EffectiveField]:
    fields = []
    columns = section.all_columns if isinstance(section, SemanticSection) else section.columns
    for column_name, column in columns.items():
        path = f"{name}.columns.{column_name}"
        if column_name not in section.columns:  # the semantic merge key, not declared
            fields.append(EffectiveField(f"{path}.type", "string", DERIVED,
                                         "the merge key, added first as a string when semantic.columns does "
                                         "not declare it"))
            continue
        for field, info in type(column).model_fields.items():
            key = info.alias or field
            value = getattr(column, field)
            if isinstance(column, SemanticColumn) and field == "source" and value is None:
                fields.append(EffectiveField(f"{path}.{key}", column_name, DEFAULT, _NOTES[(SemanticColumn, field)]))
            elif isinstance(column, SemanticColumn) and value is None and field not in column.model_fields_set:
                continue  # a governance rule left out: none applies
            else:
                note = _NOTES.get((type(column), field), "")
                if isinstance(column, CuratedColumn) and field in ("cde", "default") and (
                        column.cde or column_name == section.merge_key):
                    note = "a row missing it goes to curated.errors" + (
                        "" if column.cde else ": it is the merge key, required whatever cde says")
                fields.append(_value(f"{path}.{key}", _plain(value), field in column.model_fields_set, note))
    return fields


def _model(path: str, model: BaseModel, given: set[str] | None = None) -> list[EffectiveField]:
    given = model.model_fields_set if given is None else given
    return [_value(f"{path}.{info.alias or field}", _plain(getattr(model, field)), field in given)
            for field, info in type(model).model_fields.items()]


def _maintenance(override: MaintenancePolicy | None, deployment: MaintenancePolicy) -> list[EffectiveField]:
    """The deployment's policy with the fields the file sets (MaintenancePolicy.merged, as the runs use it)."""
    built_in, policy = MaintenancePolicy(), deployment.merged(override)
    fields = []
    for field in MaintenancePolicy.model_fields:
        value = getattr(policy, field)
        if override is not None and field in override.model_fields_set:
            fields.append(EffectiveField(f"maintenance.{field}", value, FILE))
        elif value != getattr(built_in, field):
            fields.append(EffectiveField(f"maintenance.{field}", value, DEPLOYMENT, "LEANOPS_MAINTENANCE"))
        else:
            fields.append(EffectiveField(f"maintenance.{field}", value, DEFAULT))
    return fields


def _value(path: str, value: Any, given: bool, note: str = "") -> EffectiveField:
    return EffectiveField(path, value, FILE, "") if given else EffectiveField(path, value, DEFAULT, note)


def _plain(value: Any) -> Any:
    """A JSON value: models as objects (by their file names), the rest as it is."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
