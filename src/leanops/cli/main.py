"""`leanops` command line. Each command parses options, calls one function, hands the result to output.

Exit codes: 0 ok, 1 a check failed (accountability below 100%, a topic failed), 2 bad usage or input.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

from leanops.cli import output
from leanops.errors import LeanOpsError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="lean-ops: land JSON event streams in an Apache Iceberg lakehouse.")

HomeOpt = typer.Option(None, "--home", envvar="LEANOPS_HOME", help="deployment home (default ./.leanops)")
SchemasOpt = typer.Option(None, "--schemas", envvar="LEANOPS_SCHEMAS", help="schema directory (default ./schemas)")
JsonOpt = typer.Option(False, "--json", help="machine-readable output")


def _context(home: Optional[Path], schemas: Optional[Path]):
    from leanops.context import Context
    return Context.open(home, schemas)


@app.command()
def init(home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
    """Create (or check) the local deployment: Iceberg SQL catalog, warehouse, state store."""
    ctx = _context(home, schemas)
    info = {"home": str(ctx.settings.home), "catalog": ctx.settings.catalog_uri,
            "warehouse": str(ctx.settings.warehouse_dir), "state": str(ctx.settings.state_path),
            "schemas": str(ctx.settings.schemas_dir), "state_schema_version": ctx.state.schema_version}
    if as_json:
        output.emit_json(info)
    else:
        output.console.print(f"lean-ops home ready at {info['home']}")
        for key in ("catalog", "warehouse", "state", "schemas"):
            output.console.print(f"  {key:10} {info[key]}")


@app.command()
def ingest(topic: str = typer.Option(..., "--topic", "-t", help="topic the envelopes belong to"),
           source: str = typer.Argument("-", help="NDJSON file of envelopes, or - for stdin"),
           home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
    """Append NDJSON envelopes to raw.<topic>_staging; non-envelopes go to raw.dlq_errors."""
    from leanops.cli.progress import byte_progress
    from leanops.ingest import ingest_stream
    ctx = _context(home, schemas)
    if source == "-":
        stream, total, name = sys.stdin.buffer, None, "<stdin>"
    else:
        path = Path(source)
        if not path.is_file():
            raise LeanOpsError(f"no such file: {source}")
        stream, total, name = path.open("rb"), path.stat().st_size, str(path)
    with stream, byte_progress(f"ingest {topic}", total, enabled=not as_json) as advance:
        report = ingest_stream(ctx.lake, ctx.state, ctx.settings, topic, stream, name, on_bytes=advance)
    if as_json:
        output.emit_json(report.as_dict())
    else:
        output.console.print(f"{topic}: {report.lines_read} lines read, {report.accepted} accepted into RAW, "
                             f"{report.rejected} rejected to raw.dlq_errors")
        for reason, count in report.reasons.items():
            output.console.print(f"  rejected {count}: {reason}", highlight=False)


@app.command()
def run(once: bool = typer.Option(True, "--once", help="run one cycle and exit"),
        topic: Optional[list[str]] = typer.Option(None, "--topic", "-t", help="only these topics"),
        home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
    """Run the pipeline once for every ENABLED topic whose schema gate is open."""
    from leanops.runner import run_once
    from leanops.types import RunStatus
    ctx = _context(home, schemas)
    outcomes = run_once(ctx, topic or None)
    if as_json:
        output.emit_json([o.as_dict() for o in outcomes])
    else:
        rows = []
        for o in outcomes:
            s = o.stages[0] if o.stages else None
            rows.append((o.topic, o.status.value, s.records_in if s else "", s.records_written if s else "",
                         s.records_errors if s else "", s.records_duplicates if s else "",
                         len(s.columns_added) if s else "", o.message))
        output.emit_table("run", ("topic", "status", "in", "written", "errors", "duplicates",
                                  "new columns", "message"), rows)
    if any(o.status == RunStatus.FAILED for o in outcomes):
        raise typer.Exit(1)


@app.command()
def accountability(topic: Optional[str] = typer.Option(None, "--topic", "-t"),
                   home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt,
                   as_json: bool = JsonOpt) -> None:
    """Records in = written + errors + duplicates, per topic and layer. Exit 1 below 100%."""
    from leanops.stages.accountability import topic_accounts
    ctx = _context(home, schemas)
    accounts = [a for t in ([topic] if topic else ctx.topics()) for a in topic_accounts(ctx.lake, t)]
    if as_json:
        output.emit_json([a.as_dict() for a in accounts])
    else:
        output.emit_table("accountability", ("topic", "layer", "in", "written", "errors", "duplicates",
                                             "superseded", "pending", "accounted", "%"),
                          [(a.topic, a.layer, a.records_in, a.written, a.errors, a.duplicates, a.superseded, a.pending,
                            a.accounted, "n/a" if a.percent is None else f"{a.percent:.2f}") for a in accounts])
        for a in accounts:
            if a.orphaned:
                output.console.print(f"{a.topic}: {a.orphaned} DLQ rows belong to ingests that never committed "
                                     "(the process died); that input was not ingested, ingest it again")
    if not all(a.ok for a in accounts):
        raise typer.Exit(1)


@app.command()
def sql(query: str = typer.Argument(..., help='one read-only query, e.g. "SELECT * FROM curated.events_latest"; '
                                                '- reads it from stdin'),
        limit: Optional[int] = typer.Option(None, "--limit", min=0,
                                            help="rows to print (default: 1000 in a table, all with --json/--csv)"),
        as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout"),
        home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
    """Read-only SQL (DuckDB) over the lakehouse: raw.*, standardized.*, curated.*, curated.<topic>_latest."""
    from leanops.sqlview import json_rows, run_sql, text_rows
    if as_json and as_csv:
        raise LeanOpsError("--json and --csv exclude each other")
    ctx = _context(home, schemas)
    result = run_sql(ctx, sys.stdin.read() if query == "-" else query)
    shown = result.slice(0, limit if limit is not None else (None if as_json or as_csv else 1000))
    if as_json:
        output.emit_json(json_rows(shown))
    elif as_csv:
        output.emit_csv(shown.column_names, text_rows(shown))
    else:
        output.emit_table("sql", shown.column_names, text_rows(shown))
        output.note(f"{result.num_rows} rows" if shown.num_rows == result.num_rows else
                    f"{shown.num_rows} of {result.num_rows} rows shown (--limit N, or --json/--csv for all)")


@app.command()
def demo(seed: int = typer.Option(7, "--seed"), events: int = typer.Option(2000, "--events", help="events per topic"),
         home: Optional[Path] = typer.Option(None, "--home",
                                             help="demo home to (re)build (default ./.leanops-demo); "
                                                  "only a home built by the demo is ever deleted"),
         as_json: bool = JsonOpt) -> None:
    """Build a fresh home, generate realistic events with injected errors, run the pipeline, show accountability."""
    from leanops.demo import run_demo
    summary = run_demo(home or Path(".leanops-demo"), seed=seed, events=events, quiet=as_json)
    if as_json:
        output.emit_json(summary)
    if not summary["accountable"]:
        raise typer.Exit(1)


def main() -> None:
    """Entry point: usage errors exit 2 (click), lean-ops errors print one line and exit with their code."""
    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    try:
        app()  # standalone: click prints usage errors and exits 2 itself
    except LeanOpsError as exc:
        if debug:
            raise
        output.fail(str(exc))
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
