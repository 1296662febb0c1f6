"""Corrected input for the errors no schema fix resolves: DLQ rows and parse errors, fixed once.

    leanops errors export --topic events --layer dlq > fix.ndjson    # one line per error; edit it
    leanops errors replay --topic events --layer dlq --from fix.ndjson

    report = replay_dlq(ctx, "events", lines)     # lines: the edited export (any iterable of str)
    report = replay_parse(ctx, "events", lines)

A DLQ row is a line that was not an envelope. Its export line names it (`ingest_id`, `source`,
`line_number`) and carries the original text as `line`; the fix is a corrected `line`, or an
`envelope` object that replaces it. The corrected envelopes land in RAW in one commit that names
the rows it fixes (`leanops.resolves-dlq`) and counts its lines as `leanops.corrected-lines`, not as
lines read; then the fixed rows leave raw.dlq_errors. From RAW on, the records flow like any other.

A parse error is a RAW record whose payload was not a JSON object. Its export line names it
(`message_id`) and carries the payload text as `payload`; the fix is a corrected `payload` (an
object, or JSON text). The corrections are kept in raw.parse_corrections (input, like RAW: a
historical rebuild, which replays RAW, applies them again), then written to Standardized in one
commit that keeps the checkpoint and names the ids (`leanops.replayed-ids`), with the original
publish_time and ingestion_ts; then the fixed rows leave standardized.parse_errors. Curated takes
the new Standardized rows in its next run.

Accountability: a fixed record moves from its layer's `errors` to `written`, and `in` stays (the
line was read once, the RAW record consumed once). A DLQ row that was never counted in (drained
from the SQS DLQ, or left by an interrupted ingest) brings its corrected line into `in`.

A correction that is still bad, or names no current error, is reported with the reason and written
nowhere: the original error row stays where it was. Running a replay again is safe: what an earlier
(interrupted) replay committed is only finished (its error rows deleted), never landed twice.
"""
from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import datetime, timezone
from typing import ClassVar, Iterable, Iterator

import orjson
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pyiceberg.expressions import And, EqualTo

from leanops import duck
from leanops.catalog.commit import StagedAppend, append_with_retry, remove_rows
from leanops.catalog.schemas import PARSE_CORRECTIONS_SCHEMA
from leanops.catalog.side_lists import replayed_ids, side_list
from leanops.catalog.tables import (
    SUMMARY_CORRECTED_LINES, SUMMARY_DUPLICATES, SUMMARY_ERRORS, SUMMARY_INGEST_ID, SUMMARY_RECORDS_IN,
    SUMMARY_REPLAY_OF, SUMMARY_REPLAYED_IDS, SUMMARY_RESOLVES_DLQ, SUMMARY_TOPIC,
    SUMMARY_UNCOUNTED_LINES, Lakehouse,
)
from leanops.catalog import duck_writer
from leanops.config import Settings
from leanops.context import Context
from leanops.errors import LeanOpsError
from leanops.helper_columns import ORD
from leanops.faults import fault_point
from leanops.ingest.raw import envelope_rows
from leanops.ops.replay import topic_lease
from leanops.schema_file import StandardizedSection
from leanops.stages import standardized
from leanops.stages.accountability import PARSE_ERROR_KEY, drain_runs, parse_errors_split, raw_ledger
from leanops.stages.checkpoint import position_from_table
from leanops.stages.position import Position, Span
from leanops.types import validate_topic

LAYERS = ("dlq", "parse")
SUMMARY_REPLAY_ID = "leanops.replay-id"  # raw.parse_corrections: the replay that stored the corrections
MAX_PROBLEMS = 100  # problems listed in a report (all are counted)


class _Fix(BaseModel):
    model_config = ConfigDict(extra="ignore")  # `reason` and the like: written by the export, for the reader
    what: ClassVar[str]  # the error a line corrects, and the fields that name it
    named_by: ClassVar[str]


