"""100% record accountability, per topic and layer, computed from the tables themselves.

    ingestion:     lines read                 = RAW accepted + DLQ rejected   (per sealed ingest)
    standardized:  RAW rows up to checkpoint  = standardized rows + parse errors + duplicates dropped
    curated:       Standardized rows up to checkpoint
                                              = live curated rows + CDE/cast errors + superseded
    semantic:      changed Curated rows read  = live semantic rows + governance/cast errors
                                                + stored rows a newer version replaced

Duplicates dropped and versions superseded are not rows anywhere, so each commit records its counts
in its snapshot summary (`leanops.duplicates`, `leanops.superseded`, `leanops.replaced`); the sums
over the table's lineage are the figures used here. The error rows of a topic are counted from the
shared error tables' commit summaries too (leanops.catalog.shared_rows: each commit names the topic
whose rows it changed), so an account reads table metadata only; where the summaries cannot tell
exactly, and always with `deep=True`, the rows are scanned. Superseded = batch rows that lost latest-wins
plus stored rows a newer version replaced (those are position-deleted, so live rows = records -
position deletes).
RAW rows after the checkpoint are reported as pending, not as missing. A checkpoint inside a snapshot
(`leanops.stages.position`) counts only the files of that snapshot it consumed, so a topic is exact after
every batch, not only after a whole ingest. DLQ rows of an ingest whose
RAW commit never happened (the process died) are reported as orphaned: that input was not ingested.
An error fixed by `leanops errors replay` moves from `errors` to `written` (or `superseded`) of its
layer; `in` does not change, so a fixed record is never counted twice (leanops.ops.replay, .corrections).
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from pyiceberg.expressions import EqualTo, In
from pyiceberg.table import Table

from leanops.catalog.local_reader import scannable
from leanops.catalog.rollups import TopicRollup, counted, read_rollups, rolled_up_set, rolled_up_sum
from leanops.catalog.shared_rows import SharedRows, shared_rows
from leanops.catalog.side_lists import read_side_list, replayed_ids
from leanops.catalog.tables import (
    ROLLUP_MANIFEST_REJECTED, ROLLUP_MANIFEST_WRITTEN, SUMMARY_MANIFEST_ID, SUMMARY_REJECTED, SUMMARY_REPLAYED_IDS,
    SUMMARY_DUPLICATES, SUMMARY_INGEST_ID, SUMMARY_LINES_READ, SUMMARY_RECORDS_IN, SUMMARY_REPLACED,
    SUMMARY_RESOLVES_DLQ, SUMMARY_SUPERSEDED, SUMMARY_TOPIC, SUMMARY_UNCOUNTED_LINES, Lakehouse,
)
from leanops.stages.incremental import records_up_to, rows_added_after

if TYPE_CHECKING:
    import pyarrow as pa

DLQ_SOURCE = "leanops.dlq-source"  # summary key of the DLQ drainer's commits (leanops.aws.lambdas.dlq_drainer)
from leanops.stages.checkpoint import position_from_table


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
    orphaned: int = 0  # informational: rejects of interrupted ingests, not part of the balance
    # the files layer: landed files that never reached RAW (failed, or stuck in processing). Their lines
    # were never counted, so they are an open gap in files, not in lines, until retried or dismissed
    failed_files: int = 0
    reason: str | None = None  # why the layer is open, and what recovers it

    @property
    def accounted(self) -> int:
        return self.written + self.errors + self.duplicates + self.superseded

    @property
    def percent(self) -> float | None:
        """accounted / in as a percentage; None when nothing came in but something was accounted, or when
        landed files are missing whose lines nobody counted (the figure would claim too much)."""
        if self.failed_files:
            return None
        if self.records_in == 0:
            return 100.0 if self.accounted == 0 else None
        return round(100.0 * self.accounted / self.records_in, 4)

    @property
    def ok(self) -> bool:
        return self.accounted == self.records_in and not self.failed_files

    def as_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data.update(accounted=self.accounted, percent=self.percent, ok=self.ok)
        return data


def _total_records(table: Table | None) -> int:
    if table is None or table.current_snapshot() is None:
        return 0
    return int(table.current_snapshot().summary.additional_properties.get("total-records", 0))


def _scan(table: Table, topic: str, fields: tuple[str, ...], **kwargs) -> pa.Table:
    """The topic's rows of a shared table, `fields` only (the scan path: PyArrow)."""
    return scannable(table).scan(row_filter=EqualTo("topic_name", topic), selected_fields=fields, **kwargs).to_arrow()


