"""`leanops errors` (one view over every error table) and `leanops metrics` (what /metrics serves)."""
from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

import typer

from leanops.cli import output
from leanops.cli.options import HelpGroup, HomeOpt, JsonOpt, SchemasOpt
from leanops.errors import LeanOpsError

RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """'24h', '7d', '30m' (ago) or an ISO-8601 date/time (UTC when it has no offset)."""
    now = now or datetime.now(timezone.utc)
    match = RELATIVE.match(text)
    if match:
        return now - timedelta(seconds=float(match[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]])
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise LeanOpsError(f"--since {text!r}: use 24h, 7d, 30m or an ISO-8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _context(home, schemas):
    from leanops.context import Context
    return Context.open(home, schemas)


def _using(home, schemas, work):
    """work(ctx) on the deployment's context, closed afterwards whatever happens."""
    ctx = _context(home, schemas)
    try:
        return work(ctx)
    finally:
        ctx.close()


errors_app = typer.Typer(invoke_without_command=True, cls=HelpGroup,
                         help="Every error table in one view (and `replay` to run fixed rows again).")


@errors_app.callback()
def errors(context: typer.Context,
           topic: Optional[str] = typer.Option(None, "--topic", "-t", help="only this topic"),
           layer: Optional[str] = typer.Option(None, "--layer", "-l", help="dlq, parse, curated or semantic"),
           since: Optional[str] = typer.Option(None, "--since", help="only errors since: 24h, 7d or an ISO time"),
           samples: int = typer.Option(3, "--samples", min=0, help="sample records per reason"),
           home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
    """Every error table in one view: counts by layer and reason, with sample records."""
    if context.invoked_subcommand is not None:
        return
    from leanops.ops.errors import error_view
    moment = parse_since(since) if since else None
    ctx = _context(home, schemas)
    try:
        view = error_view(ctx.lake, topic, layer, moment, samples)
        if not view.groups and not ctx.state.list_topics() and not ctx.topics():  # a home with no topic yet
            if as_json:
                output.emit_json(view.as_dict())
            output.empty_home_hint(str(ctx.settings.home), ctx.settings.schemas_location, as_json)
            return
    finally:
        ctx.close()
    if as_json:
        output.emit_json(view.as_dict())
        return
    output.emit_table("errors", ("layer", "topic", "reason", "column", "count"),
                      [(g.layer, g.topic, g.reason, g.column or "", g.count) for g in view.groups])
    output.console.print("totals: " + ", ".join(f"{k} {v}" for k, v in view.totals.items()))
    for g in view.groups:
        for sample in g.samples:
            text = sample.get("raw_text") or sample.get("value") or ""
            where = sample.get("message_id") or f"{sample.get('source')}:{sample.get('line_number')}"
            shown = str(text)[:120].replace("\r", "\\r").replace("\n", "\\n")  # one line per sample
            output.console.print(f"  {g.layer} {g.topic} [{g.reason}] {where}: {shown}", markup=False, soft_wrap=True)


@errors_app.command("replay")
def errors_replay(topic: str = typer.Option(..., "--topic", "-t", help="the topic whose rejected rows to replay"),
                  layer: str = typer.Option("curated", "--layer", "-l",
                                            help="curated or semantic (after a schema fix), dlq or parse "
                                                 "(with --from: corrected input)"),
                  source: Optional[str] = typer.Option(None, "--from",
                                                       help="dlq/parse: the corrected export (NDJSON), - for stdin"),
                  reason: Optional[str] = typer.Option(None, "--reason", help="only rows rejected for this reason"),
                  column: Optional[str] = typer.Option(None, "--column", help="only rows rejected on this column"),
                  home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt,
                  as_json: bool = JsonOpt) -> None:
    """Run rejected rows again, counted once: curated/semantic under today's schema file (after a fix),
    dlq/parse from corrected input (`leanops errors export`, edited). Fixed rows leave the errors; the
    others stay. Exit 1 when a correction could not be applied."""
    if source not in (None, "-") and not Path(source).is_file():  # answered before the heavy imports
        raise LeanOpsError(f"--from {source}: no such file")
    from leanops.ops.corrections import LAYERS as CORRECTED
    from leanops.ops.replay import replay_curated, replay_semantic
    replays = {"curated": replay_curated, "semantic": replay_semantic}
    if layer not in replays and layer not in CORRECTED:
        raise LeanOpsError(f"--layer {layer}: one of curated, semantic, dlq, parse")
    if layer in CORRECTED:
        if source is None:
            raise LeanOpsError(f"--layer {layer} needs --from FILE: the corrected lines (leanops errors export "
                               f"--topic {topic} --layer {layer} writes them, to edit)")
        if reason is not None or column is not None:
            raise LeanOpsError("--reason/--column select curated and semantic errors; a --from file names its own")
        _replay_corrections(topic, layer, source, home, schemas, as_json)
        return
    if source is not None:
        raise LeanOpsError(f"--from is for --layer dlq or parse; {layer} errors replay under today's schema file")
    report = _using(home, schemas, lambda ctx: replays[layer](ctx, topic, reason, column))
    if as_json:
        output.emit_json(report.as_dict())
    else:
        output.console.print(f"{report.topic}: {output.counted(report.selected, 'error row')} selected; "
                             f"{report.fixed} fixed "
                             f"({report.written} written, {report.superseded} superseded, {report.resumed} from "
                             f"an interrupted replay), {report.still_failing} still failing"
                             + (f", {report.stale} superseded upstream since" if report.stale else ""))


def _replay_corrections(topic: str, layer: str, source: str, home, schemas, as_json: bool) -> None:
    from leanops.ops.corrections import replay_dlq, replay_parse
    if source == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise LeanOpsError(f"--from {source}: {exc}") from None
    replay = replay_dlq if layer == "dlq" else replay_parse
    report = _using(home, schemas, lambda ctx: replay(ctx, topic, text.splitlines()))
    if as_json:
        output.emit_json(report.as_dict())
    else:
        output.console.print(f"{report.topic} {layer}: {output.counted(report.lines, 'correction')} read; "
                             f"{report.fixed} fixed "
                             f"({report.resumed} from an interrupted replay), {report.still_failing} still failing, "
                             f"{report.unmatched} unmatched, {report.already_fixed} fixed before")
        for problem in report.problems:
            output.console.print(f"  line {problem['line']} {problem['error']}: {problem['reason']}",
                                 markup=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


@errors_app.command("export")
def errors_export(topic: str = typer.Option(..., "--topic", "-t", help="the topic whose errors to export"),
                  layer: str = typer.Option(..., "--layer", "-l", help="dlq or parse"),
                  reason: Optional[str] = typer.Option(None, "--reason", help="only errors of this reason"),
                  out: Optional[Path] = typer.Option(None, "--out", "-o", help="file to write (default stdout)"),
                  home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt) -> None:
    """DLQ rows or parse errors as NDJSON correction lines: edit `line` (or add `envelope`) / `payload`,
    then `leanops errors replay --layer ... --from FILE`."""
    from leanops.ops.corrections import export_errors
    rows = _using(home, schemas, lambda ctx: [json.dumps(row, ensure_ascii=False) + "\n"
                                              for row in export_errors(ctx.lake, topic, layer, reason)])
    if out is None:
        sys.stdout.write("".join(rows))
    else:
        out.write_text("".join(rows), encoding="utf-8")
    output.note(f"{output.counted(len(rows), layer + ' error')} of {topic} exported" + (f" to {out}" if out else ""))


def metrics(home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
    """The metrics `leanops serve` exposes at /metrics, printed once (Prometheus text, or JSON)."""
    import dataclasses

    from leanops.ops.metrics import collect, prometheus_text
    samples = _using(home, schemas, collect)
    if as_json:
        output.emit_json([{**dataclasses.asdict(s), "labels": dict(s.labels)} for s in samples])
    else:
        print(prometheus_text(samples), end="")
