"""Manifests (seed 003): landed files grouped by thresholds, each group ingested into RAW as ONE commit.

    plan = group(pending_files, LandingOptions(), now)        # which files go together
    built = build_manifests(ctx, topic, options, now, flush)  # claimed atomically in the state store
    done = process_manifest(ctx, manifest, opener)            # one RAW commit, files completed

A manifest closes when it reaches `max_files` files or `max_bytes` bytes, whichever first; a smaller
group waits until its oldest file has waited `max_wait_seconds` (so a trickle still flows), or
until a flush (`leanops watch --once`).

Crash safety: the RAW commit's summary names the manifest and carries each file's line count (each
attempt ingests under its own ingest id, so DLQ rows of an attempt that never committed stay orphans
instead of being counted with the one that did). Before ingesting, and when repairing a manifest stuck in
processing, the RAW table is asked first: a manifest already committed is completed from that
summary, never ingested twice.
"""
from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import datetime, timezone
from typing import BinaryIO, Callable

from pyiceberg.table import Table

from leanops.catalog.tables import (  # noqa: F401  (the manifest keys are re-exported)
    SUMMARY_LINES_READ, SUMMARY_MANIFEST_ID, SUMMARY_MANIFEST_LINES, SUMMARY_REJECTED, Lakehouse,
)
from leanops.context import Context
from leanops.errors import LeanOpsError
from leanops.faults import fault_point
from leanops.landing.options import MiB, LandingOptions  # noqa: F401  (re-exported)
from leanops.catalog.rollups import counted
from leanops.catalog.tables import ancestors
from leanops.state.base import FileStatus, Manifest, ManifestStatus, StateStore, TrackedFile

@dataclasses.dataclass
class ManifestResult:
    manifest_id: str
    topic: str
    status: str
    files: int
    lines_read: int = 0
    accepted: int = 0
    rejected: int = 0
    raw_snapshot_id: int | None = None
    recovered: bool = False  # completed from an existing RAW commit (a crash before the tracking update)
    failed_files: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def group(files: list[TrackedFile], options: LandingOptions, now: datetime, flush: bool) -> list[list[TrackedFile]]:
    """Files (oldest first) cut into manifests: full groups always, the last one when due or flushed."""
    groups, current, size = [], [], 0
    for file in files:
        current.append(file)
        size += file.size
        if len(current) >= options.max_files or size >= options.max_bytes:
            groups.append(current)
            current, size = [], 0
    if current:
        waited = (now - min(f.first_seen for f in current)).total_seconds()
        if flush or waited >= options.max_wait_seconds:
            groups.append(current)
    return groups


def build_manifests(state: StateStore, topic: str, options: LandingOptions, now: datetime | None = None,
                    flush: bool = False, path_for: Callable[[str], str | None] = lambda m: None) -> list[Manifest]:
    """Group the topic's pending files and claim each group as a manifest (all or nothing per group)."""
    now = now or _now()
    pending = state.list_files(topic=topic, status=FileStatus.PENDING)
    built = []
    for files in group(pending, options, now, flush):
        manifest_id = f"{topic}-{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        manifest = Manifest(manifest_id, topic, [f.file_key for f in files], sum(f.size for f in files),
                            ManifestStatus.PENDING, now, now, path=path_for(manifest_id))
        if state.claim_files(manifest):  # False: another builder took some of these files; they are its
            built.append(manifest)
    return built


def committed_manifest(raw: Table | None, manifest_id: str) -> dict | None:
    """The summary of the RAW commit sealed with this manifest's id, if there is one."""
    return manifest_commits(raw, stop_at=manifest_id).get(manifest_id)


def manifest_commits(raw: Table | None, stop_at: str | None = None, uncounted: bool = False) -> dict[str, dict]:
    """Manifest id -> summary (with `snapshot_id`) of every RAW commit that ingested a manifest: one walk
    of the table's history, newest first (stopping early once `stop_at` is found). `uncounted`: only
    the commits an expiry roll-up does not count yet (leanops.catalog.rollups)."""
    found: dict[str, dict] = {}
    if raw is None:
        return found
    for snapshot in (counted(raw) if uncounted else ancestors(raw)):
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        manifest_id = props.get(SUMMARY_MANIFEST_ID)
        if manifest_id is not None and manifest_id not in found:
            found[manifest_id] = {**props, "snapshot_id": snapshot.snapshot_id}
            if manifest_id == stop_at:
                break
    return found