_COUNTS: dict[tuple[str, int], SharedRows | None] = {}  # shared tables' per-topic rows, by metadata and head
_NOT_COUNTED = object()


def _shared_rows(table: Table | None) -> SharedRows | None:
    """`shared_rows(table)`, computed once per metadata version of the table (every topic reads it)."""
    if table is None or table.current_snapshot() is None:
        return shared_rows(table)
    key = (table.metadata_location, table.current_snapshot().snapshot_id)
    known = _COUNTS.get(key, _NOT_COUNTED)  # (None is an answer: the summaries cannot tell)
    if known is not _NOT_COUNTED:
        return known  # type: ignore[return-value]
    counts = shared_rows(table)
    if len(_COUNTS) > 64:  # a cycle's threads share it: at worst one computes what another just did
        _COUNTS.clear()
    _COUNTS[key] = counts
    return counts


def _error_rows(table: Table | None, topic: str, deep: bool) -> int:
    """The topic's rows of an error table: from its commit summaries, else (or `deep`) counted by a scan."""
    if table is None:
        return 0
    counts = None if deep else _shared_rows(table)
    if counts is not None:
        return counts.rows.get(topic, 0)
    return _scan(table, topic, ("topic_name",)).num_rows


def _summed(table: Table, key: str, topic: str) -> int:
    """A summary count over the table's retained lineage, plus what expiry rolled up."""
    total = rolled_up_sum(table, topic, key)
    for snapshot in counted(table):
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        if props.get(SUMMARY_TOPIC) == topic and key in props:
            total += int(props[key])
    return total


@dataclasses.dataclass
class RawLedger:
    """What RAW's commit summaries say about the ingests: the lines they read and the DLQ rows fixed since."""

    lines: int = 0  # lines read by sealed ingests
    sealed: set[str] = dataclasses.field(default_factory=set)  # ingest ids with a RAW commit
    resolved: set[tuple[str, str, int]] = dataclasses.field(default_factory=set)  # DLQ rows fixed by a replay
    uncounted: int = 0  # corrected lines whose DLQ row was never counted in (drained or orphaned)


def raw_ledger(raw: Table | None) -> RawLedger:
    """From RAW's retained commits and the roll-up of its expired ones (leanops.catalog.rollups)."""
    ledger = RawLedger()
    if raw is not None:
        topic = raw.name()[-1].removesuffix("_staging")
        ledger.lines = rolled_up_sum(raw, topic, SUMMARY_LINES_READ)
        ledger.uncounted = rolled_up_sum(raw, topic, SUMMARY_UNCOUNTED_LINES)
        ledger.sealed = set(rolled_up_set(raw, topic, "sealed"))
        ledger.resolved = {(i, s, int(n)) for i, s, n in rolled_up_set(raw, topic, "resolved")}
    for snapshot in counted(raw):
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        if SUMMARY_LINES_READ in props:
            ledger.lines += int(props[SUMMARY_LINES_READ])
            ledger.sealed.add(props.get(SUMMARY_INGEST_ID))
        if SUMMARY_RESOLVES_DLQ in props:
            ledger.resolved.update((i, s, int(n)) for i, s, n in read_side_list(raw, props[SUMMARY_RESOLVES_DLQ]))
            ledger.uncounted += int(props.get(SUMMARY_UNCOUNTED_LINES, 0))
    return ledger


def ingestion_account(lake: Lakehouse, topic: str, deep: bool = False) -> LayerAccount:
    """Lines read (from each sealed ingest's RAW commit) = RAW rows + DLQ rows of those ingests.

    A DLQ row fixed by `leanops errors replay --layer dlq` left the errors and its corrected line joined
    RAW: the line is not read twice. Rows resolved in RAW but not deleted yet (a replay interrupted
    before its deletion) are no longer errors already. A fixed row that was never counted in (drained
    from the SQS DLQ, or orphaned) brings its line into `in` with it."""
    raw = lake.raw_table(topic)
    ledger = raw_ledger(raw)
    dlq = lake.load(Lakehouse.DLQ)
    split = None if deep or dlq is None else _dlq_split_from_summaries(dlq, topic, ledger)
    errors, orphaned = split if split is not None else _dlq_split_by_scan(dlq, topic, ledger)
    return LayerAccount(topic, "ingestion", records_in=ledger.lines + ledger.uncounted, written=_total_records(raw),
                        errors=errors, orphaned=orphaned)


