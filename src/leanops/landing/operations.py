"""Seed 003's state-management operations: stats, orphans, reset-stuck; and the files' accountability.

    leanops files stats [--topic T]
    leanops files orphans [DIR] [--stuck-after SECONDS]
    leanops files reset-stuck [--stuck-after SECONDS]

Retrying and dismissing failed files: leanops.landing.failures.
"""
from __future__ import annotations

import collections
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from leanops.catalog.rollups import rolled_up_sum
from leanops.catalog.tables import (
    ROLLUP_MANIFEST_REJECTED, ROLLUP_MANIFEST_WRITTEN, SUMMARY_LINES_READ, SUMMARY_REJECTED, Lakehouse,
)
from leanops.context import Context
from leanops.landing.failures import RESET_STUCK, gap_reason, unlanded_files
from leanops.landing.files import walk_keys
from leanops.landing.manifests import SUMMARY_MANIFEST_LINES, committed_manifest, manifest_commits
from leanops.stages.accountability import LayerAccount
from leanops.state.base import FileStatus, Manifest, ManifestStatus, StateStore

OPEN_STATUSES = (FileStatus.PENDING, FileStatus.MANIFESTED, FileStatus.PROCESSING, FileStatus.FAILED)


def stats(state: StateStore, topic: str | None = None) -> dict:
    """Files and manifests by status: counts, bytes, lines."""
    files: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for f in state.list_files(topic=topic):
        files[f.status].update(count=1, bytes=f.size, lines=f.lines or 0)
    manifests: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for m in state.list_manifests(topic=topic):
        manifests[m.status].update(count=1, files=len(m.files), bytes=m.bytes)
    return {"topic": topic, "files": {k: dict(v) for k, v in sorted(files.items())},
            "manifests": {k: dict(v) for k, v in sorted(manifests.items())}}


def _stuck(state: StateStore, topic: str | None, stuck_after: float, now: datetime) -> list[Manifest]:
    return [m for m in state.list_manifests(topic=topic, status=ManifestStatus.PROCESSING)
            if (now - m.updated_at).total_seconds() >= stuck_after]


def orphans(state: StateStore, directory: Path | None, topic: str | None, stuck_after: float,
            now: datetime | None = None) -> dict:
    """What needs an operator: untracked files on disk, tracked files gone, stuck and unclaimed manifests,
    files that failed to ingest (with why, and whether `leanops files retry` or only dismiss helps)."""
    now = now or datetime.now(timezone.utc)
    tracked = state.list_files(topic=topic)
    keys = {f.file_key for f in tracked}
    untracked = sorted(k for k in walk_keys(directory) if k not in keys) if directory else []
    missing = sorted(f.file_key for f in tracked
                     if f.status in OPEN_STATUSES and not f.file_key.startswith("s3://")
                     and not os.path.exists(f.file_key))
    manifest_ids = {m.manifest_id for m in state.list_manifests(topic=topic)}
    unclaimed = sorted(f.file_key for f in tracked if f.status == FileStatus.MANIFESTED
                       and f.manifest_id not in manifest_ids)
    stuck = [{"manifest_id": m.manifest_id, "topic": m.topic, "files": len(m.files),
              "processing_since": m.updated_at.isoformat()} for m in _stuck(state, topic, stuck_after, now)]
    failed = [u.as_dict() for u in unlanded_files(state, topic, now, stuck_after) if u.recovery != RESET_STUCK]
    return {"untracked_files": untracked, "missing_files": missing, "stuck_manifests": stuck,
            "unclaimed_files": unclaimed, "failed_files": failed,
            "found": bool(untracked or missing or stuck or unclaimed or failed)}


def reset_stuck(ctx: Context, topic: str | None, stuck_after: float, now: datetime | None = None) -> dict:
    """Stuck manifests back to pending, unless RAW already holds their commit (then: completed from it);
    files manifested under a manifest that was never stored back to pending."""
    now = now or datetime.now(timezone.utc)
    completed, reset = [], []
    for m in _stuck(ctx.state, topic, stuck_after, now):
        outcome = recover_manifest(ctx, m)
        if outcome == ManifestStatus.COMPLETED:
            completed.append(m.manifest_id)
        elif outcome == ManifestStatus.PENDING:
            reset.append(m.manifest_id)
    unclaimed = orphans(ctx.state, None, topic, stuck_after, now)["unclaimed_files"]
    ctx.state.update_files(unclaimed, status=FileStatus.PENDING, manifest_id=None)
    return {"completed_from_raw": completed, "reset_to_pending": reset, "files_released": unclaimed}


def recover_manifest(ctx: Context, m: Manifest) -> str | None:
    """A manifest left in processing: completed from its RAW commit when RAW has one, else back to pending.
    Returns the status it got (None: another process changed it first)."""
    sealed = committed_manifest(ctx.lake.raw_table(m.topic), m.manifest_id)
    if sealed is not None:
        lines = json.loads(sealed.get(SUMMARY_MANIFEST_LINES, "{}"))
        for key in m.files:
            if key in lines:
                ctx.state.update_files([key], status=FileStatus.COMPLETED, lines=int(lines[key]), error=None)
        if ctx.state.update_manifest(m.manifest_id, ManifestStatus.PROCESSING, status=ManifestStatus.COMPLETED,
                                     raw_snapshot_id=int(sealed["snapshot_id"])):
            return ManifestStatus.COMPLETED
    elif ctx.state.update_manifest(m.manifest_id, ManifestStatus.PROCESSING, status=ManifestStatus.PENDING):
        ctx.state.update_files(m.files, status=FileStatus.MANIFESTED)
        return ManifestStatus.PENDING
    return None


def files_account(lake: Lakehouse, state: StateStore, topic: str) -> LayerAccount | None:
    """Lines in the topic's ingested files (tracking) = RAW accepted + DLQ of their manifests' commits.
    Landed files that never reached RAW (failed, or stuck) hold the layer open, with the reason and the
    command that recovers them, until they land or are dismissed (leanops.landing.failures)."""
    done = state.list_manifests(topic=topic, status=ManifestStatus.COMPLETED)
    files = [f for f in state.list_files(topic=topic, status=FileStatus.COMPLETED)]
    gap = unlanded_files(state, topic)
    if not done and not files and not gap:
        return None
    # files not yet ingested have no line count yet: `leanops files stats` lists them, and duplicates
    account = LayerAccount(topic, "files", records_in=sum(f.lines or 0 for f in files), written=0, errors=0,
                           failed_files=len(gap), reason=gap_reason(topic, gap) if gap else None)
    if not done and not files:  # nothing of the topic reached RAW (its name may not even be valid)
        return account
    raw = lake.raw_table(topic)
    commits = manifest_commits(raw, uncounted=True)  # one walk of RAW's history for every manifest
    # manifests whose commits expired (leanops maintain) were completed: their figures are rolled up
    account.written = rolled_up_sum(raw, topic, ROLLUP_MANIFEST_WRITTEN)
    account.errors = rolled_up_sum(raw, topic, ROLLUP_MANIFEST_REJECTED)
    for m in done:
        sealed = commits.get(m.manifest_id, {})
        read, rejected = int(sealed.get(SUMMARY_LINES_READ, 0)), int(sealed.get(SUMMARY_REJECTED, 0))
        account.written += read - rejected
        account.errors += rejected
    return account
