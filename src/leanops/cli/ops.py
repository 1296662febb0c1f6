"""`leanops errors` (one view over every error table) and `leanops metrics` (what /metrics serves)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

import typer

from leanops.cli import output
from leanops.errors import LeanOpsError

HomeOpt = typer.Option(None, "--home", envvar="LEANOPS_HOME", help="deployment home (default ./.leanops)")
SchemasOpt = typer.Option(None, "--schemas", envvar="LEANOPS_SCHEMAS", help="schema directory (default ./schemas)")
JsonOpt = typer.Option(False, "--json", help="machine-readable output")
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


errors_app = typer.Typer(invoke_without_command=True,
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
    ctx = _context(home, schemas)
    try:
        view = error_view(ctx.lake, topic, layer, parse_since(since) if since else None, samples)
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
                                            help="curated or semantic (the layers a schema fix can resolve)"),
                  reason: Optional[str] = typer.Option(None, "--reason", help="only rows rejected for this reason"),
                  column: Optional[str] = typer.Option(None, "--column", help="only rows rejected on this column"),
                  home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt,
                  as_json: bool = JsonOpt) -> None:
    """Run rejected rows again under today's schema file (after a fix): the ones that pass now move from
    the errors to Curated, once; the others stay errors."""
    from leanops.ops.replay import replay_curated, replay_semantic
    replays = {"curated": replay_curated, "semantic": replay_semantic}
    if layer not in replays:
        raise LeanOpsError(f"--layer {layer}: replay covers curated and semantic errors (after a schema fix); "
                           "DLQ and parse errors need corrected input: ingest it again with leanops ingest")
    ctx = _context(home, schemas)
    try:
        report = replays[layer](ctx, topic, reason, column)
    finally:
        ctx.close()
    if as_json:
        output.emit_json(report.as_dict())
    else:
        output.console.print(f"{report.topic}: {report.selected} error rows selected; {report.fixed} fixed "
                             f"({report.written} written, {report.superseded} superseded, {report.resumed} from "
                             f"an interrupted replay), {report.still_failing} still failing"
                             + (f", {report.stale} superseded upstream since" if report.stale else ""))


def metrics(home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
    """The metrics `leanops serve` exposes at /metrics, printed once (Prometheus text, or JSON)."""
    import dataclasses

    from leanops.ops.metrics import collect, prometheus_text
    ctx = _context(home, schemas)
    try:
        samples = collect(ctx)
    finally:
        ctx.close()
    if as_json:
        output.emit_json([{**dataclasses.asdict(s), "labels": dict(s.labels)} for s in samples])
    else:
        print(prometheus_text(samples), end="")
