"""`leanops watch DIR`: one pass finds complete files, tracks them, builds due manifests, ingests them.

    report = watch_pass(ctx, Path("landing"), topic=None, options=LandingOptions(), flush=False)

Every pass is safe to repeat and to run from several processes at once: a file is tracked once
(by key, and by checksum within its topic), a file joins one manifest only (claimed atomically),
and a manifest is processed by whoever moves it from pending to processing first.

A watcher holds a lease on each manifest it processes (`manifest:<id>` in the state store's leases).
A pass first recovers the manifests a killed watcher of this host left in processing (the lease's
process is gone): completed from their RAW commit, or back to pending and ingested in this pass.
Other stuck manifests (a watcher on another host) wait for `leanops files reset-stuck`.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path

from leanops.context import Context
from leanops.errors import LeanOpsError
from leanops.faults import fault_point
from leanops.landing.files import discover, open_landed, sha256_of, topic_of
from leanops.landing.manifests import LandingOptions, ManifestResult, build_manifests, due_manifests, \
    process_manifest
from leanops.landing.operations import recover_manifest
from leanops.orchestrate.cycle import acquire, dead_local_holder, holder_id
from leanops.state.base import FileStatus, Manifest, ManifestStatus, TrackedFile


@dataclasses.dataclass
class PassReport:
    """What one pass found and did."""

    complete: int = 0  # complete data files in the directory
    writing: int = 0  # files still being written (left for a later pass)
    tracked: int = 0  # newly tracked, pending
    duplicates: int = 0  # newly tracked as duplicates of a file already tracked
    rejected: list[dict] = dataclasses.field(default_factory=list)  # files that cannot be ingested, with why
    manifests_built: int = 0
    recovered: list[str] = dataclasses.field(default_factory=list)  # manifests a killed watcher left processing
    results: list[ManifestResult] = dataclasses.field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.rejected) or any(r.status == "failed" or r.failed_files for r in self.results)

    def as_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["results"] = [r.as_dict() for r in self.results]
        data["failed"] = self.failed
        return data


def track_new_files(ctx: Context, directory: Path, topic: str | None, options: LandingOptions,
                    now: datetime, report: PassReport) -> None:
    """Every complete, not yet tracked file: checksum, topic, one tracking record."""
    complete, writing = discover(directory, now.timestamp(), options.settle_seconds)
    report.complete, report.writing = len(complete), len(writing)
    for landed in complete:
        if ctx.state.get_file(landed.key) is not None:
            continue
        try:
            file_topic = topic_of(landed.relative, topic)
        except LeanOpsError as exc:  # tracked as failed so it is reported once and never silently skipped
            first = landed.relative.split("/")[0] if "/" in landed.relative else ""
            ctx.state.track_file(TrackedFile(landed.key, first, landed.size, "", FileStatus.FAILED, now, now,
                                             error=str(exc)))
            report.rejected.append({"file": landed.key, "error": str(exc)})
            continue
        try:
            checksum = sha256_of(landed.key)
        except FileNotFoundError:  # removed since the listing: nothing to track
            continue
        stored = ctx.state.track_file(TrackedFile(landed.key, file_topic, landed.size, checksum,
                                                  FileStatus.PENDING, now, now))
        fault_point("after-file-tracked")
        if stored.status == FileStatus.DUPLICATE:
            report.duplicates += 1
        elif stored.file_key == landed.key and stored.status == FileStatus.PENDING:
            report.tracked += 1


def watch_pass(ctx: Context, directory: Path, topic: str | None = None, options: LandingOptions | None = None,
               now: datetime | None = None, flush: bool = False) -> PassReport:
    """Track, group and ingest; `flush` also closes manifests smaller than the thresholds (`--once`)."""
    options = options or LandingOptions()
    now = now or datetime.now(timezone.utc)
    report = PassReport()
    track_new_files(ctx, Path(directory), topic, options, now, report)
    topics = {f.topic for f in ctx.state.list_files(status=FileStatus.PENDING)}
    for name in sorted(topics if topic is None else topics & {topic}):
        report.manifests_built += len(build_manifests(ctx.state, name, options, now, flush))
        fault_point("after-manifests-built")
    holder = holder_id()
    report.recovered = recover_abandoned(ctx, topic, holder, options)
    for manifest in due_manifests(ctx.state, topic, options):
        if not acquire(ctx, lease_name(manifest), holder, options.processing_timeout_seconds):
            continue  # another watcher is processing it
        try:
            report.results.append(process_manifest(ctx, manifest, open_landed))
        finally:
            ctx.state.release_lease(lease_name(manifest), holder)
    return report


def lease_name(manifest: Manifest) -> str:
    return f"manifest:{manifest.manifest_id}"


def recover_abandoned(ctx: Context, topic: str | None, holder: str, options: LandingOptions) -> list[str]:
    """Manifests in processing whose watcher was killed (its lease names a process of this host that is
    gone): completed from RAW, or back to pending. Returns their ids."""
    recovered = []
    for manifest in ctx.state.list_manifests(topic=topic, status=ManifestStatus.PROCESSING):
        name, stale = lease_name(manifest), ctx.state.lease_holder(lease_name(manifest))
        if not stale or not dead_local_holder(stale) or \
                not ctx.state.steal_lease(name, stale, holder, options.processing_timeout_seconds):
            continue
        try:
            if recover_manifest(ctx, manifest) is not None:
                recovered.append(manifest.manifest_id)
        finally:
            ctx.state.release_lease(name, holder)
    return recovered