def _dlq_split_from_summaries(dlq: Table, topic: str, ledger: RawLedger) -> tuple[int, int] | None:
    """(rows of sealed ingests, orphaned rows) of the topic's DLQ rows, from the DLQ's commit summaries:
    each ingest's commits say how many rows it rejected. None when they cannot tell: a replay took rows
    since the roll-up, or fixed rows may still wait for their deletion (RAW names resolved rows)."""
    counts = _shared_rows(dlq)
    if counts is None:
        return None
    if counts.rows.get(topic, 0) == 0:
        return 0, 0
    per_ingest = None if ledger.resolved else counts.by_ingest(topic)
    if per_ingest is None:
        return None
    drained = drain_runs(dlq)  # SQS DLQ messages: accounted before RAW (leanops.aws.accounting)
    counted_in = {i: n for i, n in per_ingest.items() if i not in drained}
    sealed = sum(n for i, n in counted_in.items() if i in ledger.sealed)
    return sealed, sum(counted_in.values()) - sealed


def _dlq_split_by_scan(dlq: Table | None, topic: str, ledger: RawLedger) -> tuple[int, int]:
    """(rows of sealed ingests, orphaned rows) of the topic's DLQ rows, from the rows themselves."""
    if dlq is None:
        return 0, 0
    import pyarrow as pa
    import pyarrow.compute as pc
    rejects = _scan(dlq, topic, ("ingest_id", "source", "line_number"))
    if ledger.resolved:
        fixed = pa.Table.from_pylist([dict(zip(("ingest_id", "source", "line_number"), key))
                                      for key in ledger.resolved], schema=rejects.schema)
        rejects = rejects.join(fixed, ["ingest_id", "source", "line_number"], join_type="left anti")
    drained = sorted(drain_runs(dlq))  # SQS DLQ messages: accounted before RAW (leanops.aws.accounting)
    rejects = rejects.filter(pc.invert(pc.is_in(rejects["ingest_id"], pa.array(drained, pa.string()))))
    in_sealed = pc.sum(pc.is_in(rejects["ingest_id"], pa.array(sorted(ledger.sealed), pa.string()))).as_py() or 0
    return in_sealed, rejects.num_rows - in_sealed


def drain_runs(dlq: Table) -> set[str]:
    """Ids of the DLQ drainer's commits (marked `leanops.dlq-source`): messages that never reached RAW."""
    runs = set(rolled_up_set(dlq, "", "drained"))
    for snapshot in counted(dlq):
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        if DLQ_SOURCE in props and SUMMARY_INGEST_ID in props:
            runs.add(props[SUMMARY_INGEST_ID])
    return runs


def standardized_account(lake: Lakehouse, topic: str, deep: bool = False) -> LayerAccount:
    raw = lake.raw_table(topic)
    table = lake.standardized_table(topic)
    raw_total = _total_records(raw)
    if table is None or raw is None:
        return LayerAccount(topic, "standardized", 0, 0, 0, pending=raw_total)
    consumed = records_up_to(raw, position_from_table(table, topic))
    return LayerAccount(topic, "standardized", records_in=consumed, written=_total_records(table),
                        errors=_open_parse_errors(lake, table, topic, deep),
                        duplicates=_summed(table, SUMMARY_DUPLICATES, topic), pending=raw_total - consumed)


def _open_parse_errors(lake: Lakehouse, table: Table, topic: str, deep: bool) -> int:
    """The topic's parse errors not yet written to Standardized by a replay. From the summaries while the
    topic has no replayed ids to check (no parse replay in the retained history, none open in the roll-up);
    else by the scan of `parse_errors_split`."""
    errors = lake.load(Lakehouse.PARSE_ERRORS)
    if errors is None:
        return 0
    if not deep and not replayed_ids(table):
        counts = _shared_rows(errors)
        if counts is not None:
            return counts.rows.get(topic, 0)
    return parse_errors_split(lake, table, topic)[0].num_rows


