"""Append envelopes to raw.<topic>_staging in bounded memory; reject non-envelopes to the DLQ.

The whole input is one RAW commit (a crash leaves nothing half-ingested in RAW); lines stream
through in batches of `ingest_batch_lines`, so memory stays bounded however big the file is.
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
from leanops.ingest.envelope import validate_lines
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


CHUNK_BYTES = 16 << 20
MAX_LINE_BYTES = 16 << 20  # a longer line is rejected (DLQ), its first LINE_SAMPLE_BYTES kept as its text
LINE_SAMPLE_BYTES = 1024


def _read_batches(stream: BinaryIO, size: int, on_bytes: Callable[[int], None]) -> Iterator[pa.Table]:
    """(line_number, line, reason) tables of at most `size` lines, read in 16 MiB chunks.

    Undecodable bytes are kept (replaced) and the line marked, so it is rejected, never dropped. A
    line longer than MAX_LINE_BYTES is never held whole: its start is kept with a reason, the rest
    skipped up to its newline, so memory stays bounded whatever the input.
    """
    number, tail = 0, b""
    oversize: list[int] = []  # [bytes so far] while skipping the rest of a line that is too long
    while chunk := stream.read(CHUNK_BYTES):
        on_bytes(len(chunk))
        if oversize:
            cut = chunk.find(b"\n")
            if cut < 0:
                oversize[0] += len(chunk)
                continue
            oversize[0] += cut
            number += 1
            yield _table(number, [_sample(tail)], [_too_long(oversize[0])])
            oversize, tail, chunk = [], b"", chunk[cut + 1:]
        data = tail + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            tail = data
            if len(tail) > MAX_LINE_BYTES:
                oversize, tail = [len(tail)], tail[:LINE_SAMPLE_BYTES]
            continue
        body, tail = data[:cut], data[cut + 1:]
        lines, reasons = _split(body)
        for start in range(0, len(lines), size):
            yield _table(number + start + 1, lines[start:start + size], reasons[start:start + size])
        number += len(lines)
        if len(tail) > MAX_LINE_BYTES:
            oversize, tail = [len(tail)], tail[:LINE_SAMPLE_BYTES]
    if oversize:
        yield _table(number + 1, [_sample(tail)], [_too_long(oversize[0])])
    elif tail:  # a last line without a newline
        yield _table(number + 1, _decode(tail))


def _too_long(length: int) -> str:
    return (f"line of {length:,} bytes exceeds the limit of {MAX_LINE_BYTES:,} bytes "
            f"(its first {LINE_SAMPLE_BYTES:,} bytes are kept)")


def _split(body: bytes) -> tuple[list[str], list[str | None]]:
    """The lines of `body` and a reason for each (none: every line read whole), cutting lines that are too long."""
    raw = body.split(b"\n") if len(body) > MAX_LINE_BYTES else []
    if not raw or max(map(len, raw)) <= MAX_LINE_BYTES:
        return _decode(body), []
    lines: list[str] = []
    reasons: list[str | None] = []
    for line in raw:
        too_long = len(line) > MAX_LINE_BYTES
        lines += [_sample(line)] if too_long else _decode(line)
        reasons.append(_too_long(len(line)) if too_long else None)
    return lines, reasons


def _sample(line: bytes) -> str:
    """The start of a line too long to keep, as its DLQ text."""
    return line[:LINE_SAMPLE_BYTES].decode("utf-8", errors="replace")


def _decode(body: bytes) -> list[str]:
    try:
        lines = body.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        lines = []
        for raw in body.split(b"\n"):
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                lines.append(raw.decode("utf-8", errors="replace") + "\x00<not UTF-8>")
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _table(first_number: int, lines: list[str], reasons: list[str | None] | None = None) -> pa.Table:
    """(line_number, line, reason) of consecutive lines; `reason` is set where the reader refused a line."""
    numbers = pa.array(range(first_number, first_number + len(lines)), pa.int64())
    return pa.table({"line_number": numbers, "line": pa.array(lines, pa.string()),
                     "reason": pa.array(reasons or [None] * len(lines), pa.string())})


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

    def batches(source: Source) -> Iterator[pa.Table]:
        try:
            stream = source.open()
        except OSError as exc:
            raise SourceError(source.name, exc) from exc
        try:
            yield from _read_batches(stream, settings.ingest_batch_lines, on_bytes)
        except (OSError, EOFError, ValueError) as exc:  # a truncated or corrupt gzip, an I/O error
            raise SourceError(source.name, exc) from exc
        finally:
            if source.close:
                stream.close()

    def validated(con, parts: list[tuple[str, pa.Table]], first: int) -> Iterator[pa.Table]:
        """One validation (and one RAW data file) for lines of possibly many small sources.

        Lines get a sequence number across sources (`first`, `first`+1, ...): it orders the batch and
        makes ingestion timestamps keep increasing from file to file; DLQ rows keep each line's own
        source and line number."""
        lines = pa.concat_tables([t for _, t in parts])
        names = pa.array([name for name, t in parts for _ in range(t.num_rows)], pa.string())
        numbered = pa.table({"line_number": pa.array(range(first, first + lines.num_rows), pa.int64()),
                             "line": lines["line"], "reason": lines["reason"]})
        checked = validate_lines(con, numbered, ingested)
        ok = checked.filter(checked["reason"].is_null())
        bad = checked.filter(checked["reason"].is_valid())
        if bad.num_rows:
            at = pc.subtract(bad["line_number"], first)
            reasons.update(bad["reason"].to_pylist())
            pending_dlq.append(_dlq_rows(bad, topic, report.ingest_id, pc.take(names, at),
                                         pc.take(lines["line_number"], at), ingested))
            flush_dlq(force=False)
        report.accepted += ok.num_rows
        report.rejected += bad.num_rows
        if ok.num_rows:
            yield _raw_rows(ok, topic, ingested)

    def accepted_tables() -> Iterator[pa.Table]:
        size, sequence = settings.ingest_batch_lines, 1
        parts: list[tuple[str, pa.Table]] = []
        buffered = 0
        with duck.connect(settings.home / "tmp") as con:
            for source in sources:
                read = 0
                for lines in batches(source):
                    read += lines.num_rows
                    parts.append((source.name, lines))
                    buffered += lines.num_rows
                    if buffered >= size:
                        yield from validated(con, parts, sequence)
                        sequence, parts, buffered = sequence + buffered, [], 0
                report.lines_by_source[source.name] = report.lines_by_source.get(source.name, 0) + read
                report.lines_read += read
            if parts:
                yield from validated(con, parts, sequence)

    staged = StagedAppend(raw)
    for rows in accepted_tables():
        staged.write(rows)
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
    checked = validate_lines(con, _table(1, lines), ingested)
    return _raw_rows(checked.filter(checked["reason"].is_null()), topic, ingested), checked["reason"].to_pylist()


def _raw_rows(ok: pa.Table, topic: str, ingested: datetime) -> pa.Table:
    n = ok.num_rows
    return pa.Table.from_arrays([
        ok["message_id"].cast(pa.string()),
        pa.array([topic] * n, pa.string()),
        ok["json_payload"].cast(pa.string()),
        _line_times(ok["line_number"], ingested),
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
        pa.array([topic] * n, pa.string()),
        pa.array([ingest_id] * n, pa.string()),
        sources.cast(pa.string()),
        line_numbers.cast(pa.int64()),
        bad["reason"].cast(pa.string()),
        bad["line"].cast(pa.string()),
        pa.array([ingested] * n, pa.timestamp("us", tz="UTC")),
    ], schema=DLQ_ARROW)
