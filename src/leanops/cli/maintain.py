"""`leanops maintain`: compaction, snapshot expiry, manifest merging and the orphan sweep, by hand.

The scheduler runs the same maintenance on its own when a topic crosses its thresholds
(docs/maintenance.md); this command runs it now, for one topic or all, and `--dry-run` shows what
it would do without changing anything.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from leanops.cli import output
from leanops.cli.options import HomeOpt, JsonOpt, SchemasOpt


def maintain(topic: Optional[str] = typer.Option(None, "--topic", "-t",
                                                 help="only this topic's tables (and the shared tables)"),
             dry_run: bool = typer.Option(False, "--dry-run", help="report what would be done; change nothing"),
             home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
    """Table maintenance: compact small files (applying deletes), expire snapshots, merge manifests,
    remove orphan files, prune the run log. Exit 1 when a table failed."""
    from leanops.context import Context
    from leanops.maintenance.run import maintain as run_maintenance
    from leanops.types import validate_topic
    ctx = Context.open(home, schemas)
    reports = run_maintenance(ctx, validate_topic(topic) if topic else None, dry_run=dry_run)
    if as_json:
        output.emit_json([r.as_dict() for r in reports])
    else:
        _print(reports)
    if any(r.failed for r in reports):
        raise typer.Exit(1)


def _print(reports) -> None:
    rows = []
    for report in reports:
        if not report.tables:
            rows.append((report.scope, "", report.status, "", "", "", "", report.message))
        for t in report.tables:
            before, after = t.before, t.after or t.before
            compact = t.actions.get("compact", {})
            expired = t.actions.get("expire", {}).get("snapshots_expired", 0)
            orphans = t.actions.get("orphans", {})
            rows.append((report.scope, t.table, "FAILED" if t.error else report.status,
                         f"{before.data_files} -> {after.data_files}",
                         f"{before.delete_files} -> {after.delete_files}",
                         f"{before.snapshots} -> {after.snapshots}" + (f" ({expired} expired)" if expired else ""),
                         orphans.get("files_deleted", orphans.get("orphans", "")),
                         t.error or _compacted(compact)))
    dry = any(r.dry_run for r in reports)
    output.emit_table("maintenance" + (" (dry run: nothing changed)" if dry else ""),
                      ("scope", "table", "status", "data files", "delete files", "snapshots", "orphans", "note"),
                      rows)


def _compacted(compact: dict) -> str:
    if compact.get("data_files_removed"):
        return (f"{output.counted(compact['data_files_removed'], 'file')} -> {compact['data_files_added']}, "
                f"{output.counted(compact.get('deleted_rows_applied', 0), 'deleted row')} applied")
    if compact.get("data_files"):
        return (f"would compact {output.counted(compact['data_files'], 'file')} in "
                f"{output.counted(compact['partitions'], 'partition')}")
    return ""
