"""`leanops` command line. Each command parses options, calls one function, hands the result to output.

Exit codes: 0 ok, 1 a check failed (accountability below 100%, a topic failed), 2 bad usage or input.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from leanops.cli import output
from leanops.cli.options import HelpGroup, HomeOpt, InitHomeOpt, JsonOpt, SchemasOpt
from leanops.errors import LeanOpsError

# click's base error (usage errors and bad parameters), wherever this typer keeps click
ClickError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")

# Help is click's plain text (rich_markup_mode=None, inherited by every sub-app): rich markup would eat
# "[spark]" from "lean-ops[spark]", and typer's rich help gives every flag a "<bool>" metavar.
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  cls=HelpGroup, help="lean-ops: land JSON event streams in an Apache Iceberg lakehouse.")
EngineOpt = typer.Option("embedded", "--engine", envvar="LEANOPS_ENGINE",
                         help="who runs the stages: embedded (in-process DuckDB + PyIceberg) or spark "
                              "(PySpark + Iceberg, needs lean-ops[spark])")


def _context(home: Optional[Path], schemas: Optional[Path], engine: str = "embedded", lake: bool = True):
    """The deployment. `lake=False` for read commands: the Iceberg catalog (PyIceberg) opens on first use."""
    from leanops.context import Context
    return Context.open(home, schemas, engine=engine, lake=lake)


@app.command()
def init(home: Optional[Path] = InitHomeOpt, schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
    """Create (or check) the local deployment: Iceberg SQL catalog, warehouse, state store."""
    ctx = _context(home, schemas)
    info = {"home": str(ctx.settings.home), "catalog": ctx.settings.catalog_uri,
            "warehouse": str(ctx.settings.warehouse_dir), "state": str(ctx.settings.state_path),
            "schemas": ctx.settings.schemas_location, "state_schema_version": ctx.state.schema_version}
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
    from leanops.types import validate_topic
    validate_topic(topic)  # usage errors answer before the heavy imports (DuckDB, Arrow, PyIceberg)
    if source != "-" and not Path(source).is_file():
        raise LeanOpsError(f"no such file: {source}")
    from leanops.cli.progress import byte_progress
    from leanops.ingest import ingest_stream
    ctx = _context(home, schemas)
    if source == "-":
        stream, total, name = sys.stdin.buffer, None, "<stdin>"
    else:
        path = Path(source)
        stream, total, name = path.open("rb"), path.stat().st_size, str(path)
    with stream, byte_progress(f"ingest {topic}", total, enabled=not as_json) as advance:
        report = ingest_stream(ctx.lake, ctx.state, ctx.settings, topic, stream, name, on_bytes=advance)
    if as_json:
        output.emit_json(report.as_dict())
    else:
        output.console.print(f"{topic}: {output.counted(report.lines_read, 'line')} read, {report.accepted} accepted "
                             f"into RAW, {report.rejected} rejected to raw.dlq_errors")
        for reason, count in report.reasons.items():
            output.console.print(f"  rejected {count}: {reason}", highlight=False)


@app.command()
def run(once: bool = typer.Option(False, "--once", help="run one cycle and exit (the default)"),
        every: Optional[str] = typer.Option(None, "--every", help="run a cycle every interval (15m, 30s, 1h) "
                                                                   "until SIGINT/SIGTERM"),
        topic: Optional[list[str]] = typer.Option(None, "--topic", "-t", help="only these topics"),
        concurrency: int = typer.Option(4, "--concurrency", min=1, help="topics processed at once"),
        backlog_threshold: int = typer.Option(10_000, "--backlog-threshold", min=0,
                                              help="loop a topic straight back when a stage took more records"),
        engine: str = EngineOpt,
        home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
    """Run the pipeline for every ENABLED topic: Standardized, then Curated and Semantic where configured."""
    from leanops.orchestrate.cycle import CycleOptions, run_cycle
    from leanops.orchestrate.flow import FlowOptions
    from leanops.orchestrate.schedule import parse_interval, run_every
    if once and every:
        raise LeanOpsError("use either --once or --every, not both")
    ctx = _context(home, schemas, engine)
    options = CycleOptions(concurrency=concurrency, topics=topic or None,
                           flow=FlowOptions(backlog_threshold=backlog_threshold))
    failed = []

    def cycle() -> None:
        report = run_cycle(ctx, options)
        failed.append(report.failed)
        _print_cycle(report, as_json)
        if not report.outcomes and topic:
            output.note(f"no registered topic among: {', '.join(topic)}")
        elif not report.outcomes:
            _hint(ctx, as_json)

    if every:
        run_every(parse_interval(every), cycle)
    else:
        cycle()
    if failed and failed[-1]:
        raise typer.Exit(1)


def _print_cycle(report, as_json: bool) -> None:
    if as_json:
        output.emit_json(report.as_dict())
        return
    if not report.outcomes:
        return  # nothing ran: the caller says why
    rows = []
    for o in report.outcomes:
        if not o.stages:
            rows.append((o.topic, "", o.status.value, "", "", "", "", "", o.message))
        for s in o.stages:
            rows.append((o.topic, s.stage, s.status.value, s.records_in, s.records_written, s.records_errors,
                         s.records_duplicates, s.records_superseded, s.message or o.message))
    seconds = (report.ended_at - report.started_at).total_seconds()
    output.emit_table(f"cycle {report.started_at:%Y-%m-%d %H:%M:%S}Z ({seconds:.1f} s)",
                      ("topic", "stage", "status", "in", "written", "errors", "duplicates", "superseded", "message"),
                      rows)


@app.command()
def status(home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
    """Per topic: flag, checkpoints, rows pending per layer, last run and its outcome; per table: files,
    delete files, snapshots and the last maintenance."""
    ctx = _context(home, schemas, lake=False)
    statuses = _statuses(ctx, ctx.topics())
    if not statuses:
        return _nothing_yet(ctx, as_json)
    if as_json:
        output.emit_json(statuses)
        return
    output.emit_table("status", ("topic", "flag", "active", "pending std", "pending cur", "semantic lag",
                                 "last run", "outcome", "error"),
                      [(s["topic"], s["flow_control_flag"], s["is_active"], s["pending"].get("standardized"),
                        s["pending"].get("curated", ""), _age(s["semantic_lag_seconds"]),
                        s["last_run"]["ended_at"] if s["last_run"] else "",
                        f"{s['last_run']['stage']} {s['last_run']['status']}" if s["last_run"] else "",
                        (s["last_run"]["error"] or "")[:80] if s["last_run"] else "") for s in statuses])
    output.emit_table("tables", ("topic", "table", "records", "data files", "delete files", "snapshots",
                                 "last maintenance"),
                      [(s["topic"], t["table"], t["records"], t["data_files"], t["delete_files"], t["snapshots"],
                        (s["last_maintenance"] or "never")[:16].replace("T", " ")) for s in statuses for t in s["tables"]])


def _hint(ctx, as_json: bool) -> None:
    """A home with no topic: what to do next, instead of empty tables."""
    output.empty_home_hint(str(ctx.settings.home), ctx.settings.schemas_location, as_json)


def _nothing_yet(ctx, as_json: bool) -> None:
    """A list command in a home with no topic: `[]` for --json (the hint on stderr), else the hint."""
    if as_json:
        output.emit_json([])
    _hint(ctx, as_json)


def _statuses(ctx, topics: list[str]) -> list[dict]:
    """Each topic's status; an empty home answers from the state store and the catalog file alone."""
    if not topics:
        return []
    from leanops.orchestrate.health import topic_status
    return [topic_status(ctx, t) for t in topics]


