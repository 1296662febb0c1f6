"""One view over every error table: what went wrong, where, how often, with sample records.

    view = error_view(lake, topic="events", layer=None, since=None, samples=3)
    view.as_dict()  # {"totals": {"dlq": 2, "parse": 5, ...}, "groups": [{layer, topic, reason, count, samples}]}

| layer | table | what | time column |
|---|---|---|---|
| dlq | raw.dlq_errors | lines that were not envelopes (and SQS messages drained from the DLQ) | ingestion_ts |
| parse | standardized.parse_errors | payloads that are not JSON objects | error_ts |
| curated | curated.errors | missing critical data elements, values that do not cast | error_ts |
| semantic | semantic.errors | governance rules and types of the semantic schema | error_ts |

Groups are by topic and reason (curated and semantic: and column), largest first.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import AlwaysTrue, And, EqualTo, GreaterThanOrEqual

from leanops.catalog.tables import Lakehouse
from leanops.errors import LeanOpsError

LAYERS = ("dlq", "parse", "curated", "semantic")
TIME_COLUMN = {"dlq": "ingestion_ts", "parse": "error_ts", "curated": "error_ts", "semantic": "error_ts"}
SAMPLE_TEXT = 500  # characters of a sample's long text fields


@dataclasses.dataclass
class ErrorGroup:
    layer: str
    topic: str
    reason: str
    count: int
    column: str | None = None
    samples: list[dict] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ErrorView:
    groups: list[ErrorGroup]
    totals: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.totals.values())

    def as_dict(self) -> dict:
        return {"total": self.total, "totals": self.totals, "groups": [dataclasses.asdict(g) for g in self.groups]}


def _table(lake: Lakehouse, layer: str):
    return {"dlq": lake.dlq_table, "parse": lake.parse_errors_table, "curated": lake.curated_errors_table,
            "semantic": lake.semantic_errors_table}[layer]()


def _sample(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, str) and len(value) > SAMPLE_TEXT:
            value = value[:SAMPLE_TEXT] + f"… ({len(value)} characters)"
        out[key] = value
    return out


def layer_rows(lake: Lakehouse, layer: str, topic: str | None = None, since: datetime | None = None) -> pa.Table:
    """The error rows of one layer, filtered in the scan (topic, time)."""
    if layer not in LAYERS:
        raise LeanOpsError(f"unknown error layer {layer!r}; one of {', '.join(LAYERS)}")
    condition = AlwaysTrue()
    if topic is not None:
        condition = And(condition, EqualTo("topic_name", topic))
    if since is not None:
        condition = And(condition, GreaterThanOrEqual(TIME_COLUMN[layer], since.isoformat()))
    return _table(lake, layer).scan(row_filter=condition).to_arrow()


def error_view(lake: Lakehouse, topic: str | None = None, layer: str | None = None, since: datetime | None = None,
               samples: int = 3) -> ErrorView:
    """Counts by reason and samples, for one layer or all of them."""
    layers = LAYERS if layer is None else (layer,)
    groups, totals = [], {}
    for name in layers:
        rows = layer_rows(lake, name, topic, since)
        totals[name] = rows.num_rows
        if not rows.num_rows:
            continue
        keys = ["topic_name", "reason"] + (["column_name"] if "column_name" in rows.column_names else [])
        counted = rows.group_by(keys).aggregate([("reason", "count")]).sort_by([("reason_count", "descending")])
        for group in counted.to_pylist():
            mask = pc.and_(pc.equal(rows["topic_name"], group["topic_name"]), pc.equal(rows["reason"], group["reason"]))
            if "column_name" in group:
                column = rows["column_name"]
                mask = pc.and_(mask, pc.is_null(column) if group["column_name"] is None
                               else pc.equal(column, group["column_name"]))
            picked = rows.filter(mask).slice(0, samples).to_pylist()
            groups.append(ErrorGroup(name, group["topic_name"], group["reason"], group["reason_count"],
                                     group.get("column_name"), [_sample(r) for r in picked]))
    groups.sort(key=lambda g: (-g.count, g.layer, g.topic, g.reason))
    return ErrorView(groups, totals)