PARSE_ERROR_KEY = ["message_id", "ingestion_ts"]  # one parse error: a later broken twin has another ingestion_ts


def parse_errors_split(lake: Lakehouse, table: Table, topic: str,
                       extra_fields: tuple[str, ...] = ()) -> tuple[pa.Table, pa.Table]:
    """The topic's parse errors as (open, written): `written` are those a replay commit already wrote to
    `table` (a replay that died before deleting them): the corrected row keeps the error's message id
    and ingestion_ts. A later broken network twin of a fixed message has another ingestion_ts, so it
    stays open. Rows carry the key and `extra_fields`; Standardized is read only for ids a replay took."""
    errors = _scan(lake.parse_errors_table(), topic, (*PARSE_ERROR_KEY, *extra_fields))
    candidates = sorted(set(errors["message_id"].to_pylist()) & replayed_ids(table)) if errors.num_rows else []
    if not candidates:
        return errors, errors.slice(0, 0)
    written = scannable(table).scan(row_filter=In("message_id", candidates),
                                    selected_fields=tuple(PARSE_ERROR_KEY)).to_arrow()
    written = written.cast(errors.select(PARSE_ERROR_KEY).schema)
    return (errors.join(written, PARSE_ERROR_KEY, join_type="left anti"),
            errors.join(written, PARSE_ERROR_KEY, join_type="left semi"))


def curated_account(lake: Lakehouse, topic: str, deep: bool = False) -> LayerAccount | None:
    table = lake.curated_table(topic)
    source = lake.standardized_table(topic)
    if table is None or source is None:
        return None
    consumed = records_up_to(source, position_from_table(table, topic))
    props = table.current_snapshot().summary.additional_properties if table.current_snapshot() else {}
    live = int(props.get("total-records", 0)) - int(props.get("total-position-deletes", 0))
    superseded = _summed(table, SUMMARY_SUPERSEDED, topic) + _summed(table, SUMMARY_REPLACED, topic)
    return LayerAccount(topic, "curated", records_in=consumed, written=live,
                        errors=_error_rows(lake.load(Lakehouse.CURATED_ERRORS), topic, deep), superseded=superseded,
                        pending=_total_records(source) - consumed)


def semantic_account(lake: Lakehouse, topic: str, deep: bool = False) -> LayerAccount | None:
    """Curated rows changed and consumed = live semantic rows + errors + stored rows they replaced."""
    table = lake.semantic_table(topic)
    source = lake.curated_table(topic)
    if table is None or source is None:
        return None
    consumed = _summed(table, SUMMARY_RECORDS_IN, topic)
    props = table.current_snapshot().summary.additional_properties if table.current_snapshot() else {}
    live = int(props.get("total-records", 0)) - int(props.get("total-position-deletes", 0))
    return LayerAccount(topic, "semantic", records_in=consumed, written=live,
                        errors=_error_rows(lake.load(Lakehouse.SEMANTIC_ERRORS), topic, deep),
                        superseded=_summed(table, SUMMARY_REPLACED, topic),
                        pending=rows_added_after(source, position_from_table(table, topic)))


def topic_accounts(lake: Lakehouse, topic: str, deep: bool = False) -> list[LayerAccount]:
    """The topic's layers. Error rows are counted from the error tables' commit summaries where those tell
    exactly (leanops.catalog.shared_rows), else by scanning the tables' rows; `deep` always scans (the
    check that both agree: `leanops accountability --deep`)."""
    accounts = [ingestion_account(lake, topic, deep), standardized_account(lake, topic, deep)]
    curated = curated_account(lake, topic, deep)
    semantic = semantic_account(lake, topic, deep)
    return accounts + ([curated] if curated else []) + ([semantic] if semantic else [])