def _age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


topics_app = typer.Typer(no_args_is_help=False, cls=HelpGroup,
                         help="The topic registry: list it; deactivate or activate a topic.")


@topics_app.callback(invoke_without_command=True)
def topics(typer_ctx: typer.Context, home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt,
           as_json: bool = JsonOpt) -> None:
    """The topic registry (no sub-command: list it)."""
    if typer_ctx.invoked_subcommand is not None:
        return
    ctx = _context(home, schemas, lake=False)
    entries = ctx.state.list_topics()
    rows = [{"topic_name": e.topic_name, "is_active": e.is_active, "flow_control_flag": e.flow_control_flag.value,
             "last_updated_at": e.last_updated_at.isoformat()} for e in entries]
    if not rows:
        _nothing_yet(ctx, as_json)
    elif as_json:
        output.emit_json(rows)
    else:
        output.emit_table("topics", ("topic", "active", "flag", "last updated"),
                          [(r["topic_name"], r["is_active"], r["flow_control_flag"], r["last_updated_at"]) for r in rows])


@app.command()
def drift(topic: Optional[str] = typer.Option(None, "--topic", "-t", help="only this topic"),
          home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
    """The drift log: columns seen in data that the schema does not declare (or conflicts with), first sighting."""
    ctx = _context(home, schemas, lake=False)
    entries = ctx.state.list_drift(topic)
    if not entries and not ctx.state.list_topics():
        _nothing_yet(ctx, as_json)
    elif as_json:
        output.emit_json([e.as_dict() for e in entries])
    elif not entries:
        output.console.print("no drift recorded")
    else:
        output.emit_table("drift", ("topic", "column", "kind", "first seen", "snapshot", "sample"),
                          [(e.topic, e.column_name, e.kind, e.first_seen.isoformat(), e.snapshot_id, e.sample_value)
                           for e in entries])


def _set_active(topic: str, active: bool, home: Optional[Path], schemas: Optional[Path], as_json: bool) -> None:
    from leanops.types import validate_topic
    ctx = _context(home, schemas)
    entry = ctx.state.set_active(validate_topic(topic), active)
    result = {"topic_name": entry.topic_name, "is_active": entry.is_active,
              "flow_control_flag": entry.flow_control_flag.value, "last_updated_at": entry.last_updated_at.isoformat()}
    if as_json:
        output.emit_json(result)
    else:
        output.console.print(f"{topic}: {'active' if entry.is_active else 'inactive'} "
                             f"(flag {entry.flow_control_flag.value})", highlight=False)


@topics_app.command("deactivate")
def topics_deactivate(topic: str = typer.Argument(..., help="the topic to take out of processing"),
                      home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt,
                      as_json: bool = JsonOpt) -> None:
    """Set a topic's is_active false: the orchestrator skips it until `topics activate` (RAW keeps landing);
    its flow-control flag is kept."""
    _set_active(topic, False, home, schemas, as_json)


@topics_app.command("activate")
def topics_activate(topic: str = typer.Argument(..., help="the topic to process again"),
                    home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt,
                    as_json: bool = JsonOpt) -> None:
    """Set a topic's is_active true again (it runs when its flag is ENABLED)."""
    _set_active(topic, True, home, schemas, as_json)


def _set_flag(topic: str, flag: str, home: Optional[Path], schemas: Optional[Path], as_json: bool) -> None:
    from leanops.types import FlowControl
    ctx = _context(home, schemas, lake=False)
    entry = ctx.state.set_flow_control(topic, FlowControl(flag))
    result = {"topic_name": entry.topic_name, "flow_control_flag": entry.flow_control_flag.value,
              "last_updated_at": entry.last_updated_at.isoformat()}
    if as_json:
        output.emit_json(result)
    else:
        output.console.print(f"{topic}: {entry.flow_control_flag.value}")


@app.command()
def pause(topic: str = typer.Argument(..., help="the topic to pause"), home: Optional[Path] = HomeOpt,
          schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
    """Set a topic PAUSED: the orchestrator skips it (its data keeps landing in RAW)."""
    _set_flag(topic, "PAUSED", home, schemas, as_json)


@app.command()
def resume(topic: str = typer.Argument(..., help="the topic to enable again"), home: Optional[Path] = HomeOpt,
           schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
    """Set a topic ENABLED again."""
    _set_flag(topic, "ENABLED", home, schemas, as_json)


@app.command()
def check(curation_lag: int = typer.Option(100_000, "--curation-lag", help="alert above this many pending records"),
          dlq_age_days: float = typer.Option(7.0, "--dlq-age-days", help="alert on DLQ rows older than this"),
          semantic_lag_hours: float = typer.Option(2.0, "--semantic-lag-hours", min=0,
                                                   help="alert when a Curated change waits longer for Semantic"),
          home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
    """Evaluate the alert thresholds; send alerts; exit 1 when any is crossed."""
    from leanops.orchestrate.alerts import notifier_from_env
    from leanops.orchestrate.health import Thresholds, check as check_thresholds
    ctx = _context(home, schemas)
    alerts = check_thresholds(ctx, Thresholds(curation_lag, dlq_age_days, semantic_lag_hours))
    notifier = notifier_from_env()
    for alert in alerts:
        notifier.send(alert)
    if as_json:
        output.emit_json([a.as_dict() for a in alerts])
    elif alerts:
        output.emit_table("thresholds crossed", ("kind", "topic", "stage", "reason"),
                          [(a.kind, a.topic, a.stage, a.reason) for a in alerts])
    else:
        output.console.print("all thresholds ok")
    if alerts:
        raise typer.Exit(1)


@app.command()
def accountability(topic: Optional[str] = typer.Option(None, "--topic", "-t", help="only this topic"),
                   pre_raw: bool = typer.Option(False, "--pre-raw", help="AWS only: (RAW + DLQ errors + Firehose "
                                                "errors) / SQS messages, seed 001's ingestion layer"),
                   hours: float = typer.Option(24.0, "--hours", min=0.01, help="--pre-raw: the window, ending now"),
                   deep: bool = typer.Option(False, "--deep", help="count error rows by scanning the error tables "
                                             "instead of from their commit summaries (slower; they agree)"),
                   home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt,
                   as_json: bool = JsonOpt) -> None:
    """Records in = written + errors + duplicates, per topic and layer. Exit 1 below 100%."""
    if pre_raw:
        if topic:
            raise LeanOpsError("--pre-raw balances the whole ingestion queue, which carries every topic: drop --topic")
        _pre_raw_accountability(hours, home, schemas, as_json)
        return
    from leanops.landing.failures import unlanded_files
    ctx = _context(home, schemas, lake=False)
    names = [topic] if topic else ctx.topics()
    # landed files whose topic never reached RAW (or is no valid name) have only their files layer
    unlanded = [] if topic else sorted({u.file.topic for u in unlanded_files(ctx.state)} - set(names))
    accounts = _accounts(ctx, names, unlanded, deep)
    if not accounts:
        return _nothing_yet(ctx, as_json)
    if as_json:
        output.emit_json([a.as_dict() for a in accounts])
    else:
        output.emit_table("accountability", ("topic", "layer", "in", "written", "errors", "duplicates",
                                             "superseded", "pending", "accounted", "%"),
                          [(a.topic or "(no topic)", a.layer, a.records_in, a.written, a.errors, a.duplicates,
                            a.superseded, a.pending, a.accounted, _percent_cell(a)) for a in accounts])
        for a in accounts:
            if a.orphaned:
                output.console.print(f"{a.topic}: {output.counted(a.orphaned, 'DLQ row')} of ingests that never "
                                     "committed (the process died); that input was not ingested, ingest it again")
            if a.reason:
                output.console.print(f"{a.topic or '(no topic)'} {a.layer}: {a.reason}", markup=False,
                                     highlight=False, soft_wrap=True)
    if not all(a.ok for a in accounts):
        raise typer.Exit(1)


def _pre_raw_accountability(hours: float, home: Optional[Path], schemas: Optional[Path], as_json: bool) -> None:
    """Pre-RAW needs the AWS runtime's queue, DLQ and Firehose error prefix (docs/aws-lambdas.md)."""
    from datetime import datetime, timedelta, timezone
    from leanops.aws.accounting import INGEST_QUEUE_ENV, PreRawSources, measure
    sources = PreRawSources.from_env()
    if sources is None:
        output.fail(f"--pre-raw needs the AWS runtime: the embedded default has no SQS queue. Set {INGEST_QUEUE_ENV} "
                    "(with LEANOPS_DLQ_URL and LEANOPS_FIREHOSE_ERRORS_URI: `terraform output leanops_env`)")
        raise typer.Exit(2)
    ctx = _context(home, schemas)
    aws = ctx.settings.aws_client
    end = datetime.now(timezone.utc)
    account = measure(ctx.lake, sources, end - timedelta(hours=hours), end, aws("cloudwatch"), aws("sqs"), aws("s3"))
    if as_json:
        output.emit_json(account.as_dict())
    else:
        output.emit_table(f"pre-RAW accountability, last {hours:g} h",
                          ("sqs messages", "raw", "dlq errors", "firehose errors", "in flight", "missing", "%"),
                          [(account.sqs_messages, account.raw_rows, account.dlq_errors, account.firehose_errors,
                            account.in_flight, account.missing, f"{account.percent:.2f}")])
    if not account.ok:
        raise typer.Exit(1)


def _accounts(ctx, topics: list[str], files_only: list[str], deep: bool = False) -> list:
    """Each topic's layers (its landed files first), then the files layer of `files_only`; an empty home
    answers from the state store and the catalog file alone, a home with topics from table metadata
    (`ctx.read_lake`) unless a count needs a scan (`deep`: every error count)."""
    if not topics and not files_only:
        return []
    from leanops.landing.operations import files_account
    from leanops.stages.accountability import topic_accounts
    lake = ctx.read_lake
    accounts = []
    for name in topics:
        files = files_account(lake, ctx.state, name)  # lines in landed files = RAW accepted + DLQ
        accounts += ([files] if files else []) + topic_accounts(lake, name, deep)
    return accounts + [files_account(lake, ctx.state, name) for name in files_only]


def _percent_cell(account) -> str:
    if account.failed_files:  # landed files missing from RAW: their lines were never counted
        return f"open: {account.failed_files} file{'s' if account.failed_files != 1 else ''} not in RAW"
    return "n/a" if account.percent is None else f"{account.percent:.2f}"


@app.command()
def sql(query: str = typer.Argument(..., help='one read-only query, e.g. "SELECT * FROM curated.events_latest"; '
                                                '- reads it from stdin'),
        limit: Optional[int] = typer.Option(None, "--limit", min=0,
                                            help="rows to print (default: 1000 in a table, all with --json/--csv)"),
        as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout"),
        home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
    """Read-only SQL (DuckDB) over the lakehouse: raw.*, standardized.*, curated.*, semantic.*, curated.<topic>_latest."""
    from leanops.sqlview import head, json_array, json_rows, stream_sql, text_rows
    if as_json and as_csv:
        raise LeanOpsError("--json and --csv exclude each other")
    ctx = _context(home, schemas)
    shown = limit if limit is not None else (None if as_json or as_csv else 1000)
    with stream_sql(ctx, sys.stdin.read() if query == "-" else query) as result:
        if as_json:  # printed batch by batch: memory follows the batch, not the result
            for piece in json_array(row for batch in head(result.batches, shown) for row in json_rows(batch)):
                sys.stdout.write(piece)
        elif as_csv:
            output.emit_csv(result.columns, (row for batch in head(result.batches, shown) for row in text_rows(batch)))
        else:  # a table is drawn once it is complete: fetch one row more than shown, to know if there are more
            rows = [row for batch in head(result.batches, shown + 1) for row in text_rows(batch)]
            output.emit_table("sql", result.columns, rows[:shown])
            output.note(output.counted(len(rows), "row") if len(rows) <= shown else
                        f"first {output.counted(shown, 'row')} shown, the result has more "
                        "(--limit N, or --json/--csv for all)")


@app.command()
def deploy(schema_dir: Optional[str] = typer.Argument(None, metavar="[SCHEMA_DIR]",
                                                      help="schema directory or s3://bucket/prefix/ "
                                                           "(default $LEANOPS_SCHEMAS)"),
           publish: Optional[str] = typer.Option(
               None, "--publish", envvar="LEANOPS_SCHEMA_PUBLISH", metavar="S3_PREFIX",
               help="s3://bucket/prefix/ the Lambdas and Glue jobs read schemas from: upload each accepted "
                    "schema file there (for a rebuild: after PAUSING the topic)"),
           rebuilder_arn: Optional[str] = typer.Option(
               None, "--rebuilder-arn", envvar="LEANOPS_REBUILDER_ARN", metavar="ARN",
               help="PURE_REMAP / NUCLEAR_RESET: PAUSE the topic and start this historical-rebuilder state "
                    "machine with {\"topic\": ...} instead of rebuilding in-process"),
           home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
    """Apply schema changes: NEW_TABLE, SCHEMA_EVOLVE, PURE_REMAP, NUCLEAR_RESET (archive + rebuild)."""
    from leanops.config import Settings, s3_prefix_uri
    from leanops.schema_file import read_schema_dir
    source = Settings.from_env(home, schemas).schemas_location if schema_dir is None else schema_dir
    if s3_prefix_uri(source) is None:  # a missing directory or an invalid file answers before the heavy imports
        read_schema_dir(Path(source))
    from leanops.schema.deploy import deploy as run_deploy
    ctx = _context(home, schemas)
    try:
        results = run_deploy(ctx, schema_dir, publish=publish, rebuilder_arn=rebuilder_arn)
    finally:
        ctx.close()
    if as_json:
        output.emit_json([r.as_dict() for r in results])
    else:
        output.emit_table("deploy", ("topic", "kind", "actions / problem"),
                          [(r.topic, r.kind or "-", r.problem if not r.ok else "; ".join(r.actions))
                           for r in results])
    if not all(r.ok for r in results):
        raise typer.Exit(1)


@app.command()
def rebuild(topic: str = typer.Argument(..., help="topic to replay from RAW"), engine: str = EngineOpt,
            home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
    """Historical rebuild: archive the topic's tables, replay all of RAW under the current schema, re-enable."""
    from leanops.cli.progress import row_progress
    from leanops.schema.rebuild import rebuild as run_rebuild
    ctx = _context(home, schemas, engine)
    raw = ctx.lake.raw_table(topic)
    total = int(raw.current_snapshot().summary.additional_properties.get("total-records", 0)) \
        if raw is not None and raw.current_snapshot() else None
    with row_progress(f"rebuild {topic}", total, enabled=not as_json) as advance:
        report = run_rebuild(ctx, topic, on_batch=lambda r: advance(r.records_in) if r.stage == "standardized" else None)
    if as_json:
        output.emit_json(report.as_dict())
    else:
        output.console.print(f"{topic}: rebuild {report.status}; old tables archived as *_{report.archive_suffix}; "
                             f"rows written up to RAW snapshot {report.target_raw_snapshot}: "
                             f"{report.standardized_rows} Standardized, {report.curated_rows} Curated, "
                             f"{report.semantic_rows} Semantic"
                             + (f"; error: {report.error} (topic stays PAUSED, run again to resume)"
                                if report.error else ""), highlight=False)
    if report.status != "SUCCEEDED":
        raise typer.Exit(1)


@app.command("export-ddl")
def export_ddl(target: str = typer.Option("snowflake", "--target", help="snowflake or athena"),
               topic: Optional[list[str]] = typer.Option(None, "--topic", "-t", help="only these topics"),
               database: str = typer.Option("LAKEHOUSE", "--database", help="Snowflake database"),
               schema: str = typer.Option("SEMANTIC", "--schema", help="Snowflake schema"),
               curated_schema: str = typer.Option("CURATED", "--curated-schema",
                                                  help="Snowflake schema of curated.<topic> and its latest view"),
               external_volume: str = typer.Option("LEANOPS_VOLUME", "--external-volume",
                                                   help="Snowflake external volume over the warehouse"),
               catalog_integration: str = typer.Option("LEANOPS_OBJECT_STORE", "--catalog-integration",
                                                       help="Snowflake catalog integration (object store) "
                                                            "the Iceberg tables are read through"),
               storage_base_url: Optional[str] = typer.Option(
                   None, "--storage-base-url", help="the external volume's STORAGE_BASE_URL (Snowflake metadata "
                                                    "paths are relative to it; default: each table's location)"),
               home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt) -> None:
    """Print the SQL that exposes the semantic tables and the curated.<topic>_latest views downstream
    (Snowflake create + REFRESH, Athena)."""
    from leanops.ddl import export_ddl as generate
    ctx = _context(home, schemas)
    options = {} if target == "athena" else {"database": database, "schema": schema,
                                             "curated_schema": curated_schema,
                                             "external_volume": external_volume,
                                             "catalog_integration": catalog_integration}
    if storage_base_url and target != "athena":
        options["storage_base_url"] = storage_base_url
    clustering = {}
    if target == "snowflake":  # each schema file's optional semantic.cluster_by
        for name in topic or ctx.topics():
            doc = ctx.schema(name)
            if doc is not None and doc.semantic is not None and doc.semantic.cluster_by:
                clustering[name] = doc.semantic.cluster_by
    try:
        print(generate(ctx.lake, topic or None, target, cluster_by=clustering, **options))
    except ValueError as exc:
        raise LeanOpsError(str(exc)) from exc


@app.command("spark-submit-args")
def spark_submit_args() -> None:
    """Print the spark-submit options for lean-ops jobs: spark-submit $(leanops spark-submit-args) glue/....py"""
    import shlex

    from leanops.engines.spark.session import submit_args
    print(" ".join(shlex.quote(a) for a in submit_args()))


@app.command()
def lint(schema_dir: Optional[Path] = typer.Argument(None, envvar="LEANOPS_SCHEMAS", metavar="SCHEMA_DIR",
                                                     help="schema directory (default ./schemas)"),
         base: Optional[str] = typer.Option(None, "--base", metavar="REF",
                                            help="git ref to compare with, via its merge base with HEAD "
                                                 "(default main, else origin/main)"),
         allow_removed: Optional[list[str]] = typer.Option(None, "--allow-removed", metavar="TOPIC",
                                                           help="this topic's schema file may be removed"),
         as_json: bool = JsonOpt) -> None:
    """Classify each changed schema file against git (NEW_TABLE, SCHEMA_EVOLVE, PURE_REMAP, NUCLEAR_RESET).

    Exit 1 when a breaking change is not declared in the file's "change" block, 2 when a file is invalid.
    """
    from leanops.schema.lint import lint_schemas
    report = lint_schemas(schema_dir, base, allow_removed or ())
    if as_json:
        output.emit_json(report.as_dict())
    elif not report.topics:
        output.console.print(f"no schema change since {report.base_ref} ({report.base_commit[:12]})",
                             highlight=False, markup=False)
    else:
        output.emit_table(f"schema changes since {report.base_ref} ({report.base_commit[:12]})",
                          ("topic", "kind", "declared", "ok", "changes"),
                          [(t.topic, t.kind.value if t.kind else "no schema change",
                            t.declared.value if t.declared else "", "yes" if t.ok else "NO", len(t.changes))
                           for t in report.topics])
        for t in report.topics:
            for change in t.changes:
                output.console.print(f"  {t.topic}  {change.kind.value:13}  {change.reason}", highlight=False,
                                     markup=False)
    for message in report.notes + [w for t in report.topics for w in t.warnings]:
        output.note(f"warning: {message}")
    for message in [t.problem for t in report.topics if t.problem] + [line for e in report.errors
                                                                       for line in str(e).splitlines()]:
        output.note(f"error: {message}")  # not output.fail: messages quote file contents, never markup
    if report.exit_code:
        raise typer.Exit(report.exit_code)


@app.command()
def demo(seed: int = typer.Option(7, "--seed", help="random seed: the same seed generates the same events"),
         events: int = typer.Option(2000, "--events", help="events per topic"),
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


@app.command()
def package(out: Path = typer.Option(..., "--out", help="directory for the artifacts (created when missing)"),
            as_json: bool = JsonOpt) -> None:
    """Build the AWS artifacts with reproducible bytes: Lambda zip, lean-ops wheel, Glue scripts."""
    from leanops.aws.package import build_all, describe
    artifacts = describe(build_all(out))
    if as_json:
        output.emit_json({"out": str(out.absolute()), "artifacts": artifacts})
    else:
        output.emit_table(f"AWS artifacts in {out}", ("path", "sha256", "bytes"),
                          [(a["path"], a["sha256"], a["bytes"]) for a in artifacts])


from leanops.cli.aws import aws_app  # noqa: E402  (the `leanops aws ...` group)
from leanops.cli.landing import files_app, watch  # noqa: E402  (the file landing path)
from leanops.cli.maintain import maintain  # noqa: E402  (table maintenance)
from leanops.cli.ops import errors_app, metrics  # noqa: E402  (the operations view)
from leanops.cli.schema import schema_app  # noqa: E402  (schema files: show, suggest)
from leanops.cli.serve import serve  # noqa: E402  (the dashboard, /metrics, HTTP ingestion)

app.add_typer(topics_app, name="topics")
app.add_typer(aws_app, name="aws")
app.add_typer(files_app, name="files")
app.command()(watch)
app.add_typer(errors_app, name="errors")
app.add_typer(schema_app, name="schema")
app.command()(metrics)
app.command()(serve)
app.command()(maintain)


def main() -> None:
    """Entry point: usage errors exit 2 (click), lean-ops errors print one line and exit with their code."""
    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        code = app(standalone_mode=False)  # --help, typer.Exit: the exit code; click's errors: raised
    except LeanOpsError as exc:
        if debug:
            raise
        output.fail(str(exc))
        sys.exit(exc.exit_code)
    except ClickError as exc:  # click's plain usage message: typer's boxed one loads Rich's help renderer
        exc.show()
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("Aborted!", file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