class DlqFix(_Fix):
    """One DLQ row and its corrected line: `envelope` (an object), when given, replaces `line`."""

    what: ClassVar[str] = "DLQ row"
    named_by: ClassVar[str] = "ingest_id, source and line_number"

    ingest_id: str = Field(min_length=1)
    source: str
    line_number: int = Field(ge=1)
    line: str | None = None
    envelope: dict | None = None

    @model_validator(mode="after")
    def _has_text(self) -> "DlqFix":
        if self.envelope is None and self.line is None:
            raise ValueError("give the corrected `line` (text) or `envelope` (object)")
        return self

    @property
    def key(self) -> tuple[str, str, int]:
        return self.ingest_id, self.source, self.line_number

    @property
    def label(self) -> str:
        return f"{self.ingest_id} {self.source}:{self.line_number}"

    @property
    def text(self) -> str:
        return self.line if self.envelope is None else orjson.dumps(self.envelope).decode()


class ParseFix(_Fix):
    """One parse error and its corrected payload: an object, or JSON text."""

    what: ClassVar[str] = "parse error"
    named_by: ClassVar[str] = "message_id"

    message_id: str = Field(min_length=1)
    payload: dict | str

    @property
    def key(self) -> str:
        return self.message_id

    label = key

    @property
    def text(self) -> str:
        return self.payload if isinstance(self.payload, str) else orjson.dumps(self.payload).decode()


@dataclasses.dataclass
class CorrectionReport:
    topic: str
    layer: str
    lines: int = 0  # corrections read
    fixed: int = 0  # error rows resolved: the record landed, the error row is gone
    still_failing: int = 0  # the corrected input is still bad: the error stays as it was
    unmatched: int = 0  # the line names no current error (or repeats one): nothing done
    already_fixed: int = 0  # the line names an error an earlier replay fixed: nothing to do
    resumed: int = 0  # of the fixed, landed by an earlier, interrupted replay: only deleted now
    snapshot_id: int | None = None  # the RAW (dlq) or Standardized (parse) commit
    problems: list[dict] = dataclasses.field(default_factory=list)  # the first MAX_PROBLEMS

    @property
    def ok(self) -> bool:
        return self.still_failing == 0 and self.unmatched == 0

    def problem(self, line: int, error: str, reason: str, failing: bool) -> None:
        if failing:
            self.still_failing += 1
        else:
            self.unmatched += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append({"line": line, "error": error, "reason": reason})

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "ok": self.ok}


def _no_repeats(pairs: list[tuple[str, object]]) -> dict:
    """json's object hook: a repeated key is an error (Standardized rejects such objects; a dict would
    silently keep the last value)."""
    found = dict(pairs)
    if len(found) != len(pairs):
        keys = [k for k, _ in pairs]
        raise ValueError(f"repeated key {next(k for k in keys if keys.count(k) > 1)!r}")
    return found


def _read(lines: Iterable[str], model: type[_Fix], report: CorrectionReport) -> Iterator[tuple[int, _Fix]]:
    """(input line number, fix) for each well-formed line; the others are reported (blank lines skipped)."""
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        report.lines += 1
        try:
            yield number, model.model_validate(json.loads(text, object_pairs_hook=_no_repeats))
        except (ValueError, ValidationError) as exc:
            reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors()) \
                if isinstance(exc, ValidationError) else f"not a JSON object: {exc}"
            report.problem(number, "", reason, failing=False)


def _matched(lines: Iterable[str], model: type[_Fix], report: CorrectionReport, present, fixed_before
             ) -> list[tuple[int, _Fix]]:
    """(input line number, fix) of each line naming a current error, once; the others are counted
    (already fixed by an earlier replay) or reported (no such error, or named twice)."""
    fixes: list[tuple[int, _Fix]] = []
    taken: set = set()
    for number, fix in _read(lines, model, report):
        if fix.key in fixed_before:
            report.already_fixed += 1
        elif fix.key not in present:
            report.problem(number, fix.label, f"no {model.what} of {report.topic} has this {model.named_by}",
                           failing=False)
        elif fix.key in taken:
            report.problem(number, fix.label, f"the same {model.what} is corrected twice in this input", failing=False)
        else:
            fixes.append((number, fix))
            taken.add(fix.key)
    return fixes


