"""Append envelopes to raw.<topic>_staging in bounded memory; reject non-envelopes to the DLQ.

The whole input is one RAW commit (a crash leaves nothing half-ingested in RAW); lines stream
through in blocks of at most `ingest_batch_lines` (leanops.ingest.lines: bytes and offsets, no Python
object per line), each checked in one vectorised pass (leanops.ingest.envelope.validate_block), so
memory stays bounded however big the file is.
Rejected lines are flushed to the DLQ before the RAW commit, tagged with the ingest id; if the
process dies before the RAW commit those DLQ rows are reported as orphans, never counted.

    report = ingest_stream(lake, state, settings, "events", open("events.ndjson", "rb"), "events.ndjson")
    report = ingest_sources(lake, state, settings, "events", [Source("a.ndjson", opener), ...], ingest_id="m-1")

`ingest_sources` takes several files into the same single commit (a landing manifest): line numbers,
DLQ rows and per-source line counts stay per file, while ingestion timestamps keep increasing across
files. A source that cannot be read (a vanished file, a corrupt gzip) raises `SourceError` naming it,
before anything is committed.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from typing import BinaryIO, Callable, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from leanops import duck
from leanops.catalog.commit import StagedAppend, append_with_retry
from leanops.catalog.schemas import DLQ_SCHEMA, RAW_SCHEMA
from leanops.catalog.tables import (
    SUMMARY_INGEST_ID, SUMMARY_LINES_READ, SUMMARY_REJECTED, SUMMARY_TOPIC, Lakehouse,
)
from leanops.config import Settings
from leanops.errors import LeanOpsError
from leanops.faults import fault_point
from leanops.ingest.envelope import validate_block
from leanops.ingest.lines import LineBlock, block_of, read_blocks
from leanops.state.base import IngestRecord, StateStore
from leanops.types import validate_topic

DLQ_FLUSH_ROWS = 50_000  # rejected rows held in memory before they are appended to the DLQ
RAW_ARROW = RAW_SCHEMA.as_arrow()
DLQ_ARROW = DLQ_SCHEMA.as_arrow()


@dataclasses.dataclass(frozen=True)
class Source:
    """One input of an ingest: a name (kept in DLQ rows) and how to open its bytes."""

    name: str
    open: Callable[[], BinaryIO]
    close: bool = True  # close what `open` returned when done (not a caller's stream)


class SourceError(LeanOpsError):
    """Reading a source failed; nothing of the ingest was committed to RAW."""

    def __init__(self, name: str, cause: BaseException) -> None:
        super().__init__(f"cannot read {name}: {type(cause).__name__}: {cause}")
        self.name, self.cause = name, cause


@dataclasses.dataclass
class IngestReport:
    ingest_id: str
    topic: str
    source: str
    lines_read: int = 0
    accepted: int = 0
    rejected: int = 0
    raw_snapshot_id: int | None = None
    reasons: dict[str, int] = dataclasses.field(default_factory=dict)
    lines_by_source: dict[str, int] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def ingest_stream(lake: Lakehouse, state: StateStore, settings: Settings, topic: str, stream: BinaryIO,
                  source: str, on_bytes: Callable[[int], None] = lambda n: None) -> IngestReport:
    """Ingest one NDJSON stream for `topic`. Creates the RAW table and registry entry on first use."""
    return ingest_sources(lake, state, settings, topic, [Source(source, lambda: stream, close=False)],
                          on_bytes=on_bytes)


def ingest_sources(lake: Lakehouse, state: StateStore, settings: Settings, topic: str, sources: list[Source],
                   ingest_id: str | None = None, summary: dict[str, str] | None = None,
                   source_lines_key: str | None = None,
                   on_bytes: Callable[[int], None] = lambda n: None) -> IngestReport:
    """Ingest NDJSON sources for `topic` as one RAW commit sealed with `ingest_id` (default: a new id).

    `summary` joins the commit's summary; with `source_lines_key` the commit also records each
    source's line count there, as JSON (the truth a crashed caller recovers from)."""
    validate_topic(topic)
    name = sources[0].name if len(sources) == 1 else f"{len(sources)} files"
    report = IngestReport(ingest_id=ingest_id or uuid.uuid4().hex, topic=topic, source=name)
    raw = lake.raw_table(topic, create=True)
    state.register_topic(topic)
    ingested = datetime.now(timezone.utc)
    reasons: collections.Counter[str] = collections.Counter()
    pending_dlq: list[pa.Table] = []

    def flush_dlq(force: bool) -> None:
        if pending_dlq and (force or sum(t.num_rows for t in pending_dlq) >= DLQ_FLUSH_ROWS):
            rows = pa.concat_tables(pending_dlq)
            pending_dlq.clear()
            append_with_retry(lake.dlq_table(), rows, {SUMMARY_TOPIC: topic, SUMMARY_INGEST_ID: report.ingest_id})
            fault_point("after-dlq-flush")

    def blocks(source: Source) -> Iterator[LineBlock]:
        try:
            stream = source.open()
        except OSError as exc:
            raise SourceError(source.name, exc) from exc
        try:
            yield from read_blocks(stream, settings.ingest_batch_lines, on_bytes)
        except (OSError, EOFError, ValueError) as exc:  # a truncated or corrupt gzip, an I/O error
            raise SourceError(source.name, exc) from exc
        finally:
            if source.close:
                stream.close()

    def checked_rows(con, block: LineBlock, source: str, sequence: int) -> pa.Table | None:
        """RAW rows of the block's envelopes; its rejected lines queued for the DLQ.

        `sequence` numbers the block's first line across all sources: it orders the commit and makes
        ingestion timestamps keep increasing from file to file; DLQ rows keep each line's own source
        and line number."""
        checked = validate_block(con, block, ingested)
        rejected = checked["reason"].null_count < checked.num_rows
        ok = checked.filter(checked["reason"].is_null()) if rejected else checked
        if rejected:
            bad = checked.filter(checked["reason"].is_valid())
            reasons.update(bad["reason"].to_pylist())
            pending_dlq.append(_dlq_rows(bad, topic, report.ingest_id,
                                         pa.repeat(pa.scalar(source, pa.string()), bad.num_rows),
                                         bad["line_number"], ingested))
            flush_dlq(force=False)
            report.rejected += bad.num_rows
        report.accepted += ok.num_rows
        if not ok.num_rows:
            return None
        sequence_numbers = pc.add(pc.subtract(ok["line_number"], block.first), sequence)
        return _raw_rows(ok, topic, ingested, sequence_numbers)

    def accepted_tables() -> Iterator[pa.Table]:
        """RAW rows in batches of about `ingest_batch_lines` (many small sources share a data file)."""
        size, sequence = settings.ingest_batch_lines, 1
        pending: list[pa.Table] = []
        buffered = 0
        with duck.connect(settings.home / "tmp") as con:
            for source in sources:
                read = 0
                for block in blocks(source):
                    read += len(block)
                    rows = checked_rows(con, block, source.name, sequence)
                    sequence += len(block)
                    if rows is not None:
                        pending.append(rows)
                        buffered += rows.num_rows
                    if buffered >= size:
                        yield pa.concat_tables(pending)
                        pending, buffered = [], 0
                report.lines_by_source[source.name] = report.lines_by_source.get(source.name, 0) + read
                report.lines_read += read
            if pending:
                yield pa.concat_tables(pending)

    # one open file per day, rolled at the size maintenance compacts towards: a load does not leave
    # a file per batch for the next run to compact
    staged = StagedAppend(raw, roll_at_bytes=settings.maintenance.target_bytes)
    # Parquet encoding (C++, outside the GIL) of one batch overlaps the checks of the next; at most
    # one batch waits, so memory stays bounded by two batches
    with ThreadPoolExecutor(1, thread_name_prefix="leanops-raw-writer") as writer:
        writing: Future | None = None
        for rows in accepted_tables():
            if writing is not None:
                writing.result()
            writing = writer.submit(staged.write, rows)
        if writing is not None:
            writing.result()
    flush_dlq(force=True)
    # The RAW commit seals the ingest, even with nothing accepted: its summary carries the counts
    # that accountability checks, and DLQ rows of an ingest that never sealed are orphans.
    extra = dict(summary or {})
    if source_lines_key:
        extra[source_lines_key] = json.dumps(report.lines_by_source, sort_keys=True)
    report.raw_snapshot_id = staged.commit({
        **extra, SUMMARY_TOPIC: topic, SUMMARY_INGEST_ID: report.ingest_id,
        SUMMARY_LINES_READ: str(report.lines_read), SUMMARY_REJECTED: str(report.rejected)})
    fault_point("after-raw-commit")
    report.reasons = dict(reasons.most_common())
    state.record_ingest(IngestRecord(report.ingest_id, topic, name, report.lines_read, report.accepted,
                                     report.rejected, report.raw_snapshot_id, datetime.now(timezone.utc)))
    return report


