"""`partition_by` strings of a schema file -> an Iceberg PartitionSpec.

Accepted forms: `col` (identity), `year(col)`, `month(col)`, `day(col)`, `hour(col)`,
`bucket(N, col)`, `truncate(W, col)`.

>>> [f.name for f in partition_spec(["day(publish_time)", "bucket(16, idempotency_key)"], _demo()).fields]
['publish_time_day', 'idempotency_key_bucket_16']
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # PyIceberg is imported where a spec is built: reading the text (schema files) is light
    from pyiceberg.partitioning import PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.transforms import Transform

_FORM = re.compile(r"^\s*(?:(?P<fn>year|month|day|hour)\(\s*(?P<c1>\w+)\s*\)"
                   r"|(?P<fn2>bucket|truncate)\(\s*(?P<n>\d+)\s*,\s*(?P<c2>\w+)\s*\)"
                   r"|(?P<c3>\w+))\s*$")


class PartitionEntry(NamedTuple):
    """One `partition_by` entry as written: two entries are the same partitioning when these are equal."""

    column: str
    transform: str  # identity, year, month, day, hour, bucket or truncate
    width: int | None  # bucket's N or truncate's W
    name: str  # the partition field's name


def read_partition(text: str) -> PartitionEntry:
    """One `partition_by` entry, checked (ValueError) without building its Iceberg transform."""
    match = _FORM.match(text)
    if not match:
        raise ValueError(f"partition {text!r}: use col, year(col), month(col), day(col), hour(col), "
                         "bucket(N, col) or truncate(W, col)")
    if match["fn"]:
        return PartitionEntry(match["c1"], match["fn"], None, f"{match['c1']}_{match['fn']}")
    if match["fn2"]:
        n = int(match["n"])
        if n < 1:
            raise ValueError(f"partition {text!r}: N must be at least 1")
        return PartitionEntry(match["c2"], match["fn2"], n, f"{match['c2']}_{match['fn2']}_{n}")
    return PartitionEntry(match["c3"], "identity", None, match["c3"])


def parse_partition(text: str) -> tuple[str, Transform, str]:
    """One `partition_by` entry -> (source column, transform, partition field name)."""
    from pyiceberg.transforms import (
        BucketTransform, DayTransform, HourTransform, IdentityTransform, MonthTransform, TruncateTransform,
        YearTransform,
    )
    entry = read_partition(text)
    make = {"year": YearTransform, "month": MonthTransform, "day": DayTransform, "hour": HourTransform,
            "identity": IdentityTransform, "bucket": BucketTransform, "truncate": TruncateTransform}[entry.transform]
    return entry.column, make(entry.width) if entry.width is not None else make(), entry.name


def partition_spec(entries: list[str], schema: Schema) -> PartitionSpec:
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    fields = []
    for i, entry in enumerate(entries):
        column, transform, name = parse_partition(entry)
        field = schema.find_field(column) if column in {f.name for f in schema.fields} else None
        if field is None:
            raise ValueError(f"partition {entry!r}: no column {column!r} in the table")
        fields.append(PartitionField(source_id=field.field_id, field_id=1000 + i, transform=transform, name=name))
    return PartitionSpec(*fields)


def _demo() -> Schema:  # doctest helper
    from pyiceberg.schema import Schema
    from pyiceberg.types import NestedField, StringType, TimestamptzType
    return Schema(NestedField(1, "publish_time", TimestamptzType()), NestedField(2, "idempotency_key", StringType()))