def export_errors(lake: Lakehouse, topic: str, layer: str, reason: str | None = None) -> Iterator[dict]:
    """The topic's DLQ rows or parse errors as correction lines (what `replay_*` reads back once edited)."""
    topic = validate_topic(topic)
    if layer not in LAYERS:
        raise LeanOpsError(f"--layer {layer}: export covers dlq and parse (the errors fixed by corrected input)")
    table = lake.dlq_table() if layer == "dlq" else lake.parse_errors_table()
    condition = EqualTo("topic_name", topic)
    if reason is not None:
        condition = And(condition, EqualTo("reason", reason))
    rows = table.scan(row_filter=condition).to_arrow()
    if layer == "dlq":
        for row in rows.sort_by([("ingest_id", "ascending"), ("source", "ascending"),
                                 ("line_number", "ascending")]).to_pylist():
            yield {"ingest_id": row["ingest_id"], "source": row["source"], "line_number": row["line_number"],
                   "reason": row["reason"], "line": row["raw_text"]}
    else:
        for row in rows.sort_by([("ingestion_ts", "ascending"), ("message_id", "ascending")]).to_pylist():
            yield {"message_id": row["message_id"], "reason": row["reason"], "payload": row["raw_text"]}


# -- DLQ ------------------------------------------------------------------------------------
def replay_dlq(ctx: Context, topic: str, lines: Iterable[str]) -> CorrectionReport:
    """Land the corrected lines of the topic's DLQ rows in RAW (one commit), then delete those rows."""
    topic = validate_topic(topic)
    lake, report = ctx.lake, CorrectionReport(topic, "dlq")
    dlq = lake.dlq_table()
    present = dlq.scan(row_filter=EqualTo("topic_name", topic),
                       selected_fields=("ingest_id", "source", "line_number")).to_arrow().to_pylist()
    present = {(r["ingest_id"], r["source"], r["line_number"]) for r in present}
    ledger = raw_ledger(lake.raw_table(topic))  # no RAW table: no ingest, so no DLQ row of it fixed yet
    leftovers = sorted(present & ledger.resolved)  # landed by an interrupted replay, not deleted yet
    fixes = _matched(lines, DlqFix, report, present, ledger.resolved)
    landed: list[tuple[str, str, int]] = []
    if fixes:
        with duck.connect(ctx.settings.home / "tmp") as con:
            rows, reasons = envelope_rows(con, topic, [f.text for _, f in fixes], datetime.now(timezone.utc))
        for (number, fix), reason in zip(fixes, reasons):
            if reason is None:
                landed.append(fix.key)
            else:
                report.problem(number, fix.label, f"still not an envelope: {reason}", failing=True)
    if landed:
        ctx.state.register_topic(topic)
        drained = drain_runs(dlq)
        uncounted = sum(1 for key in landed if key[0] not in ledger.sealed or key[0] in drained)
        raw = lake.raw_table(topic, create=True)  # a drained topic may have no RAW yet
        staged = StagedAppend(raw)
        staged.write(rows)
        report.snapshot_id = staged.commit({
            SUMMARY_TOPIC: topic, SUMMARY_INGEST_ID: f"replay-{uuid.uuid4().hex}",
            SUMMARY_CORRECTED_LINES: str(len(landed)), SUMMARY_UNCOUNTED_LINES: str(uncounted),
            SUMMARY_RESOLVES_DLQ: side_list(raw, [list(key) for key in landed])})
        fault_point("after-dlq-replay-commit")
    report.fixed, report.resumed = len(landed) + len(leftovers), len(leftovers)
    _delete_dlq_rows(dlq, topic, landed + leftovers)
    report.problems.sort(key=lambda p: p["line"])
    return report


def _delete_dlq_rows(dlq, topic: str, keys: list[tuple[str, str, int]]) -> None:
    """Delete the topic's DLQ rows with these (ingest_id, source, line_number)."""
    rows = pa.Table.from_pylist([dict(zip(("ingest_id", "source", "line_number"), key)) for key in keys],
                                schema=pa.schema([("ingest_id", pa.string()), ("source", pa.string()),
                                                  ("line_number", pa.int64())]))
    remove_rows(dlq, topic, rows, {SUMMARY_REPLAY_OF: topic, "leanops.replayed": str(len(keys))})
    fault_point("after-dlq-rows-deleted")


# -- parse errors ---------------------------------------------------------------------------
def replay_parse(ctx: Context, topic: str, lines: Iterable[str]) -> CorrectionReport:
    """Keep the corrected payloads of the topic's parse errors, then apply them to Standardized (under the
    topic's lease: Standardized is the pipeline's to write)."""
    topic = validate_topic(topic)
    with topic_lease(ctx, topic):
        return _replay_parse(ctx, topic, lines)