def process_manifest(ctx: Context, manifest: Manifest, opener: Callable[[str], BinaryIO]) -> ManifestResult:
    """Ingest a pending (or retried failed) manifest: claim it, then one RAW commit, then mark everything.

    A file that cannot be read (vanished, corrupt gzip) is marked failed with the reason and left out;
    the rest of the manifest is ingested without it.
    """
    state, lake = ctx.state, ctx.lake
    if manifest.status == ManifestStatus.COMPLETED:  # a re-run (a retried job): nothing to do, nothing twice
        return ManifestResult(manifest.manifest_id, manifest.topic, ManifestStatus.COMPLETED, len(manifest.files),
                              raw_snapshot_id=manifest.raw_snapshot_id, error="already completed")
    if not state.update_manifest(manifest.manifest_id, manifest.status, status=ManifestStatus.PROCESSING,
                                 attempts=manifest.attempts + 1, error=None):
        return ManifestResult(manifest.manifest_id, manifest.topic, "skipped", len(manifest.files),
                              error="another process changed the manifest first")
    files = list(manifest.files)
    fault_point("after-manifest-processing")
    state.update_files(files, status=FileStatus.PROCESSING, attempts=manifest.attempts + 1)
    sealed = committed_manifest(lake.raw_table(manifest.topic), manifest.manifest_id)
    if sealed is not None:
        return _complete_from_summary(state, manifest, sealed)
    from leanops.ingest.raw import Source, SourceError, ingest_sources  # here: readers of manifests skip the ingest
    result = ManifestResult(manifest.manifest_id, manifest.topic, ManifestStatus.COMPLETED, len(files))
    while files:
        try:
            report = ingest_sources(lake, state, ctx.settings, manifest.topic,
                                    [Source(key, lambda key=key: opener(key)) for key in files],
                                    ingest_id=f"{manifest.manifest_id}.{uuid.uuid4().hex[:8]}",
                                    summary={SUMMARY_MANIFEST_ID: manifest.manifest_id},
                                    source_lines_key=SUMMARY_MANIFEST_LINES)
        except SourceError as exc:
            state.update_files([exc.name], status=FileStatus.FAILED, error=str(exc))
            result.failed_files.append(exc.name)
            files.remove(exc.name)
            continue
        except Exception as exc:  # a commit or catalog error: the whole manifest is retried later
            reason = f"{type(exc).__name__}: {exc}"
            state.update_manifest(manifest.manifest_id, ManifestStatus.PROCESSING, status=ManifestStatus.FAILED,
                                  error=reason)
            state.update_files(files, status=FileStatus.FAILED, error=reason)
            return dataclasses.replace(result, status=ManifestStatus.FAILED, error=reason)
        for key in files:
            state.update_files([key], status=FileStatus.COMPLETED, lines=report.lines_by_source.get(key, 0),
                               error=None)
        fault_point("after-manifest-files-completed")
        state.update_manifest(manifest.manifest_id, ManifestStatus.PROCESSING, status=ManifestStatus.COMPLETED,
                              raw_snapshot_id=report.raw_snapshot_id, files=files,
                              bytes=_bytes(state, files))
        return dataclasses.replace(result, files=len(files), lines_read=report.lines_read, accepted=report.accepted,
                                   rejected=report.rejected, raw_snapshot_id=report.raw_snapshot_id)
    reason = "no file of the manifest could be read"
    state.update_manifest(manifest.manifest_id, ManifestStatus.PROCESSING, status=ManifestStatus.FAILED, error=reason)
    return dataclasses.replace(result, status=ManifestStatus.FAILED, files=0, error=reason)


def _bytes(state: StateStore, keys: list[str]) -> int:
    return sum(f.size for f in (state.get_file(k) for k in keys) if f is not None)


def _complete_from_summary(state: StateStore, manifest: Manifest, sealed: dict) -> ManifestResult:
    """The manifest was committed before a crash: mark it from the commit's own summary."""
    lines = json.loads(sealed.get(SUMMARY_MANIFEST_LINES, "{}"))
    for key in manifest.files:
        if key in lines:
            state.update_files([key], status=FileStatus.COMPLETED, lines=int(lines[key]), error=None)
        else:
            state.update_files([key], status=FileStatus.FAILED, error="left out of the manifest's RAW commit")
    state.update_manifest(manifest.manifest_id, None, status=ManifestStatus.COMPLETED,
                          raw_snapshot_id=int(sealed["snapshot_id"]), files=[k for k in manifest.files if k in lines])
    read, rejected = int(sealed.get(SUMMARY_LINES_READ, 0)), int(sealed.get(SUMMARY_REJECTED, 0))
    return ManifestResult(manifest.manifest_id, manifest.topic, ManifestStatus.COMPLETED, len(lines), read,
                          read - rejected, rejected, int(sealed["snapshot_id"]), recovered=True,
                          failed_files=[k for k in manifest.files if k not in lines])


def due_manifests(state: StateStore, topic: str | None, options: LandingOptions) -> list[Manifest]:
    """Manifests to process now: pending ones, and failed ones not yet tried `max_attempts` times."""
    pending = state.list_manifests(topic=topic, status=ManifestStatus.PENDING)
    failed = [m for m in state.list_manifests(topic=topic, status=ManifestStatus.FAILED)
              if m.attempts < options.max_attempts]
    return sorted(pending + failed, key=lambda m: (m.created_at, m.manifest_id))


__all__ = ["LandingOptions", "ManifestResult", "group", "build_manifests", "process_manifest", "due_manifests",
           "committed_manifest", "SUMMARY_MANIFEST_LINES", "Lakehouse"]
