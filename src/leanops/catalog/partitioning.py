"""`partition_by` strings of a schema file -> an Iceberg PartitionSpec.

Accepted forms: `col` (identity), `year(col)`, `month(col)`, `day(col)`, `hour(col)`,
`bucket(N, col)`, `truncate(W, col)`.

>>> [f.name for f in partition_spec(["day(publish_time)", "bucket(16, idempotency_key)"], _demo()).fields]
['publish_time_day', 'idempotency_key_bucket_16']
"""
from __future__ import annotations

import re

from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import (
    BucketTransform, DayTransform, HourTransform, IdentityTransform, MonthTransform, Transform, TruncateTransform,
    YearTransform,
)

_FORM = re.compile(r"^\s*(?:(?P<fn>year|month|day|hour)\(\s*(?P<c1>\w+)\s*\)"
                   r"|(?P<fn2>bucket|truncate)\(\s*(?P<n>\d+)\s*,\s*(?P<c2>\w+)\s*\)"
                   r"|(?P<c3>\w+))\s*$")
_TIME = {"year": YearTransform, "month": MonthTransform, "day": DayTransform, "hour": HourTransform}


def parse_partition(text: str) -> tuple[str, Transform, str]:
    """One `partition_by` entry -> (source column, transform, partition field name)."""
    match = _FORM.match(text)
    if not match:
        raise ValueError(f"partition {text!r}: use col, year(col), month(col), day(col), hour(col), "
                         "bucket(N, col) or truncate(W, col)")
    if match["fn"]:
        return match["c1"], _TIME[match["fn"]](), f"{match['c1']}_{match['fn']}"
    if match["fn2"]:
        n = int(match["n"])
        if n < 1:
            raise ValueError(f"partition {text!r}: N must be at least 1")
        transform = BucketTransform(n) if match["fn2"] == "bucket" else TruncateTransform(n)
        return match["c2"], transform, f"{match['c2']}_{match['fn2']}_{n}"
    return match["c3"], IdentityTransform(), match["c3"]


def partition_spec(entries: list[str], schema: Schema) -> PartitionSpec:
    fields = []
    for i, entry in enumerate(entries):
        column, transform, name = parse_partition(entry)
        field = schema.find_field(column) if column in {f.name for f in schema.fields} else None
        if field is None:
            raise ValueError(f"partition {entry!r}: no column {column!r} in the table")
        fields.append(PartitionField(source_id=field.field_id, field_id=1000 + i, transform=transform, name=name))
    return PartitionSpec(*fields)


def _demo() -> Schema:  # doctest helper
    from pyiceberg.types import NestedField, StringType, TimestamptzType
    return Schema(NestedField(1, "publish_time", TimestamptzType()), NestedField(2, "idempotency_key", StringType()))