def _replay_parse(ctx: Context, topic: str, lines: Iterable[str]) -> CorrectionReport:
    section = _standardized_section(ctx, topic)
    lake, report = ctx.lake, CorrectionReport(topic, "parse")
    table = lake.standardized_table(topic)
    if table is None:
        open_errors, merged = lake.parse_errors_table().scan(row_filter=EqualTo("topic_name", topic)).to_arrow(), set()
    else:
        open_errors, _ = parse_errors_split(lake, table, topic, extra_fields=("publish_time",))
        merged = replayed_ids(table)
    present = {r["message_id"]: r for r in open_errors.to_pylist()}
    fixes = _matched(lines, ParseFix, report, present, merged - set(present))
    if fixes:
        now = datetime.now(timezone.utc)
        rows = pa.Table.from_pylist([
            {"topic_name": topic, "message_id": f.message_id, "json_payload": f.text,
             "publish_time": present[f.message_id]["publish_time"],
             "ingestion_ts": present[f.message_id]["ingestion_ts"], "corrected_ts": now, "replay_id": ""}
            for _, f in fixes], schema=PARSE_CORRECTIONS_SCHEMA.as_arrow())
        reasons = _parse_problems(ctx.settings, rows, section)
        for (number, fix), reason in zip(fixes, reasons):
            if reason is not None:
                report.problem(number, fix.message_id, f"still not a JSON object: {reason}", failing=True)
        good = _not_stored_yet(lake, topic, rows.filter(pa.array([r is None for r in reasons])))
        if good.num_rows:
            replay_id = uuid.uuid4().hex
            good = good.set_column(good.schema.get_field_index("replay_id"), "replay_id",
                                   pa.array([replay_id] * good.num_rows, pa.string()))
            append_with_retry(lake.parse_corrections_table(), good, {SUMMARY_REPLAY_OF: topic,
                                                                     SUMMARY_REPLAY_ID: replay_id})
            fault_point("after-parse-corrections-stored")
    applied = apply_parse_corrections(lake, ctx.settings, topic, section)
    report.fixed, report.resumed, report.snapshot_id = applied.fixed, applied.resumed, applied.snapshot_id
    report.still_failing += applied.still_failing
    report.problems.sort(key=lambda p: p["line"])
    return report


def _not_stored_yet(lake: Lakehouse, topic: str, rows: pa.Table) -> pa.Table:
    """The corrections not kept already as their error's latest: a replay killed after keeping its
    corrections, run again with the same input, keeps none of them twice (and then applies them)."""
    stored = lake.parse_corrections_table().scan(
        row_filter=EqualTo("topic_name", topic),
        selected_fields=("message_id", "ingestion_ts", "json_payload", "corrected_ts")).to_arrow()
    latest: dict[tuple, tuple] = {}
    for row in stored.to_pylist():
        key = (row["message_id"], row["ingestion_ts"])
        if key not in latest or row["corrected_ts"] > latest[key][0]:
            latest[key] = (row["corrected_ts"], row["json_payload"])
    new = [latest.get((m, t), (None, None))[1] != p for m, t, p in
           zip(rows["message_id"].to_pylist(), rows["ingestion_ts"].to_pylist(), rows["json_payload"].to_pylist())]
    return rows.filter(pa.array(new, pa.bool_()))


def _standardized_section(ctx: Context, topic: str) -> StandardizedSection:
    schema = ctx.schema(topic)
    if schema is None or schema.standardized is None:
        raise LeanOpsError(f"{topic}: the schema file has no standardized section to apply corrections with")
    return schema.standardized


def _parse_problems(settings: Settings, rows: pa.Table, section: StandardizedSection) -> list[str | None]:
    """Each row's parse-error reason under Standardized's own rules (None: a flattenable JSON object).

    The topic's column cap is not judged here: it depends on the other rows written with it (see
    `apply_parse_corrections`)."""
    with duck.connect(settings.home / "tmp") as con:
        _load_fresh(con, rows)
        standardized.screen(con, limits=section.shape_limits)
        failing = dict(con.execute(f"SELECT {ORD}, reason FROM errs").fetchall())
    return [failing.get(i) for i in range(1, rows.num_rows + 1)]


