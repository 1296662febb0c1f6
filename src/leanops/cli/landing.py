"""`leanops watch DIR` and `leanops files stats|orphans|reset-stuck|retry|dismiss`: the file landing path
(seed 003)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import typer

from leanops.cli import output
from leanops.cli.options import HelpGroup, HomeOpt, JsonOpt, SchemasOpt
from leanops.errors import LeanOpsError

files_app = typer.Typer(no_args_is_help=True, cls=HelpGroup,
                        help="Landed files and manifests: stats, orphans, reset-stuck, retry, dismiss.")

TopicOpt = typer.Option(None, "--topic", "-t", help="only this topic")
StuckOpt = typer.Option(3600.0, "--stuck-after", min=0, help="seconds in processing after which a manifest is stuck")
SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(I?B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """700MB, 1.5GiB, 4096 -> bytes (K/M/G/T are binary multiples, as Glue and S3 report sizes)."""
    match = SIZE.match(text)
    if not match:
        raise LeanOpsError(f"{text!r} is not a size (e.g. 700MB, 1GiB, 4096)")
    number, unit = float(match.group(1)), match.group(2).upper()
    return int(number * (1 << (10 * "_KMGT".index(unit or "_"))))


def _context(home, schemas):
    from leanops.context import Context
    return Context.open(home, schemas)


def watch(directory: Path = typer.Argument(..., help="landing directory to pick NDJSON files (.ndjson, .jsonl, "
                                                     ".json, each optionally .gz) up from"),
          topic: Optional[str] = typer.Option(None, "--topic", "-t", help="every file belongs to this topic"),
          topic_from_path: bool = typer.Option(False, "--topic-from-path",
                                               help="the first directory below DIR names the topic"),
          once: bool = typer.Option(False, "--once", help="one pass, closing every manifest even if small, then exit"),
          every: str = typer.Option("10s", "--every", help="time between passes when watching (30s, 1m)"),
          max_files: int = typer.Option(200, "--max-files", min=1, help="files per manifest at most"),
          max_bytes: str = typer.Option("700MB", "--max-bytes", help="bytes per manifest before it closes"),
          max_wait: float = typer.Option(300.0, "--max-wait", min=0,
                                         help="seconds a smaller manifest waits for more files"),
          settle: float = typer.Option(5.0, "--settle", min=0,
                                       help="seconds a file must be unchanged before it is taken"),
          home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
    """Ingest NDJSON files dropped in DIR: tracked once, grouped into manifests, one RAW commit each."""
    if not directory.is_dir():  # answered before the heavy imports (DuckDB, Arrow, PyIceberg)
        raise LeanOpsError(f"no landing directory {directory}")
    from leanops.landing.manifests import LandingOptions
    from leanops.landing.failures import WatchFailures
    from leanops.landing.watch import watch_pass
    from leanops.orchestrate.schedule import parse_interval, run_every
    if (topic is None) == (not topic_from_path):
        raise LeanOpsError("give exactly one of --topic T or --topic-from-path")
    options = LandingOptions(max_files=max_files, max_bytes=parse_size(max_bytes), max_wait_seconds=max_wait,
                             settle_seconds=settle)
    ctx = _context(home, schemas)
    failures = WatchFailures()  # over every pass: a failure of the first pass is not forgotten by the last

    def one_pass() -> None:
        report = watch_pass(ctx, directory, topic, options, flush=once)
        failures.add(report)
        _print_pass(report, as_json)

    try:
        if once:
            one_pass()
        else:
            run_every(parse_interval(every), one_pass)
        failed = _print_failures(ctx, failures, topic, options)
    finally:
        ctx.close()
    if failed:
        raise typer.Exit(1)


def _print_failures(ctx, failures, topic: Optional[str], options) -> bool:
    """On stderr: the manifests and files of this run that ended failed, why, and how to recover them; a
    note for those failed before this run. True when this run left something failed."""
    from leanops.landing.failures import unlanded_files
    manifests, files = failures.still_failed(ctx.state)
    for m in manifests:
        retried = (f"attempt {m.attempts} of {options.max_attempts}, the next pass retries it"
                   if m.attempts < options.max_attempts else f"all {m.attempts} attempts used")
        output.fail(f"manifest {m.manifest_id} ({m.topic}, {output.counted(len(m.files), 'file')}) failed ({retried}): "
                    f"{m.error}")
    for f in files:
        output.fail(f"file {f.file_key} ({f.topic or 'no topic'}) was not ingested: {f.error}")
    if manifests or files:
        output.note("to recover: fix the cause, then `leanops files retry` and `leanops watch` again "
                    "(`leanops files dismiss FILE --reason TEXT` gives a file up); `leanops files orphans` lists them")
    reported = {f.file_key for f in files} | {k for m in manifests for k in m.files}
    earlier = [u for u in unlanded_files(ctx.state, topic) if u.file.file_key not in reported]
    if earlier:
        output.note(f"{output.counted(len(earlier), 'landed file')} of earlier runs not in RAW (failed or stuck): "
                    "`leanops files orphans` lists them")
    return bool(manifests or files)


def _print_pass(report, as_json: bool) -> None:
    if as_json:
        output.emit_json(report.as_dict())
        return
    output.console.print(f"files: {report.complete} complete ({report.tracked} new, "
                         f"{output.counted(report.duplicates, 'duplicate')}), "
                         f"{report.writing} still being written; manifests built: {report.manifests_built}")
    for rejected in report.rejected:
        output.console.print(f"rejected {rejected['file']}: {rejected['error']}")
    for manifest_id in report.recovered:
        output.console.print(f"recovered {manifest_id}: its watcher was killed while processing it")
    if report.results:
        output.emit_table("manifests ingested", ("manifest", "topic", "status", "files", "lines", "accepted",
                                                  "rejected", "note"),
                          [(r.manifest_id, r.topic, r.status, r.files, r.lines_read, r.accepted, r.rejected,
                            r.error or ("recovered from RAW" if r.recovered else "")
                            + ("; failed files: " + ", ".join(r.failed_files) if r.failed_files else ""))
                           for r in report.results])


@files_app.command()
def stats(topic: Optional[str] = TopicOpt, home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt,
          as_json: bool = JsonOpt) -> None:
    """Tracked files and manifests by status."""
    from leanops.landing.operations import stats as file_stats
    ctx = _context(home, schemas)
    try:
        result = file_stats(ctx.state, topic)
    finally:
        ctx.close()
    if as_json:
        output.emit_json(result)
        return
    if not result["files"] and not result["manifests"]:
        output.console.print("no landed files yet: `leanops watch DIR --topic T` lands the NDJSON files dropped "
                             "in DIR (docs/landing.md)", highlight=False, markup=False)
        return
    output.emit_table("files", ("status", "count", "bytes", "lines"),
                      [(k, v.get("count", 0), v.get("bytes", 0), v.get("lines", 0)) for k, v in result["files"].items()])
    output.emit_table("manifests", ("status", "count", "files", "bytes"),
                      [(k, v.get("count", 0), v.get("files", 0), v.get("bytes", 0))
                       for k, v in result["manifests"].items()])


@files_app.command()
def orphans(directory: Optional[Path] = typer.Argument(None, help="landing directory, to list files never tracked"),
            topic: Optional[str] = TopicOpt, stuck_after: float = StuckOpt,
            home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
    """Files on disk never tracked, tracked files gone, manifests stuck in processing, files that failed to
    ingest. Exit 1 if any."""
    from leanops.landing.operations import orphans as find_orphans
    ctx = _context(home, schemas)
    try:
        result = find_orphans(ctx.state, directory, topic, stuck_after)
    finally:
        ctx.close()
    if as_json:
        output.emit_json(result)
    else:
        for name in ("untracked_files", "missing_files", "unclaimed_files"):
            for key in result[name]:
                output.console.print(f"{name.replace('_', ' ')[:-1]}: {key}")
        for m in result["stuck_manifests"]:
            output.console.print(f"stuck manifest: {m['manifest_id']} ({m['topic']}, "
                                 f"{output.counted(m['files'], 'file')}, "
                                 f"processing since {m['processing_since']})")
        for f in result["failed_files"]:
            output.console.print(f"failed file: {f['file']} ({f['topic'] or 'no topic'}, manifest "
                                 f"{f['manifest_id'] or '-'}, attempts: {f['attempts']}): {f['error']} -> "
                                 f"{'leanops files retry' if f['recovery'] == 'retry' else 'move it, then dismiss'}",
                                 markup=False, highlight=False, soft_wrap=True)
        if not result["found"]:
            output.console.print("no orphans")
    if result["found"]:
        raise typer.Exit(1)


@files_app.command("reset-stuck")
def reset_stuck(topic: Optional[str] = TopicOpt, stuck_after: float = StuckOpt,
                home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
    """Stuck manifests back to pending (or completed, when RAW already holds their commit)."""
    from leanops.landing.operations import reset_stuck as reset
    ctx = _context(home, schemas)
    try:
        result = reset(ctx, topic, stuck_after)
    finally:
        ctx.close()
    if as_json:
        output.emit_json(result)
    else:
        output.console.print(f"completed from RAW: {len(result['completed_from_raw'])}, reset to pending: "
                             f"{len(result['reset_to_pending'])}, files released: {len(result['files_released'])}")


@files_app.command()
def retry(topic: Optional[str] = TopicOpt, home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt,
          as_json: bool = JsonOpt) -> None:
    """Failed manifests and files back to pending, for the next `leanops watch` (RAW is asked first: never twice)."""
    from leanops.landing.failures import retry_failed
    ctx = _context(home, schemas)
    try:
        result = retry_failed(ctx.state, topic)
    finally:
        ctx.close()
    if as_json:
        output.emit_json(result)
        return
    output.console.print(f"manifests back to pending: {len(result['manifests_retried'])}, files back to pending: "
                         f"{len(result['files_released'])}; run `leanops watch` to ingest them")
    for key in result["not_retryable"]:
        output.note(f"cannot retry {key}: it has no valid topic; move it under <dir>/<topic>/, then "
                    "`leanops files dismiss` it")


@files_app.command()
def dismiss(files: list[str] = typer.Argument(..., help="keys of failed files (as `leanops files orphans` lists them)"),
            reason: str = typer.Option(..., "--reason", help="why they are given up (kept with each file)"),
            home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
    """Give failed files up for good, with the reason: accountability stops counting them as missing. Exit 2 when
    a file could not be dismissed."""
    from leanops.landing.failures import dismiss as give_up
    ctx = _context(home, schemas)
    try:
        result = give_up(ctx.state, files, reason)
    finally:
        ctx.close()
    if as_json:
        output.emit_json(result)
    else:
        output.console.print(f"dismissed: {len(result['dismissed'])}")
        for refused in result["refused"]:
            output.fail(f"{refused['file']}: {refused['error']}")
    if result["refused"]:
        raise typer.Exit(2)