def envelope_rows(con, topic: str, lines: list[str], ingested: datetime) -> tuple[pa.Table, list[str | None]]:
    """`lines` validated as one batch: RAW rows of the envelopes, and each line's reason (None: accepted).

    Line i (from 1) gets ingestion_ts `ingested` + (i - 1) µs, as in an ingest. The DLQ replay
    (leanops.ops.corrections) lands corrected lines through here."""
    checked = validate_block(con, block_of(lines), ingested)
    ok = checked.filter(checked["reason"].is_null())
    return _raw_rows(ok, topic, ingested, ok["line_number"]), checked["reason"].to_pylist()


def _raw_rows(ok: pa.Table, topic: str, ingested: datetime, sequence_numbers) -> pa.Table:
    n = ok.num_rows
    return pa.Table.from_arrays([
        ok["message_id"].cast(pa.string()),
        pa.repeat(pa.scalar(topic, pa.string()), n),
        ok["json_payload"].cast(pa.string()),
        _line_times(sequence_numbers, ingested),
        ok["publish_time"].cast(pa.timestamp("us", tz="UTC")),
    ], schema=RAW_ARROW)


def _line_times(line_numbers: pa.ChunkedArray, ingested: datetime) -> pa.Array:
    """ingestion_ts of each line: the ingest's start plus the line's offset in microseconds.

    Lines of one ingest thus carry strictly increasing timestamps, which is what "later ingestion
    wins" compares in Curated (a landing log's offset, kept in the timestamp itself).
    """
    start = pa.scalar(ingested, pa.timestamp("us", tz="UTC"))
    offsets = pc.subtract(line_numbers, 1).cast(pa.int64()).cast(pa.duration("us"))
    return pc.add(start, offsets).cast(pa.timestamp("us", tz="UTC"))


def _dlq_rows(bad: pa.Table, topic: str, ingest_id: str, sources: pa.Array, line_numbers: pa.Array,
              ingested: datetime) -> pa.Table:
    n = bad.num_rows
    return pa.Table.from_arrays([
        pa.repeat(pa.scalar(topic, pa.string()), n),
        pa.repeat(pa.scalar(ingest_id, pa.string()), n),
        sources.cast(pa.string()),
        line_numbers.cast(pa.int64()),
        bad["reason"].cast(pa.string()),
        bad["line"].cast(pa.string()),
        pa.repeat(pa.scalar(ingested, pa.timestamp("us", tz="UTC")), n),
    ], schema=DLQ_ARROW)