def _load_fresh(con, rows: pa.Table) -> None:
    """Corrections -> temp table `fresh` as Standardized screens it (ORD from 1, in the rows' order)."""
    con.register("corrections", rows)
    try:
        con.execute(f"CREATE TEMP TABLE fresh AS SELECT row_number() OVER () AS {ORD}, message_id, topic_name, "
                    "json_payload, publish_time, ingestion_ts FROM corrections").fetchall()
    finally:
        con.unregister("corrections")


@dataclasses.dataclass
class Applied:
    fixed: int = 0
    resumed: int = 0
    still_failing: int = 0
    snapshot_id: int | None = None


def apply_parse_corrections(lake: Lakehouse, settings: Settings, topic: str,
                            section: StandardizedSection) -> Applied:
    """Write the stored corrections of the topic's current parse errors to Standardized; delete those errors.

    The latest correction of each error (message id and ingestion_ts) wins. Idempotent: errors an earlier
    commit already fixed are only deleted. The rebuilder calls this after replaying RAW, so fixes outlive a
    rebuild."""
    applied = Applied()
    table, errors = lake.standardized_table(topic), lake.parse_errors_table()
    checkpoint = position_from_table(table, topic) if table is not None else Position()
    if checkpoint.snapshot_id is None:
        return applied  # Standardized has consumed nothing: no parse error can be its
    open_errors, done = parse_errors_split(lake, table, topic)
    fixed = open_errors.slice(0, 0)
    stored = lake.parse_corrections_table().scan(row_filter=EqualTo("topic_name", topic)).to_arrow()
    open_keys = open_errors.select(PARSE_ERROR_KEY).cast(stored.select(PARSE_ERROR_KEY).schema)  # Spark: large_string
    stored = stored.join(open_keys, PARSE_ERROR_KEY, join_type="left semi")  # corrections of open errors
    if stored.num_rows:
        latest = stored.sort_by([("message_id", "ascending"), ("ingestion_ts", "ascending"),
                                 ("corrected_ts", "descending")])
        keys = list(zip(latest["message_id"].to_pylist(), latest["ingestion_ts"].to_pylist()))
        keep = [i for i, key in enumerate(keys) if i == 0 or keys[i - 1] != key]
        latest = latest.take(keep).sort_by([("ingestion_ts", "ascending"), ("message_id", "ascending")])
        with duck.connect(settings.home / "tmp") as con:
            _load_fresh(con, latest)
            shape = standardized.screen(con, verify_leaves=not duck_writer.supports(table.metadata.location),
                                        limits=section.shape_limits)
            if con.execute("SELECT count(*) FROM objects").fetchall()[0][0]:
                # the commit keeps the checkpoint, to the file (a batch may have ended inside a RAW snapshot)
                summary = {SUMMARY_TOPIC: topic, **Span(Position(), checkpoint).summary(),
                           SUMMARY_RECORDS_IN: "0", SUMMARY_DUPLICATES: "0", SUMMARY_ERRORS: "0"}

                def name_the_fixed() -> None:  # after the write: the topic's column cap may have refused rows
                    nonlocal fixed
                    fixed = duck.arrow(con, "SELECT message_id, ingestion_ts FROM objects ORDER BY message_id")
                    summary[SUMMARY_REPLAYED_IDS] = side_list(table, fixed["message_id"].to_pylist())

                applied.snapshot_id, _ = standardized.write_objects(con, table, section, shape, summary,
                                                                    before_commit=name_the_fixed)
                fault_point("after-parse-corrections-written")
            applied.still_failing = con.execute("SELECT count(*) FROM errs").fetchall()[0][0]
    removable = pa.concat_tables([fixed.cast(done.schema), done])
    applied.fixed, applied.resumed = removable.num_rows, done.num_rows
    remove_rows(errors, topic, removable, {SUMMARY_REPLAY_OF: topic, "leanops.replayed": str(removable.num_rows)})
    fault_point("after-parse-errors-removed")
    return applied


__all__ = ["CorrectionReport", "apply_parse_corrections", "export_errors", "replay_dlq", "replay_parse"]