# -- what snapshot expiry must keep (leanops.maintenance.expire, leanops.catalog.rollups) -----------
ROLLED_UP_SUMS = {  # the summary keys the accounts above sum, per kind of table
    "raw": (SUMMARY_LINES_READ, SUMMARY_UNCOUNTED_LINES),
    "standardized": (SUMMARY_DUPLICATES,),
    "curated": (SUMMARY_SUPERSEDED, SUMMARY_REPLACED),
    "semantic": (SUMMARY_RECORDS_IN, SUMMARY_REPLACED),
}
ERROR_TABLE_OF = {"standardized": "parse_errors_table", "curated": "curated_errors_table",
                  "semantic": "semantic_errors_table"}


def expiry_rollups(lake: Lakehouse, kind: str, table: Table, expired: list, topic: str = "") -> dict[str, TopicRollup]:
    """The table's roll-ups once `expired` (snapshots) are gone: the sums of what they counted added, and
    the sets accountability still reads (ingests sealed, DLQ rows resolved, ids replayed, DLQ drains)
    kept only while the errors they explain are still open. Complete values, not a delta.

    `kind` is raw, standardized, curated, semantic (a topic's table: `topic` names it) or dlq."""
    rollups = read_rollups(table)
    delta = TopicRollup()
    props = [s.summary.additional_properties if s.summary else {} for s in expired]
    for p in props:
        if kind != "raw" and p.get(SUMMARY_TOPIC) != topic:
            continue  # as the accounts count them: RAW's ledger reads every commit, the others their topic's
        for key in ROLLED_UP_SUMS.get(kind, ()):
            if key in p:
                delta.sums[key] = delta.sums.get(key, 0) + int(p[key])
        if kind == "raw" and SUMMARY_MANIFEST_ID in p:
            read, rejected = int(p.get(SUMMARY_LINES_READ, 0)), int(p.get(SUMMARY_REJECTED, 0))
            delta.sums[ROLLUP_MANIFEST_WRITTEN] = delta.sums.get(ROLLUP_MANIFEST_WRITTEN, 0) + read - rejected
            delta.sums[ROLLUP_MANIFEST_REJECTED] = delta.sums.get(ROLLUP_MANIFEST_REJECTED, 0) + rejected
    rollup = rollups.get(topic, TopicRollup()).add(delta)
    rollup.sets = _open_sets(lake, kind, table, topic, rollup.sets, props)
    rollups[topic] = rollup
    return rollups


def _open_sets(lake: Lakehouse, kind: str, table: Table, topic: str, sets: dict[str, list],
               props: list[dict]) -> dict[str, list]:
    if kind == "raw":
        rejects = lake.dlq_table().scan(row_filter=EqualTo("topic_name", topic),
                                        selected_fields=("ingest_id", "source", "line_number")).to_arrow()
        open_ids = set(rejects["ingest_id"].to_pylist())
        open_keys = set(zip(rejects["ingest_id"].to_pylist(), rejects["source"].to_pylist(),
                            rejects["line_number"].to_pylist()))
        sealed = set(sets.get("sealed", ())) | {p.get(SUMMARY_INGEST_ID) for p in props if SUMMARY_LINES_READ in p}
        resolved = {tuple(k) for k in sets.get("resolved", ())}
        for p in props:
            if SUMMARY_RESOLVES_DLQ in p:
                resolved.update((i, s, int(n)) for i, s, n in read_side_list(table, p[SUMMARY_RESOLVES_DLQ]))
        return {"sealed": sorted(sealed & open_ids), "resolved": sorted(k for k in resolved if k in open_keys)}
    if kind == "dlq":
        open_ids = set(table.scan(selected_fields=("ingest_id",)).to_arrow()["ingest_id"].to_pylist())
        drained = set(sets.get("drained", ())) | {p[SUMMARY_INGEST_ID] for p in props
                                                   if DLQ_SOURCE in p and SUMMARY_INGEST_ID in p}
        return {"drained": sorted(drained & open_ids)}
    if kind in ERROR_TABLE_OF and topic:
        replayed = set(sets.get("replayed", ()))
        for p in props:
            if SUMMARY_REPLAYED_IDS in p:
                replayed.update(read_side_list(table, p[SUMMARY_REPLAYED_IDS]))
        if not replayed:
            return {}
        errors = getattr(lake, ERROR_TABLE_OF[kind])().scan(
            row_filter=EqualTo("topic_name", topic), selected_fields=("message_id",)).to_arrow()
        return {"replayed": sorted(replayed & set(errors["message_id"].to_pylist()))}
    return {}
