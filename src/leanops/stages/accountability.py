"""100% record accountability, per topic and layer, computed from the tables themselves.

    ingestion:     lines read                 = RAW accepted + DLQ rejected
    standardized:  RAW rows up to checkpoint  = standardized rows + parse errors + duplicates dropped

Duplicates dropped are not rows anywhere, so each Standardized commit records its count in its
snapshot summary (`leanops.duplicates`); the sum over the table's lineage is the figure used here.
RAW rows after the checkpoint are reported as pending, not as missing.
"""
from __future__ import annotations

import dataclasses

from pyiceberg.expressions import EqualTo
from pyiceberg.table import Table

from leanops.catalog.tables import SUMMARY_DUPLICATES, SUMMARY_TOPIC, Lakehouse, ancestors
from leanops.stages.raw_reader import records_up_to
from leanops.stages.standardized import checkpoint_from_table
from leanops.state.base import StateReader


@dataclasses.dataclass
class LayerAccount:
    topic: str
    layer: str
    records_in: int
    written: int
    errors: int
    duplicates: int = 0
    superseded: int = 0
    pending: int = 0

    @property
    def accounted(self) -> int:
        return self.written + self.errors + self.duplicates + self.superseded

    @property
    def percent(self) -> float:
        return 100.0 if self.records_in == 0 else round(100.0 * self.accounted / self.records_in, 4)

    @property
    def ok(self) -> bool:
        return self.accounted == self.records_in

    def as_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data.update(accounted=self.accounted, percent=self.percent, ok=self.ok)
        return data


def _total_records(table: Table | None) -> int:
    if table is None or table.current_snapshot() is None:
        return 0
    return int(table.current_snapshot().summary.additional_properties.get("total-records", 0))


def _rows_for_topic(table: Table, topic: str) -> int:
    return table.scan(row_filter=EqualTo("topic_name", topic), selected_fields=("topic_name",)).to_arrow().num_rows


def _summed(table: Table, key: str, topic: str) -> int:
    total = 0
    for snapshot in ancestors(table):
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        if props.get(SUMMARY_TOPIC) == topic and key in props:
            total += int(props[key])
    return total


def ingestion_account(lake: Lakehouse, state: StateReader, topic: str) -> LayerAccount:
    lines = sum(r.lines_read for r in state.list_ingests(topic))
    return LayerAccount(topic, "ingestion", records_in=lines, written=_total_records(lake.raw_table(topic)),
                        errors=_rows_for_topic(lake.dlq_table(), topic))


def standardized_account(lake: Lakehouse, topic: str) -> LayerAccount:
    raw = lake.raw_table(topic)
    table = lake.standardized_table(topic)
    raw_total = _total_records(raw)
    if table is None or raw is None:
        return LayerAccount(topic, "standardized", 0, 0, 0, pending=raw_total)
    consumed = records_up_to(raw, checkpoint_from_table(table, topic))
    return LayerAccount(topic, "standardized", records_in=consumed, written=_total_records(table),
                        errors=_rows_for_topic(lake.parse_errors_table(), topic),
                        duplicates=_summed(table, SUMMARY_DUPLICATES, topic), pending=raw_total - consumed)


def topic_accounts(lake: Lakehouse, state: StateReader, topic: str) -> list[LayerAccount]:
    return [ingestion_account(lake, state, topic), standardized_account(lake, topic)]
